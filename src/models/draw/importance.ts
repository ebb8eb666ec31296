// The importance-weighted estimate of log p(x) (Burda et al. 2016, "Importance Weighted Autoencoders"):
//   log p(x) ≥ log (1/K) Σ_k p(x, z_k) / q(z_k | x),   z_k ~ q(z | x),
// a bound that tightens as K grows (K = 1 is the ELBO with a sampled KL). One graph computes it for a
// batch of images and K posterior samples each: the images are repeated K times along the batch axis,
// the model's log weights computed for all K·batch rows at once, and the log-mean-exp over k taken
// with the DSL's logsumexp (reduceMax, exp, log). Reported as nats per image: the mean over images of
// −log p̂(x) and its standard error over images.
import * as E from 'fp-ts/lib/Either.js';
import type { Tensor } from '../../dsl/tensor.ts';
import type { Shape } from '../../dsl/shape.ts';
import { broadcastTo, reshape, sub } from '../../dsl/ops.ts';
import { logsumexp } from '../../dsl/composites.ts';
import { trace } from '../../compiler/trace.ts';
import type { Graph } from '../../compiler/graph.ts';
import type { Program } from '../../compiler/compile.ts';
import { gatherBatch, type Images } from '../../data/images.ts';
import { fillNormal, seedRng } from '../../dsl/rng.ts';
import { imageSize, type DrawConfig } from './config.ts';
import { shapesOf, type Params } from './params.ts';
import { logImportanceWeight, paramSpecs, type Parts } from './model.ts';
import { EVAL_NOISE_SEED } from './bound.ts';

/** Data inputs of the estimate: images x [batch, C·B·A] and posterior noise eps [T, K·batch, Z] (row k·batch + n is sample k of image n). */
export const importanceSpecs = (c: DrawConfig, batch: number, samples: number): { x: Shape; eps: Shape } => ({
  x: [batch, imageSize(c)],
  eps: [c.T, samples * batch, c.zSize],
});

/** log p̂(x) per image [batch] from K = `samples` posterior samples each. */
export const importanceSampled = (config: DrawConfig, samples: number, parts: Parts = {}) => {
  if (!(Number.isSafeInteger(samples) && samples >= 1))
    throw new RangeError(`importance sampling: samples must be an integer ≥ 1, got ${samples}`);
  const logWeight = logImportanceWeight(config, parts);
  return (p: Params, { x, eps }: { readonly x: Tensor; readonly eps: Tensor }): Tensor => {
    const [batch, pixels] = x.shape;
    const repeated = reshape(broadcastTo(reshape(x, [1, batch, pixels]), [samples, batch, pixels]), [
      samples * batch,
      pixels,
    ]);
    const w = reshape(logWeight(p, { x: repeated, eps }), [samples, batch]);
    return sub(logsumexp(w, 0), Math.log(samples));
  };
};

/** The traced estimate: inputs every parameter, `x` and `eps` (importanceSpecs); output `logLikelihood` [batch]. */
export const importanceGraph = (
  config: DrawConfig,
  batch: number,
  samples: number,
  parts: Parts = {},
): E.Either<Error, Graph> => {
  const estimate = importanceSampled(config, samples, parts);
  return trace((xs: Readonly<Record<string, Tensor>>) => ({ logLikelihood: estimate(xs, { x: xs.x, eps: xs.eps }) }), {
    ...shapesOf(paramSpecs(config, parts)),
    ...importanceSpecs(config, batch, samples),
  });
};

export interface ImportanceEstimate {
  /** Mean over images of −log p̂(x), nats per image: an upper bound on the negative log-likelihood. */
  readonly nll: number;
  /** Its standard error over images (sample standard deviation / √images). */
  readonly standardError: number;
  readonly images: number;
  readonly samples: number;
}

/**
 * The estimate over the first `limit` images of `data`, `batch` images per run of `program` (an
 * importanceGraph of that batch and K). Noise comes from a fixed stream, so an estimate is reproducible;
 * with K = 1 it is the stream `bound` uses, so the two see the same posterior samples.
 */
export const importanceNll = (
  program: Program,
  params: Readonly<Record<string, Float32Array>>,
  config: DrawConfig,
  data: Images,
  batch: number,
  samples: number,
  limit = data.n,
  onBatch?: (done: number) => void,
): ImportanceEstimate => {
  const n = Math.min(limit, data.n);
  if (!(n > 0))
    throw new RangeError(
      `importance sampling: no images to evaluate (the data set has ${data.n}, the limit is ${limit})`,
    );
  const x = new Float32Array(batch * data.rows * data.cols);
  const eps = new Float32Array(config.T * samples * batch * config.zSize);
  const idx = new Int32Array(batch);
  const nll = new Float64Array(n);
  let rng = seedRng(EVAL_NOISE_SEED);
  for (let start = 0; start < n; start += batch) {
    const real = Math.min(batch, n - start);
    for (let i = 0; i < batch; i++) idx[i] = start + (i < real ? i : 0);
    gatherBatch(data, idx, x);
    rng = fillNormal(rng, eps);
    const out = program.run({ ...params, x, eps }).logLikelihood;
    for (let i = 0; i < real; i++) nll[start + i] = -out[i];
    onBatch?.(start + real);
  }
  const mean = nll.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? nll.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : NaN;
  return { nll: mean, standardError: Math.sqrt(variance / n), images: n, samples };
};
