// What bench/draw.ts (cpu) and bench/gpu.ts (gpujs) share about the DRAW step: the kernel classes and
// FLOP counts of its lowering, so both backends split the same step the same way, and its batch.
import type { Lowering } from '../src/compiler/compile.ts';
import { contractionSize } from '../src/compiler/backends/cpu/render.ts';
import { kernelClass, type Kernel } from '../src/compiler/fuse.ts';
import { size } from '../src/dsl/shape.ts';
import { LOSS, STEP, isOptName } from '../src/optim/train-step.ts';
import { seedRng, fillNormal, fillUniform } from '../src/dsl/rng.ts';
import type { DrawConfig } from '../src/models/draw/index.ts';

/**
 * The bench's kernel classes: matmul (one product: the LSTMs and linear maps), filterbank (batched
 * products: the attention's filterbanks), optimiser (clipping and Adam: kernels reading optimiser
 * state or the step, and the scalars the loss does not need, i.e. the norm), elementwise, reduction.
 */
export const classify = (l: Lowering): string[] => {
  const byRoot = new Map(l.kernels.flatMap((k, i) => [k.root, ...k.siblings].map((id) => [id, i] as const)));
  const forLoss = new Uint8Array(l.kernels.length);
  const lossKernel = byRoot.get(l.graph.outputs.get(LOSS)!);
  if (lossKernel !== undefined) forLoss[lossKernel] = 1;
  for (let i = l.kernels.length - 1; i >= 0; i--)
    if (forLoss[i]) l.kernels[i].reads.forEach((r) => byRoot.has(r) && (forLoss[byRoot.get(r)!] = 1));
  const state = new Set([...l.graph.inputs].filter(([name]) => isOptName(name) || name === STEP).map(([, id]) => id));
  return l.kernels.map((kernel, i) => {
    const cls = kernelClass(l.nodes, kernel);
    if (cls === 'matmul')
      return contractionSize({ nodes: l.nodes, mat: l.mat, kernel }).batch > 1 ? 'filterbank' : 'matmul';
    if (kernel.reads.some((r) => state.has(r)) || (!forLoss[i] && size(kernel.shape) === 1)) return 'optimiser';
    return cls === 'elementwise' ? cls : 'reduction';
  });
};

export const flopsOf = (l: Lowering, kernel: Kernel): number => {
  if (kernelClass(l.nodes, kernel) !== 'matmul') return 0;
  const { batch: b, M, K, N } = contractionSize({ nodes: l.nodes, mat: l.mat, kernel });
  return 2 * b * M * K * N;
};

/** A batch of `batch` random binary images (13% ink, MNIST's share) and the step's noise, from fixed seeds. */
export const syntheticBatch = (config: DrawConfig, batch: number): { x: Float32Array; eps: Float32Array } => {
  const x = new Float32Array(batch * config.A * config.B * config.channels);
  fillUniform(seedRng(1), x);
  for (let i = 0; i < x.length; i++) x[i] = x[i] < 0.13 ? 1 : 0;
  const eps = new Float32Array(config.T * batch * config.zSize);
  fillNormal(seedRng(2), eps);
  return { x, eps };
};
