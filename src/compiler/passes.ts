// Small graph-to-graph passes. Gradient graphs are full of ones, zeros and broadcasts of constants;
// folding them here keeps every later stage (fusion, codegen) from seeing them.
import { emit, type Node, type Tensor, type Builder } from '../dsl/tensor.ts';
import { primitiveOf, primitives } from '../dsl/primitives.ts';
import { size } from '../dsl/shape.ts';
import { fill, reshape, permute } from '../dsl/ops.ts';
import { compact, rebuild, type Graph } from './graph.ts';

/** Keeps only what the outputs (and the declared inputs) need. */
export const eliminateDeadCode = (g: Graph): Graph => compact(g);

const fillValue = (b: Builder, t: Tensor): number | undefined => {
  const n = b.nodes[t.id];
  return n.op === 'fill' ? n.attrs.value : undefined;
};

const foldRule = (n: Node, ins: Tensor[], b: Builder): Tensor | undefined => {
  const consts = ins.map((t) => fillValue(b, t));
  const kind = primitives[n.op].kernel.kind;
  const allConst = ins.length > 0 && consts.every((v) => v !== undefined);
  if (allConst && (kind === 'map' || kind === 'view')) {
    if (kind === 'map') {
      const [v] = primitiveOf(n.op).evaluate(
        consts.map((c) => Float64Array.of(c!)),
        ins.map(() => []),
        n.attrs,
        [],
      );
      return fill(n.shape, v);
    }
    if (n.op !== 'concat' || consts.every((c) => c === consts[0])) return fill(n.shape, consts[0]!);
  }
  if (allConst && n.op === 'sum') return fill(n.shape, consts[0]! * (size(ins[0].shape) / size(n.shape)));
  if (allConst && n.op === 'reduceMax') return fill(n.shape, consts[0]!);
  const [x, y] = ins;
  const [cx, cy] = consts;
  switch (n.op) {
    case 'mul':
      if (cx === 1) return y;
      if (cy === 1) return x;
      if (cx === 0 || cy === 0) return fill(n.shape, 0);
      return undefined;
    case 'add':
      if (cx === 0) return y;
      if (cy === 0) return x;
      return undefined;
    case 'reshape': {
      const inner = b.nodes[x.id];
      return inner.op === 'reshape'
        ? reshape({ ...x, id: inner.inputs[0], shape: b.nodes[inner.inputs[0]].shape }, n.shape)
        : undefined;
    }
    case 'permute': {
      const inner = b.nodes[x.id];
      if (inner.op !== 'permute') return undefined;
      const p1 = inner.attrs.perm;
      const p2 = n.attrs.perm;
      return permute(
        { ...x, id: inner.inputs[0], shape: b.nodes[inner.inputs[0]].shape },
        p2.map((p) => p1[p]),
      );
    }
    default:
      return undefined;
  }
};

/** Constant folding and algebraic identities, then dead-code elimination. */
export const simplify = (g: Graph): Graph => eliminateDeadCode(rebuild(g, foldRule));

/**
 * concat(x₁ … xₙ) of more than `parts` operands → a concat of concats of at most `parts` each, so that no
 * one kernel has to read them all (gpujs: at most 15 textures a kernel, gpujs/program.ts MAX_ARGS; fusion then
 * stores the inner concats).
 */
export const nestWideConcats =
  (parts: number) =>
  (g: Graph): Graph =>
    rebuild(g, (n, ins, b) => {
      if (n.op !== 'concat' || ins.length <= parts) return undefined;
      const attrs = { axis: n.attrs.axis };
      const nest = (ts: Tensor[]): Tensor => {
        if (ts.length <= parts) return emit('concat', ts, attrs, b);
        const groups = Array.from({ length: Math.ceil(ts.length / parts) }, (_, k) =>
          ts.slice(k * parts, (k + 1) * parts),
        );
        return nest(groups.map((group) => (group.length === 1 ? group[0] : emit('concat', group, attrs, b))));
      };
      return nest(ins);
    });

/**
 * A sum or max over several axes of at least `minCount` values each → one reduction per axis, the last
 * first. A GPU runs a kernel's output elements in parallel and each one's loop serially: Σ over a
 * 520×1024 gradient is one thread's 532,480 steps, where Σ_rows Σ_cols is 520 threads of 1,024 and one of 520.
 */
export const reduceAxisByAxis =
  (minCount: number) =>
  (g: Graph): Graph =>
    rebuild(g, (n, [x], b) => {
      if (n.op !== 'sum' && n.op !== 'reduceMax') return undefined;
      const axes = n.attrs.axes;
      if (axes.length < 2 || axes.reduce((c, a) => c * x.shape[a], 1) < minCount) return undefined;
      // from the last axis back, so the axes still to reduce keep their numbers
      return axes.reduceRight((t, axis) => emit(n.op, [t], { axes: [axis] }, b), x);
    });
