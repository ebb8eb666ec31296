// The CPU backend: each fused kernel is rendered as specialised JavaScript (typed-array loops, shapes
// and strides as literals) and built once with `new Function`. Contractions pack their operands into
// 4-wide panels and run a 4×4 register-blocked micro-kernel.
import { primitives } from '../../dsl/primitives.ts';
import { symbolicWith, unravel } from '../../dsl/indexing.ts';
import { size, type Shape } from '../../dsl/shape.ts';
import { renderExpr, type ExprContext } from '../codegen.ts';
import type { KernelSpec } from './backend.ts';

export const cpuIndex = symbolicWith((a, k) => `((${a}) / ${k} | 0)`);

const loops = (vars: readonly string[], shape: Shape, body: string): string =>
  vars.reduceRight((inner, v, d) => `for (let ${v} = 0; ${v} < ${shape[d]}; ${v}++) {\n${inner}\n}`, body);

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** The kernel's JS source: a factory returning `function(out, a0, a1, ...)`. */
export const renderCpuKernel = (spec: KernelSpec): string => {
  const { nodes, kernel } = spec;
  const ctx = (acc?: ExprContext['acc']): ExprContext =>
    ({ nodes, mat: spec.mat, root: kernel.root, alg: cpuIndex, arg: (id) => `a${kernel.reads.indexOf(id)}`, acc });
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

const renderContraction = (spec: KernelSpec, ctx: (acc?: ExprContext['acc']) => ExprContext, params: string): string => {
  const { nodes, kernel } = spec;
  const red = nodes[kernel.reduction!];
  const [aShape, bShape] = red.inputs.map((i) => nodes[i].shape);
  const r = aShape.length;
  const [M, K, N] = [aShape[r - 2], aShape[r - 1], bShape[r - 1]];
  const batchShape = red.shape.slice(0, -2);
  const batch = size(batchShape);
  const MB = Math.ceil(M / 4);
  const NB = Math.ceil(N / 4);
  const bIdx = unravel(cpuIndex, 'bt', batchShape);
  const tmpl = primitives.matmul.kernel;
  const [aIdx] = tmpl.loads([...bIdx, 'i', 'j'], 'k');
  const [, bIdxs] = tmpl.loads([...bIdx, 'i', 'j'], 'k');
  const A = renderExpr(ctx(), red.inputs[0], aIdx);
  const B = renderExpr(ctx(), red.inputs[1], bIdxs);
  const epi = renderExpr(ctx({ id: kernel.reduction!, name: 'acc' }), kernel.root, [...bIdx, 'i', 'j']);
  const rc = [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3].map((j) => [i, j] as const));
  return `const pa = new Float32Array(${MB * 4 * K}), pb = new Float32Array(${NB * 4 * K}), tile = new Float32Array(16);
return function(${params}) {
for (let bt = 0; bt < ${batch}; bt++) {
  for (let i = 0; i < ${M}; i++) for (let k = 0; k < ${K}; k++) pa[(((i >> 2) * ${K} + k) << 2) + (i & 3)] = ${A};
  for (let k = 0; k < ${K}; k++) for (let j = 0; j < ${N}; j++) pb[(((j >> 2) * ${K} + k) << 2) + (j & 3)] = ${B};
  for (let jb = 0; jb < ${NB}; jb++) for (let ib = 0; ib < ${MB}; ib++) {
    ${rc.map(([i, j]) => `let c${i}${j} = 0;`).join(' ')}
    let pA = ib * ${4 * K}, pB = jb * ${4 * K};
    for (let k = 0; k < ${K}; k++, pA += 4, pB += 4) {
      const x0 = pa[pA], x1 = pa[pA + 1], x2 = pa[pA + 2], x3 = pa[pA + 3];
      const y0 = pb[pB], y1 = pb[pB + 1], y2 = pb[pB + 2], y3 = pb[pB + 3];
      ${rc.map(([i, j]) => `c${i}${j} += x${i} * y${j};`).join(' ')}
    }
    ${rc.map(([i, j]) => `tile[${i * 4 + j}] = c${i}${j};`).join(' ')}
    for (let ii = 0; ii < 4; ii++) {
      const i = ib * 4 + ii;
      if (i >= ${M}) break;
      for (let jj = 0; jj < 4; jj++) {
        const j = jb * 4 + jj;
        if (j >= ${N}) break;
        const acc = tile[ii * 4 + jj];
        out[bt * ${M * N} + i * ${N} + j] = ${epi};
      }
    }
  }
}
};`;
};
