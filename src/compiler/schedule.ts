// Memory planning: kernels run in topological order, and a buffer's storage returns to a pool once
// its last reader has run, so an unrolled T=64 graph holds its live set, not one buffer per node.
import type { Graph } from './graph.ts';
import type { Kernel } from './fuse.ts';
import { size } from '../dsl/shape.ts';

export interface BufferPlan {
  /** Storage slot of each kernel's output, by node id. */
  readonly slotOf: ReadonlyMap<number, number>;
  /** Element count of each slot. */
  readonly slotSizes: readonly number[];
  /** Sum of slot sizes, in elements: the plan's peak working memory (inputs not counted). */
  readonly totalElements: number;
  /** What one buffer per node would have needed, for comparison. */
  readonly unpooledElements: number;
}

export const planBuffers = (g: Graph, kernels: readonly Kernel[]): BufferPlan => {
  const lastRead = new Map<number, number>();
  kernels.forEach((k, step) => k.reads.forEach((r) => lastRead.set(r, step)));
  const outputs = new Set(g.outputs.values());
  const slotOf = new Map<number, number>();
  const slotSizes: number[] = [];
  // free slots sorted by size, so best fit is a binary search: an unrolled T=64 step has 11,100
  // kernels and thousands of free slots at a time
  const free: number[] = [];
  /** The first free slot with `fits` (a predicate monotone in size), or free.length. */
  const firstFitting = (fits: (s: number) => boolean): number => {
    let [lo, hi] = [0, free.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fits(free[mid])) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const release = (id: number) => {
    const s = slotOf.get(id);
    if (s !== undefined && !outputs.has(id)) free.splice(firstFitting((t) => slotSizes[t] >= slotSizes[s]), 0, s);
  };
  kernels.forEach((k, step) => {
    const need = size(k.shape);
    // best fit: the smallest free slot that is large enough; else grow the largest rather than add a slot
    let slot: number;
    if (free.length) {
      const fit = firstFitting((s) => slotSizes[s] >= need);
      slot = free.splice(Math.min(fit, free.length - 1), 1)[0];
      slotSizes[slot] = Math.max(slotSizes[slot], need);
    } else {
      slot = slotSizes.push(need) - 1;
    }
    slotOf.set(k.root, slot);
    // freed after the kernel, so an output never aliases the inputs it is computed from
    k.reads.forEach((r) => lastRead.get(r) === step && release(r));
    if (!lastRead.has(k.root)) release(k.root);
  });
  return {
    slotOf,
    slotSizes,
    totalElements: slotSizes.reduce((a, b) => a + b, 0),
    unpooledElements: kernels.reduce((a, k) => a + size(k.shape), 0),
  };
};
