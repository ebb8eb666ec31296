// The CPU backend: each fused kernel is rendered as specialised JavaScript (typed-array loops, shapes
// and strides as literals) and built once with `new Function`. Contractions pack their operands into
// the WebAssembly sgemm's panel layout and call it (wasm-gemm.ts).
import { primitives } from '../../dsl/primitives.ts';
import { symbolicWith, unravel } from '../../dsl/indexing.ts';
import { size, type Shape } from '../../dsl/shape.ts';
import { renderExpr, type ExprContext } from '../codegen.ts';
import type { KernelSpec } from './backend.ts';
import { cpuMaps } from './cpu-math.ts';
import { packCodeA, packCodeB, packedSizeA, packedSizeB } from './wasm-gemm.ts';

export const cpuIndex = symbolicWith((a, k) => `((${a}) / ${k} | 0)`);

const loops = (vars: readonly string[], shape: Shape, body: string): string =>
  vars.reduceRight((inner, v, d) => `for (let ${v} = 0; ${v} < ${shape[d]}; ${v}++) {\n${inner}\n}`, body);

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** The kernel's JS source: the body of a factory `(gemm, scratch, lib)` returning `function(out, a0, a1, ...)`. */
export const renderCpuKernel = (spec: KernelSpec): string => {
  const { nodes, kernel } = spec;
  const ctx = (acc?: ExprContext['acc']): ExprContext =>
    ({ nodes, mat: spec.mat, root: kernel.root, alg: cpuIndex, arg: (id) => `a${kernel.reads.indexOf(id)}`, acc, maps: cpuMaps });
  const params = ['out', ...kernel.reads.map((_, i) => `a${i}`)].join(', ');
  const outVars = names('i', kernel.shape.length);
  const red = kernel.reduction === undefined ? undefined : nodes[kernel.reduction];
  const tmpl = red && primitives[red.op].kernel;

  if (!red || !tmpl) {
    const body = `out[f++] = ${renderExpr(ctx(), kernel.root, outVars)};`;
    return `return function(${params}) {\nlet f = 0;\n${loops(outVars, kernel.shape, body)}\n};`;
  }

  if (tmpl.kind === 'reduce') {
    const inShape = nodes[red.inputs[0]].shape;
    const axes = red.attrs.axes as number[];
    const redVars = names('r', axes.length);
    const outIdxOfRed = outVars; // epilogues keep the reduction's shape
    let o = 0;
    let r = 0;
    const inIdx = inShape.map((_, d) => (axes.includes(d) ? redVars[r++] : outIdxOfRed[o++]));
    const x = renderExpr(ctx(), red.inputs[0], inIdx);
    const body = `let acc = ${tmpl.init};\n${loops(redVars, axes.map((a) => inShape[a]), `acc = ${tmpl.combine('acc', x)};`)}\n`
      + `out[f++] = ${renderExpr(ctx({ id: kernel.reduction!, name: 'acc' }), kernel.root, outVars)};`;
    return `return function(${params}) {\nlet f = 0;\n${loops(outVars, kernel.shape, body)}\n};`;
  }

  if (tmpl.kind === 'contract') return renderContraction(spec, ctx, params);
  throw new Error(`cpu backend: unsupported reduction ${red.op}`);
};

/**
 * A contraction: for each batch slice the operands are packed (their fused expressions evaluated
 * once per element) into the WebAssembly sgemm's panel layout, one batched sgemm call multiplies
 * them, and the epilogue reads C back. The factory is called with the program's `gemm` and the
 * float offsets of its scratch regions.
 */
const renderContraction = (spec: KernelSpec, ctx: (acc?: ExprContext['acc']) => ExprContext, params: string): string => {
  const { nodes, kernel } = spec;
  const red = nodes[kernel.reduction!];
  const { batch, M, K, N } = contractionSize(spec);
  const batchShape = red.shape.slice(0, -2);
  const bIdx = unravel(cpuIndex, 'bt', batchShape);
  const [PA, PB] = [packedSizeA(M, K), packedSizeB(K, N)];
  const loads = primitives.matmul.kernel.loads;
  const A = (i: string, k: string) => renderExpr(ctx(), red.inputs[0], loads([...bIdx, i, 'j'], k)[0]);
  const B = (k: string, j: string) => renderExpr(ctx(), red.inputs[1], loads([...bIdx, 'i', j], k)[1]);
  const epi = renderExpr(ctx({ id: kernel.reduction!, name: 'acc' }), kernel.root, [...bIdx, 'i', 'j']);
  return `return function(${params}) {
const m = gemm.f32();
for (let bt = 0; bt < ${batch}; bt++) {
${packCodeA(M, K, 'm', `scratch.a + bt * ${PA}`, A)}
${packCodeB(K, N, 'm', `scratch.b + bt * ${PB}`, B)}
}
gemm.gemmBatched(${batch}, scratch.a, scratch.b, scratch.c, ${M}, ${N}, ${K});
let f = 0, c = scratch.c;
for (let bt = 0; bt < ${batch}; bt++) for (let i = 0; i < ${M}; i++) for (let j = 0; j < ${N}; j++) {
  const acc = m[c++];
  out[f++] = ${epi};
}
};`;
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
