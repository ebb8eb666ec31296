// Fusion: decide which nodes are materialised into buffers; every other node becomes part of the
// expression of the kernel that consumes it. Movement ops never materialise (they become index
// arithmetic in the loads), elementwise chains fuse into their consumer, and each kernel holds at
// most one reduction or contraction with its prologue and epilogue fused around it.
import type { Graph } from './graph.ts';
import { primitives } from '../dsl/primitives.ts';
import type { Node } from '../dsl/tensor.ts';
import { sameShape, size, type Shape } from '../dsl/shape.ts';

export interface Kernel {
  /** The node this kernel writes to a buffer. */
  readonly root: number;
  readonly shape: Shape;
  /** The one reduction or contraction inside, if any (may be the root itself). */
  readonly reduction?: number;
  /** Materialised nodes (kernel outputs or graph inputs) whose buffers the kernel reads. */
  readonly reads: readonly number[];
  /** More nodes of `root`'s shape that the kernel writes, each at its own index (siblings.ts); most have none. */
  readonly siblings: readonly number[];
}

const kindOf = (n: Node) => primitives[n.op].kernel.kind;
const isReduction = (n: Node) => kindOf(n) === 'reduce' || kindOf(n) === 'contract';

/**
 * When fusion computes a value again in each kernel that uses it rather than storing it once: a value
 * whose expression (down to stored values and constants) costs at most `repeatBudget` in `opCost`s.
 */
export interface FusionPolicy {
  /** The cost of one op in a repeated expression (Infinity: a value holding it is stored). */
  readonly opCost: (op: Node['op']) => number;
  readonly repeatBudget: number;
  /** Whether such a value is also computed again for every copy a broadcast makes of it (else stored). */
  readonly repeatThroughBroadcasts: boolean;
  /** The most buffers one kernel may read (default: no limit). */
  readonly maxReads?: number;
  /** The most values one kernel may write (default 1; more: siblings.ts merges kernels). */
  readonly maxOutputs?: number;
}

/**
 * The cpu backend's: reading memory, not arithmetic, is what an elementwise kernel pays for (in JS
 * ~1.6 ns an element for a*b, bench/NOTES.md), so a few adds and multiplies of buffers and constants
 * (σ(x) = ½ + ½·tanh(x/2) of a stored tanh) used several times are computed again by each user.
 */
export const CPU_FUSION: FusionPolicy = {
  opCost: (op) => (op === 'add' || op === 'mul' ? 1 : Infinity),
  repeatBudget: 3,
  repeatThroughBroadcasts: false,
};

/** The materialised set: graph outputs, inputs, user-chosen boundaries (`materialize`) and what fusion cannot inline. */
export const planMaterialization = (g: Graph, policy: FusionPolicy = CPU_FUSION): Uint8Array => {
  const nodes = g.nodes.toArray();
  const consumers: number[][] = nodes.map(() => []);
  nodes.forEach((n, id) => n.inputs.forEach((i) => consumers[i].push(id)));
  const mat = new Uint8Array(nodes.length);
  g.outputs.forEach((id) => (mat[id] = 1));
  nodes.forEach((n, id) => n.op === 'materialize' && (mat[id] = 1));

  // Views are index arithmetic, so what reads a view reads the view's input: count uses through them,
  // and note when a read goes through a broadcast (the value would be recomputed for every copy).
  const fanout = new Int32Array(nodes.length);
  const expands = new Uint8Array(nodes.length);
  g.outputs.forEach((id) => fanout[id]++);
  for (let id = nodes.length - 1; id >= 0; id--) {
    consumers[id].forEach((c) => {
      const cn = nodes[c];
      const throughView = kindOf(cn) === 'view' && !mat[c];
      fanout[id] += throughView ? fanout[c] : 1;
      if ((cn.op === 'broadcast' && size(cn.shape) > size(nodes[id].shape)) || (throughView && expands[c]))
        expands[id] = 1;
    });
  }

  // Contraction operands must be views of buffers (or constants), so that a contraction re-reads memory, never recomputes.
  const materializeUnderViews = (id: number) => {
    const n = nodes[id];
    const k = kindOf(n);
    if (k === 'view') n.inputs.forEach(materializeUnderViews);
    else if (k !== 'const' && k !== 'buffer') mat[id] = 1;
  };

  /** What id's expression costs each user that computes it again, down to buffers and constants (over the budget: Infinity). */
  const repeatCost = (id: number, budget: number): number => {
    const n = nodes[id];
    const k = kindOf(n);
    if (k === 'const' || mat[id]) return 0;
    let cost = k === 'view' ? 0 : policy.opCost(n.op);
    for (const i of n.inputs) {
      if (cost > budget) break;
      cost += repeatCost(i, budget - cost);
    }
    return cost > budget ? Infinity : cost;
  };
  const cheapToRepeat = (id: number): boolean => repeatCost(id, policy.repeatBudget) <= policy.repeatBudget;

  // reductionIn[id]: the unmaterialised reduction inside id's expression, or -1
  const reductionIn = new Int32Array(nodes.length).fill(-1);
  nodes.forEach((n, id) => {
    const k = kindOf(n);
    if (k === 'buffer' || k === 'const') return;
    if (k === 'contract') n.inputs.forEach(materializeUnderViews);
    const inner = new Set(n.inputs.filter((i) => !mat[i] && reductionIn[i] >= 0));
    if (isReduction(n))
      inner.forEach((i) => (mat[i] = 1)); // one reduction per kernel
    else if (inner.size > 1) [...inner].slice(1).forEach((i) => (mat[i] = 1));
    const own = isReduction(n)
      ? id
      : ([...n.inputs].map((i) => (mat[i] ? -1 : reductionIn[i])).find((r) => r >= 0) ?? -1);
    reductionIn[id] = own;
    const onlyConsumer = consumers[id].length === 1 ? nodes[consumers[id][0]] : undefined;
    const epilogue = onlyConsumer && kindOf(onlyConsumer) === 'map' && sameShape(onlyConsumer.shape, n.shape);
    if (k === 'view') return; // views stay index arithmetic; a view that is an output is already marked
    const repeated = expands[id] || fanout[id] > 1;
    if (repeated && !((policy.repeatThroughBroadcasts || !expands[id]) && cheapToRepeat(id))) mat[id] = 1;
    if (own >= 0 && !epilogue) mat[id] = 1; // a reduction's result leaves its kernel unless an elementwise epilogue takes it
  });
  g.inputs.forEach((id) => (mat[id] = 1));
  return mat;
};

/** The one reduction or contraction in the expression of the kernel that computes `root`, if any. */
export const reductionOf = (nodes: readonly Node[], mat: Uint8Array, root: number): number | undefined => {
  let reduction: number | undefined;
  const seen = new Set<number>();
  const find = (id: number) => {
    if ((id !== root && mat[id]) || seen.has(id)) return;
    seen.add(id);
    if (isReduction(nodes[id])) reduction = id;
    nodes[id].inputs.forEach(find);
  };
  find(root);
  return reduction;
};

/** Kernels in topological order, one per materialised computed node. */
export interface Fused {
  readonly kernels: readonly Kernel[];
  readonly mat: Uint8Array;
}

export const fuse = (g: Graph, policy: FusionPolicy = CPU_FUSION): Fused => {
  const nodes = g.nodes.toArray();
  const mat = planMaterialization(g, policy);
  /** The materialised nodes below `id` that a kernel computing it reads, by node (memo). */
  const readsBelow = (id: number, memo: Map<number, ReadonlySet<number>>): ReadonlySet<number> => {
    let r = memo.get(id);
    if (r) return r;
    const set = new Set<number>();
    for (const i of nodes[id].inputs)
      if (mat[i]) kindOf(nodes[i]) !== 'const' && set.add(i);
      else readsBelow(i, memo).forEach((x) => set.add(x));
    memo.set(id, (r = set));
    return r;
  };
  const isKernel = (id: number) => mat[id] && kindOf(nodes[id]) !== 'buffer';
  // A backend that can bind only so many buffers a kernel (WebGL's texture units): a kernel reading more
  // stores the largest part of its expression that fits, until every kernel fits (a fixpoint: storing a
  // value that another kernel repeats can add one read there)
  for (let changed = policy.maxReads !== undefined; changed; ) {
    changed = false;
    for (let root = 0; root < nodes.length; root++) {
      if (!isKernel(root)) continue;
      const memo = new Map<number, ReadonlySet<number>>();
      if (readsBelow(root, memo).size <= policy.maxReads!) continue;
      let best = -1;
      memo.forEach((reads, id) => {
        const fits = reads.size <= policy.maxReads! && kindOf(nodes[id]) !== 'const';
        if (id !== root && !mat[id] && fits && (best < 0 || reads.size > memo.get(best)!.size)) best = id;
      });
      if (best < 0 || memo.get(best)!.size < 2) continue; // nothing to split off: the backend says why
      mat[best] = 1;
      changed = true;
    }
  }
  const kernels: Kernel[] = [];
  nodes.forEach((n, root) => {
    if (!isKernel(root)) return;
    const reduction = reductionOf(nodes, mat, root);
    kernels.push({ root, shape: n.shape, reduction, reads: [...readsBelow(root, new Map())], siblings: [] });
  });
  return { kernels, mat };
};

/** A kernel's class for profiles: its reduction's primitive, or elementwise. */
export const kernelClass = (nodes: readonly Node[], k: Kernel): string =>
  k.reduction === undefined ? 'elementwise' : nodes[k.reduction].op;
