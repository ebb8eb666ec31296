// Global-norm gradient clipping, in-graph: every gradient is scaled by min(1, maxNorm/‖g‖) where
// ‖g‖ is the norm of all gradients together, so the update's direction is kept and only its length
// is bounded (Pascanu et al. 2013).
import { add, div, less, maximum, mul, reshape, sqrt, sum, where } from '../dsl/ops.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { checkHyper, type Tensors } from './optimizer.ts';

/** ‖g‖₂ over every element of every tensor, as a rank-0 tensor. */
export const globalNorm = (grads: Tensors): Tensor => {
  const parts: Tensor[] = Object.values(grads).map((g) => reshape(sum(mul(g, g)), []));
  if (parts.length === 0) throw new Error('globalNorm: no gradients');
  return sqrt(parts.reduce((a, b) => add(a, b)));
};

/**
 * The clip factor for a given norm. Below the threshold it is exactly 1 (chosen by `where`, not
 * computed as maxNorm/maxNorm, which can round to 0.999…), so small gradients pass bit-for-bit.
 * The max keeps the branch `where` discards free of 1/0 when the norm is zero. A NaN norm compares
 * false and gives 1: the gradients stay NaN and the guard on `gradNorm` reports it.
 */
export const clipScale = (norm: Tensor, maxNorm: number): Tensor =>
  where(less(maxNorm, norm), div(maxNorm, maximum(norm, maxNorm)), 1);

/** Scales all gradients by min(1, maxNorm/‖g‖); returns them with ‖g‖ before clipping. */
export const clipByGlobalNorm = (grads: Tensors, maxNorm: number): { grads: Record<string, Tensor>; norm: Tensor } => {
  checkHyper('clipByGlobalNorm', 'maxNorm', maxNorm, (v) => v > 0, 'positive');
  const norm = globalNorm(grads);
  const scale = clipScale(norm, maxNorm);
  return { grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, mul(g, scale)])), norm };
};
