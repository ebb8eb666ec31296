// The approximate posterior Q(z_t | h_enc_t) = N(μ_t, diag σ_t²) and its KL to the N(0, I) prior.
// Sampling is reparameterised: the noise ε is an explicit input, so z = μ + σ·ε is a deterministic
// function of the parameters that `grad` differentiates like any other.
import type { Tensor } from '../../dsl/tensor.ts';
import { add, exp, mul, sliceAxis, sub, sum } from '../../dsl/ops.ts';
import { square } from '../../dsl/composites.ts';
import { affine, dense, type ParamSpecs, type Params } from './params.ts';

/**
 * One affine layer h_enc → [μ, log σ] (2Z outputs, sliced): `w` [encSize, 2Z], `b` [2Z]. `gain`
 * scales w's Glorot init (the model uses 1/√T: see stepGain in params.ts).
 */
export const latentParams = (encSize: number, Z: number, gain = 1): ParamSpecs => dense(encSize, 2 * Z, gain);

/**
 * KL(N(μ, σ²) ‖ N(0, 1)) summed over the latent axis, per image:
 *   ½ Σ_j (μ_j² + σ_j² − log σ_j²) − ½·Z.
 * (The paper prints −T/2 for the sum over steps; per step it is −Z/2, one −½ per latent dimension.)
 * μ = 0, log σ = 0 gives exactly 0: every term is ½·(0 + 1 − 0), summed and less ½·Z in float.
 */
export const klStdNormal = (mu: Tensor, logSigma: Tensor): Tensor => {
  const Z = mu.shape[mu.shape.length - 1];
  const perDim = add(add(square(mu), exp(mul(logSigma, 2))), mul(logSigma, -2));
  return sub(mul(sum(perDim, -1), 0.5), 0.5 * Z);
};

export interface Sample {
  readonly z: Tensor;
  readonly mu: Tensor;
  readonly logSigma: Tensor;
  /** KL of this step, per image [batch]. */
  readonly kl: Tensor;
}

/** z = μ + σ·ε with (μ, log σ) = W h_enc + b and ε [batch, Z] standard-normal noise. */
export const sample = (p: Params, hEnc: Tensor, eps: Tensor): Sample => {
  const Z = eps.shape[1];
  const q = affine(p, hEnc);
  const mu = sliceAxis(q, 1, 0, Z);
  const logSigma = sliceAxis(q, 1, Z, 2 * Z);
  return { z: add(mu, mul(exp(logSigma), eps)), mu, logSigma, kl: klStdNormal(mu, logSigma) };
};
