// The CPU backend: each fused kernel is rendered as specialised JavaScript (typed-array loops, shapes
// and strides as literals) and built once with `new Function`. Contractions pack their operands into
// the WebAssembly sgemm's panel layout and call it (gemm.ts).
import { primitives } from '../../../dsl/primitives.ts';
import { isReduceNode } from '../../../dsl/tensor.ts';
import { symbolicWith, unravel } from '../../../dsl/indexing.ts';
import { size, type Shape } from '../../../dsl/shape.ts';
import { affineVar, renderExpr, type ExprContext } from '../../codegen.ts';
import type { KernelSpec } from '../backend.ts';
import { cpuMaps } from './math.ts';
import { packCodeA, packCodeB, packedSizeA, packedSizeB } from './gemm-packing.ts';

export const cpuIndex = symbolicWith((a, k) => `((${a}) / ${k} | 0)`);

type Ranges = ReadonlyMap<string, readonly [number, number]>;
type Render = (extra?: Partial<ExprContext>) => ExprContext;

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Most pieces a loop nest is split into (the body is rendered once per piece). */
const MAX_PIECES = 128;

/**
 * Where the loops over `vars` (extents `shape`) should be cut: at every boundary of a concat
 * condition on one of them in what `render` renders (it is handed the callback that reports them).
 * Cut there, each piece renders with its conditions decided instead of testing them per element.
 */
const cutsOf = (
  vars: readonly string[],
  shape: Shape,
  render: (onCondition: ExprContext['onCondition']) => void,
): number[][] => {
  const points = vars.map(() => new Set<number>());
  render((coord, below) => {
    const a = affineVar(coord);
    const d = a ? vars.indexOf(a.v) : -1;
    if (d >= 0 && below - a!.c > 0 && below - a!.c < shape[d]) points[d].add(below - a!.c);
  });
  const cuts = points.map((p, d) => [0, ...[...p].sort((x, y) => x - y), shape[d]]);
  return cuts.reduce((n, c) => n * (c.length - 1), 1) <= MAX_PIECES ? cuts : shape.map((n) => [0, n]);
};

/** Loops over `vars`, each split at its `cuts` (in order, so row-major output order is kept), around `body`. */
const loops = (
  vars: readonly string[],
  cuts: readonly number[][],
  body: (ranges: Ranges) => string,
  d = 0,
  ranges: Ranges = new Map(),
): string =>
  d === vars.length
    ? body(ranges)
    : cuts[d]
        .slice(1)
        .map((hi, s) => {
          const [v, lo] = [vars[d], cuts[d][s]];
          return `for (let ${v} = ${lo}; ${v} < ${hi}; ${v}++) {\n${loops(vars, cuts, body, d + 1, new Map(ranges).set(v, [lo, hi]))}\n}`;
        })
        .join('\n');

const whole = (shape: Shape): number[][] => shape.map((n) => [0, n]);

/**
 * Where an elementwise kernel's loops are cut, per output axis: at every boundary of a concat
 * condition (the JS and the WebAssembly kernels alike then decide each condition per piece).
 */
export const elementwiseCuts = (spec: KernelSpec): number[][] => elementwiseLayout(spec).cuts;

/**
 * The cuts of an elementwise kernel (or a contraction's epilogue) and a key for its structure: its
 * arguments' count, shape, cuts and expression as JS renders it with every condition open. Kernels
 * with equal keys render to equal code (an unrolled step repeats each kernel at every time step), so
 * a backend renders each key once.
 */
export const elementwiseLayout = (spec: KernelSpec): { cuts: number[][]; key: string } => {
  const outVars = names('i', spec.kernel.shape.length);
  // a contraction's epilogue reads its product as `acc`
  const acc = spec.kernel.reduction === undefined ? undefined : { id: spec.kernel.reduction, name: 'acc' };
  let expr = '';
  const cuts = cutsOf(outVars, spec.kernel.shape, (onCondition) => {
    expr = renderExpr(contextOf(spec)({ onCondition, acc }), spec.kernel.root, outVars);
  });
  // the reads' count too: a contraction's operands are arguments its epilogue need not read
  return {
    cuts,
    key: `${spec.kernel.reads.length}|${spec.kernel.shape.join('x')}|${cuts.map((c) => c.join(',')).join(';')}|${expr}`,
  };
};

/** How the kernel's expressions render: its nodes, buffers as arguments a0, a1, … in read order. */
const contextOf =
  (spec: KernelSpec): Render =>
  (extra = {}) => ({
    nodes: spec.nodes,
    mat: spec.mat,
    root: spec.kernel.root,
    alg: cpuIndex,
    arg: (id) => `a${spec.kernel.reads.indexOf(id)}`,
    maps: cpuMaps,
    ...extra,
  });

/** The kernel's JS source: the body of a factory `(gemm, ops, lib)` returning `function(out, a0, a1, ...)`. */
export const renderCpuKernel = (spec: KernelSpec): string => {
  const { nodes, kernel } = spec;
  const ctx = contextOf(spec);
  const params = ['out', ...kernel.reads.map((_, i) => `a${i}`)].join(', ');
  const outVars = names('i', kernel.shape.length);
  const red = kernel.reduction === undefined ? undefined : nodes[kernel.reduction];
  const fn = (body: string) => `return function(${params}) {\nlet f = 0;\n${body}\n};`;

  if (!red) {
    const expr = (extra: Partial<ExprContext>) => renderExpr(ctx(extra), kernel.root, outVars);
    return fn(loops(outVars, elementwiseCuts(spec), (ranges) => `out[f++] = ${expr({ ranges })};`));
  }

  if (isReduceNode(red)) {
    const tmpl = primitives[red.op].kernel;
    const inShape = nodes[red.inputs[0]].shape;
    const axes = red.attrs.axes;
    const redVars = names('r', axes.length);
    let o = 0;
    let r = 0;
    const inIdx = inShape.map((_, d) => (axes.includes(d) ? redVars[r++] : outVars[o++])); // epilogues keep the reduction's shape
    const acc = { id: kernel.reduction!, name: 'acc' };
    const x = (extra: Partial<ExprContext>) => renderExpr(ctx(extra), red.inputs[0], inIdx);
    const epi = (extra: Partial<ExprContext>) => renderExpr(ctx({ ...extra, acc }), kernel.root, outVars);
    const cuts = cutsOf(outVars, kernel.shape, (onCondition) => x({ onCondition }) + epi({ onCondition }));
    // reduced axes that are one block with kept axes after it (a sum over the batch of [100, 1024]):
    // walk the input in memory order, one accumulator per element of the inner block, rather than
    // down each column (a cache line per load); the same additions in the same order, in float64
    const first = Math.min(...axes),
      inner = outVars.slice(first);
    if (inner.length && axes.every((a, i) => a === first + i) && cuts.every((c) => c.length === 2)) {
      const innerSize = size(kernel.shape.slice(first));
      const innerLoops = (body: string) => loops(inner, whole(kernel.shape.slice(first)), () => body);
      const blockAcc = { id: kernel.reduction!, name: 'accs[a]' };
      return `const accs = new Float64Array(${innerSize});
return function(${params}) {
let f = 0;
${loops(
  outVars.slice(0, first),
  whole(kernel.shape.slice(0, first)),
  () => `accs.fill(${tmpl.init});
${loops(redVars, whole(axes.map((a) => inShape[a])), () => `let a = 0;\n${innerLoops(`accs[a] = ${tmpl.combine('accs[a]', x({}))}; a++;`)}`)}
let a = 0;
${innerLoops(`out[f++] = ${renderExpr(ctx({ acc: blockAcc }), kernel.root, outVars)}; a++;`)}`,
)}
};`;
    }
    const body = (ranges: Ranges) =>
      `let acc = ${tmpl.init};\n` +
      `${loops(redVars, whole(axes.map((a) => inShape[a])), () => `acc = ${tmpl.combine('acc', x({ ranges }))};`)}\n` +
      `out[f++] = ${epi({ ranges })};`;
    return fn(loops(outVars, cuts, body));
  }

  if (primitives[red.op].kernel.kind === 'contract') return renderContraction(spec, ctx, params);
  throw new Error(`cpu backend: unsupported reduction ${red.op}`);
};

/**
 * Packing code for one operand: one packing pass per piece of k where its concat conditions on k
 * are decided (`pack(value, [lo, hi])` packs k in [lo, hi)).
 */
const packPieces = (
  K: number,
  value: (r: string, k: string, extra: Partial<ExprContext>) => string,
  pack: (value: (r: string, k: string) => string, ks: readonly [number, number]) => string,
): string => {
  const [cuts] = cutsOf(['k'], [K], (onCondition) => value('r', 'k', { onCondition }));
  return cuts
    .slice(1)
    .map((hi, s) => {
      const ks = [cuts[s], hi] as const;
      return pack((r, k) => value(r, k, { ranges: new Map([[k, ks]]) }), ks);
    })
    .join('\n');
};

/**
 * A contraction: for each batch slice the operands are packed (their fused expressions evaluated
 * once per element) into the WebAssembly sgemm's panel layout, one batched sgemm call multiplies
 * them, and the epilogue reads C back (`ops.epilogue` instead, a WebAssembly kernel, where the program
 * has one). The factory is called with the program's `gemm` and this kernel's `ops`: float offsets
 * of packed A, packed B and C, and `packA()`/`packB()`, which say whether the operand must be packed
 * now (an operand that only reads graph inputs, a weight, is packed once per run and shared by every
 * kernel reading it the same way: see packedOnce).
 */
const renderContraction = (spec: KernelSpec, ctx: Render, params: string): string => {
  const { nodes, kernel } = spec;
  const red = nodes[kernel.reduction!];
  const { batch, M, K, N } = contractionSize(spec);
  const batchShape = red.shape.slice(0, -2);
  const bIdx = unravel(cpuIndex, 'bt', batchShape);
  const [PA, PB] = [packedSizeA(M, K), packedSizeB(K, N)];
  const loads = primitives.matmul.kernel.loads;
  const A = (i: string, k: string, extra: Partial<ExprContext>) =>
    renderExpr(ctx(extra), red.inputs[0], loads([...bIdx, i, 'j'], k)[0]);
  const B = (k: string, j: string, extra: Partial<ExprContext>) =>
    renderExpr(ctx(extra), red.inputs[1], loads([...bIdx, 'i', j], k)[1]);
  const epi = renderExpr(ctx({ acc: { id: kernel.reduction!, name: 'acc' } }), kernel.root, [...bIdx, 'i', 'j']);
  const packA = packPieces(K, A, (value, ks) => packCodeA(M, K, 'm', `ops.a + bt * ${PA}`, value, ks));
  const packB = packPieces(
    K,
    (j, k, extra) => B(k, j, extra),
    (value, ks) => packCodeB(K, N, 'm', `ops.b + bt * ${PB}`, (k, j) => value(j, k), ks),
  );
  return `return function(${params}) {
const m = gemm.f32();
if (ops.packA()) for (let bt = 0; bt < ${batch}; bt++) {
${packA}
}
if (ops.packB()) for (let bt = 0; bt < ${batch}; bt++) {
${packB}
}
gemm.gemmBatched(${batch}, ops.a, ops.b, ops.c, ${M}, ${N}, ${K});
if (ops.epilogue) return ops.epilogue();
let f = 0, c = ops.c;
for (let bt = 0; bt < ${batch}; bt++) for (let i = 0; i < ${M}; i++) for (let j = 0; j < ${N}; j++) {
  const acc = m[c++];
  out[f++] = ${epi};
}
};`;
};

/**
 * A key for a contraction kernel's structure: its arguments' count, sizes, and its operands' and
 * epilogue's expressions as JS renders them with every condition open. Kernels with equal keys
 * render to equal code (the pack pieces follow from the conditions), so a backend renders each once:
 * an unrolled T=64 step has ~1,900 contraction kernels and few structures.
 */
export const contractionKey = (spec: KernelSpec): string => {
  const { nodes, kernel } = spec;
  const red = nodes[kernel.reduction!];
  const { batch, M, K, N } = contractionSize(spec);
  const ctx = contextOf(spec);
  const bIdx = unravel(cpuIndex, 'bt', red.shape.slice(0, -2));
  const [a, b] = primitives.matmul.kernel.loads([...bIdx, 'i', 'j'], 'k');
  const epi = renderExpr(ctx({ acc: { id: kernel.reduction!, name: 'acc' } }), kernel.root, [...bIdx, 'i', 'j']);
  return `${kernel.reads.length}|${batch}x${M}x${K}x${N}|${renderExpr(ctx(), red.inputs[0], a)}|${renderExpr(ctx(), red.inputs[1], b)}|${epi}`;
};

/**
 * For each operand of a contraction kernel (A, B): a key naming its packed form when it reads
 * nothing but graph inputs (so it is the same all run long), else undefined. Equal keys, equal
 * packed contents: hash-consing gives one node to one expression.
 */
export const packedOnce = (spec: KernelSpec): [string | undefined, string | undefined] => {
  const { nodes, mat, kernel } = spec;
  const red = nodes[kernel.reduction!];
  const { batch, M, K, N } = contractionSize(spec);
  const onlyInputs = (id: number): boolean => {
    const n = nodes[id];
    if (n.op === 'input') return true;
    if (mat[id]) return false;
    return n.inputs.every(onlyInputs);
  };
  const key = (k: 0 | 1) => (onlyInputs(red.inputs[k]) ? `${k}:${red.inputs[k]}:${batch}x${M}x${K}x${N}` : undefined);
  return [key(0), key(1)];
};

/** Sizes of a contraction kernel's product: batch slices of M×K · K×N. */
export const contractionSize = ({ nodes, kernel }: KernelSpec): { batch: number; M: number; K: number; N: number } => {
  const red = nodes[kernel.reduction!];
  const [aShape, bShape] = red.inputs.map((i) => nodes[i].shape);
  const r = aShape.length;
  return { batch: size(red.shape.slice(0, -2)), M: aShape[r - 2], K: aShape[r - 1], N: bShape[r - 1] };
};

/** Floats of scratch a contraction kernel needs for packed A, packed B and C. */
export const contractionScratch = (spec: KernelSpec): { a: number; b: number; c: number } => {
  const { batch, M, K, N } = contractionSize(spec);
  return { a: batch * packedSizeA(M, K), b: batch * packedSizeB(K, N), c: batch * M * N };
};
