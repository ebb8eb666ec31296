// Selective attention (paper §3.2): an N×N grid of filters, placed and scaled by five numbers
// emitted from the decoder state, turns an image into a patch (read) and a patch into an image
// (write). Every function here is a pure DSL composite, so `grad` differentiates through the
// attention parameters like through any layer.
//
// Coordinates: the paper's centre g and means μ are 1-based pixel coordinates (pixels a = 1..A).
// The tensors below index pixels and filters from 0 (iota), so the paper's
//   μ_i = g + (i − N/2 − 0.5)·δ,      i = 1..N, against pixel a = 1..A
// becomes, with i₀ = i − 1 and a₀ = a − 1,
//   μ₀_i₀ = (g − 1) + (i₀ − N/2 + 0.5)·δ,   i₀ = 0..N−1, against pixel a₀ = 0..A−1.
// g̃ = 0 gives g = (A+1)/2, the image centre (A−1)/2 in 0-based coordinates.
import type { Tensor } from '../../dsl/tensor.ts';
import { add, div, exp, iota, matmul, maximum, mul, neg, reshape, sliceAxis, sub, transpose } from '../../dsl/ops.ts';
import { softmax, square } from '../../dsl/composites.ts';
import { affine, bias, weight, type ParamSpecs, type Params } from './params.ts';

/**
 * A filter's shape as an unnormalised log-weight of the distance d = a − μ between a pixel and the
 * filter centre, given the variance parameter σ². The filterbank normalises each row, so any
 * log-density works. The paper's is the Gaussian.
 */
export type FilterShape = (d: Tensor, sigma2: Tensor) => Tensor;

/** −d²/2σ²: the paper's Gaussian filter. */
export const gaussian: FilterShape = (d, sigma2) => div(neg(square(d)), mul(sigma2, 2));

/** The five attention numbers of each image, every one a [batch, 1] tensor. */
export interface Attention {
  /** Grid centre in the paper's 1-based pixel coordinates (subtract 1 for 0-based). */
  readonly gx: Tensor;
  readonly gy: Tensor;
  /** Filter variance σ². */
  readonly sigma2: Tensor;
  /** Stride δ between filter centres, in pixels. */
  readonly delta: Tensor;
  /** Intensity γ. */
  readonly gamma: Tensor;
}

export interface Filterbank {
  /** Horizontal filters [batch, N, A] and vertical filters [batch, N, B]; every row sums to 1. */
  readonly Fx: Tensor;
  readonly Fy: Tensor;
}

/**
 * The layer h_dec → (g̃x, g̃y, log σ², log δ̃, log γ): `w` [decSize, 5], `b` [5].
 *
 * The bias starts the grid centred but not at the paper's δ̃ = 1, σ² = 1, γ = 1. For read N = 2
 * that puts two pin-point filters on the image's border pixels, blank on MNIST: the encoder sees
 * nothing, the gradient with respect to the glimpse is zero and the KL collapses (a run of ours
 * stayed at the independent-pixel bound, ~207 nats). So the N filters start at the centres of N
 * equal bands (δ̃ = (N−1)/N, δ = (max(A,B)−1)/N), as wide as half their spacing (σ = δ/2), and every
 * pixel is seen from the first step. A write spreads a patch value over filters whose rows sum to
 * 1, so it reaches a pixel scaled by about 1/(2πσ²); the write's γ starts at that factor (its
 * output is multiplied by 1/γ) so that a unit patch value writes about one logit, not 0.02, and
 * the canvas can learn at Adam's step size. Reads keep γ = 1: they are filter averages in [0, 1].
 */
export const attentionParams = (
  decSize: number,
  N: number,
  A: number,
  B: number,
  role: 'read' | 'write',
): ParamSpecs => {
  const deltaTilde = N > 1 ? (N - 1) / N : 1;
  const delta = ((Math.max(A, B) - 1) / Math.max(N - 1, 1)) * deltaTilde;
  const sigma2 = (delta / 2) ** 2;
  const logGamma = role === 'write' ? -Math.log(2 * Math.PI * Math.max(sigma2, 1 / (2 * Math.PI))) : 0;
  return { w: weight(decSize, 5), b: bias(5, [0, 0, Math.log(sigma2), Math.log(deltaTilde), logGamma]) };
};

/**
 * (g̃x, g̃y, log σ², log δ̃, log γ) = W h_dec + b, then
 *   gx = (A+1)/2·(g̃x+1),  gy = (B+1)/2·(g̃y+1),  δ = (max(A,B)−1)/(N−1)·δ̃,  σ² = e^{log σ²},  γ = e^{log γ}.
 * With N = 1 there is one filter and δ does not move it; (N−1) is taken as 1 to stay finite.
 */
export const attend = (p: Params, hDec: Tensor, N: number, A: number, B: number): Attention => {
  const out = affine(p, hDec);
  const [gxTilde, gyTilde, logSigma2, logDeltaTilde, logGamma] = [0, 1, 2, 3, 4].map((k) =>
    sliceAxis(out, 1, k, k + 1),
  );
  return {
    gx: mul(add(gxTilde, 1), (A + 1) / 2),
    gy: mul(add(gyTilde, 1), (B + 1) / 2),
    sigma2: exp(logSigma2),
    delta: mul(exp(logDeltaTilde), (Math.max(A, B) - 1) / Math.max(N - 1, 1)),
    gamma: exp(logGamma),
  };
};

/**
 * Log-weights are floored at float32's lowest finite value. An exponent that overflowed to −∞
 * (float32: σ² near underflow, centre far away) would make a row's max −∞ and exp(−∞ − (−∞)) NaN;
 * floored, such a row degrades to uniform over the pixels that overflowed. In float64 the floor
 * only touches exponents float32 could not hold anyway (σ below ~10⁻¹⁹ times the distance).
 */
const LOG_FLOOR = -3.4028234663852886e38; // float32's lowest: log 0 without -Infinity

/**
 * F[i, a] = exp(shape(a − μ_i, σ²)) / Σ_a' exp(shape(a' − μ_i, σ²)) along one axis of `size`
 * pixels: a softmax over pixels, so the row's largest exponent is subtracted before exp. A filter
 * centred far outside the image, or with a vanishing σ, still sums to 1 (the nearest pixel takes
 * the mass) and is never 0/0; no ε is needed in the normaliser.
 */
const axisFilters = (g: Tensor, sigma2: Tensor, delta: Tensor, N: number, size: number, shape: FilterShape): Tensor => {
  const batch = g.shape[0];
  const perImage = (t: Tensor) => reshape(t, [batch, 1, 1]);
  const i0 = iota([1, N, 1], 1);
  const a0 = iota([1, 1, size], 2);
  const mu = add(sub(perImage(g), 1), mul(sub(i0, N / 2 - 0.5), perImage(delta))); // [batch, N, 1]
  return softmax(maximum(shape(sub(a0, mu), perImage(sigma2)), LOG_FLOOR), 2);
};

/**
 * The paper's Fx [batch, N, A] and Fy [batch, N, B] from gx, gy, σ², δ, each [batch, 1] (any shape
 * with batch·1 values is accepted: [batch] too), gx/gy in 1-based pixel coordinates.
 */
export const filterbank = (
  gx: Tensor,
  gy: Tensor,
  sigma2: Tensor,
  delta: Tensor,
  N: number,
  A: number,
  B: number,
  shape: FilterShape = gaussian,
): Filterbank => ({
  Fx: axisFilters(gx, sigma2, delta, N, A, shape),
  Fy: axisFilters(gy, sigma2, delta, N, B, shape),
});

/** γ [batch, 1] as [batch, 1, 1, 1], to scale [batch, K, rows, cols] stacks. */
const perImage4 = (t: Tensor): Tensor => reshape(t, [t.shape[0], 1, 1, 1]);
/** Filters [batch, N, P] as [batch, 1, N, P]: the same filters for each of K stacked images. */
const shared = (F: Tensor): Tensor => reshape(F, [F.shape[0], 1, F.shape[1], F.shape[2]]);

/** γ·Fy·x·Fxᵀ for images [batch, K, B, A]: patches [batch, K, N, N] (K = channels, or stacked images). */
export const filterRead = ({ Fx, Fy }: Filterbank, gamma: Tensor, images: Tensor): Tensor =>
  mul(matmul(matmul(shared(Fy), images), transpose(shared(Fx))), perImage4(gamma));

/** (1/γ)·Fyᵀ·w·Fx for patches [batch, K, N, N]: images [batch, K, B, A]. The adjoint of filterRead at γ = 1. */
export const filterWrite = ({ Fx, Fy }: Filterbank, gamma: Tensor, patches: Tensor): Tensor =>
  div(matmul(matmul(transpose(shared(Fy)), patches), shared(Fx)), perImage4(gamma));
