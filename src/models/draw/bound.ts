// The variational bound (negative ELBO, nats per image) of a dataset under a compiled loss graph:
// recon and KL per image are averaged over every image (a final short batch is padded, and only its
// real images counted). Posterior noise is drawn from a fixed stream so a bound is reproducible.
import type { Program } from '../../compiler/compile.ts';
import { imageSize, type DrawConfig } from './config.ts';
import { gatherBatch, type Images } from '../../data/images.ts';
import { fillNormal, seedRng } from '../../dsl/rng.ts';

export interface Bound {
  readonly bound: number;
  readonly recon: number;
  readonly kl: number;
  readonly images: number;
}

export const EVAL_NOISE_SEED = 0x5eed;

export const bound = (
  program: Program,
  params: Readonly<Record<string, Float32Array>>,
  config: DrawConfig,
  data: Images,
  batch: number,
  limit = data.n,
  onBatch?: (done: number) => void,
): Bound => {
  const n = Math.min(limit, data.n);
  if (!(n > 0))
    throw new RangeError(`bound: no images to evaluate (the data set has ${data.n}, the limit is ${limit})`);
  const x = new Float32Array(batch * imageSize(config));
  const eps = new Float32Array(config.T * batch * config.zSize);
  const idx = new Int32Array(batch);
  let rng = seedRng(EVAL_NOISE_SEED);
  let recon = 0;
  let kl = 0;
  for (let start = 0; start < n; start += batch) {
    const real = Math.min(batch, n - start);
    for (let i = 0; i < batch; i++) idx[i] = start + (i < real ? i : 0);
    gatherBatch(data, idx, x);
    rng = fillNormal(rng, eps);
    const out = program.run({ ...params, x, eps });
    for (let i = 0; i < real; i++) {
      recon += out.recon[i];
      kl += out.kl[i];
    }
    onBatch?.(start + real);
  }
  return { bound: (recon + kl) / n, recon: recon / n, kl: kl / n, images: n };
};
