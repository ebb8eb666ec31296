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
}

const kindOf = (n: Node) => primitives[n.op].kernel.kind;
const isReduction = (n: Node) => kindOf(n) === 'reduce' || kindOf(n) === 'contract';

/** The materialised set: graph outputs, inputs, user-chosen boundaries (`materialize`) and what fusion cannot inline. */
export const planMaterialization = (g: Graph): Uint8Array => {
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

  // Reading memory, not arithmetic, is what an elementwise kernel pays for (in JS ~1.6 ns an element
  // for a*b, bench/NOTES.md): a few adds and multiplies of buffers and constants (σ(x) = ½ + ½·tanh(x/2)
  // of a stored tanh) used several times are computed again by each user, not stored and read back
  const REPEAT_OPS = 3;
  /** Adds and multiplies in id's expression down to buffers and constants, or Infinity if it holds anything else. */
  const arithmeticOps = (id: number): number => {
    const n = nodes[id];
    const k = kindOf(n);
    if (k === 'const' || mat[id]) return 0;
    if (k === 'view') return n.inputs.reduce((a, i) => a + arithmeticOps(i), 0);
    if (n.op !== 'add' && n.op !== 'mul') return Infinity;
    return n.inputs.reduce((a, i) => a + arithmeticOps(i), 1);
  };
  const cheapToRepeat = (id: number): boolean => arithmeticOps(id) <= REPEAT_OPS;

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
    if (expands[id] || (fanout[id] > 1 && !cheapToRepeat(id))) mat[id] = 1;
    if (own >= 0 && !epilogue) mat[id] = 1; // a reduction's result leaves its kernel unless an elementwise epilogue takes it
  });
  g.inputs.forEach((id) => (mat[id] = 1));
  return mat;
};

/** Kernels in topological order, one per materialised computed node. */
export interface Fused {
  readonly kernels: readonly Kernel[];
  readonly mat: Uint8Array;
}

export const fuse = (g: Graph): Fused => {
  const mat = planMaterialization(g);
  const kernels: Kernel[] = [];
  g.nodes.forEach((n, root) => {
    const k = kindOf(n);
    if (!mat[root] || k === 'buffer') return;
    const reads = new Set<number>();
    let reduction: number | undefined;
    const walk = (id: number, top: boolean) => {
      if (!top && mat[id]) {
        if (kindOf(g.nodes.get(id)!) !== 'const') reads.add(id);
        return;
      }
      const m = g.nodes.get(id)!;
      if (isReduction(m)) reduction = id;
      m.inputs.forEach((i) => walk(i, false));
    };
    walk(root, true);
    kernels.push({ root, shape: n.shape, reduction, reads: [...reads] });
  });
  return { kernels, mat };
};

/** A kernel's class for profiles: its reduction's primitive, or elementwise. */
export const kernelClass = (nodes: readonly Node[], k: Kernel): string =>
  k.reduction === undefined ? 'elementwise' : nodes[k.reduction].op;
