// Renders a fused kernel as gpu.js kernel source: one thread per output element (flat 1-D output),
// the element's index unravelled from this.thread.x, reductions and contractions as loops with
// literal bounds (gpu.js silently caps non-literal loops at loopMaxIterations).
import { primitives } from '../../../dsl/primitives.ts';
import { reductionOf } from '../../fuse.ts';
import { symbolic, unravel } from '../../../dsl/indexing.ts';
import { renderExpr, type ExprContext } from '../../codegen.ts';
import type { KernelSpec } from '../backend.ts';
import { isReduceNode } from '../../../dsl/tensor.ts';
import { writeOutput } from './runner.ts';

/** float32's lowest value: GLSL cannot spell -Infinity, and this is max's identity over finite floats. */
const LOWEST = -3.4028234663852886e38;

/** A number as gpu.js's GLSL translation needs it: always a float (`2.0`, not `2`), never infinite. */
export const glslLiteral = (v: number): string => {
  if (v === -Infinity) return String(LOWEST);
  if (!Number.isFinite(v)) throw new Error(`gpujs backend: the literal ${v} cannot be written in GLSL`);
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
};

const glslMaps = {
  // clamped at ±20, where tanh is ±1 in float32 already: GLSL's tanh is (eˣ−e⁻ˣ)/(eˣ+e⁻ˣ), NaN past ±88
  tanh: ([x]: readonly string[]) => `Math.tanh(Math.min(Math.max(${x}, -20.0), 20.0))`,
};

export const renderGpujsKernel = (spec: KernelSpec): string => {
  const { nodes, kernel } = spec;
  const outIdx = unravel(symbolic, 'f', kernel.shape);
  const vars = outIdx.map((_, i) => `i${i}`);
  const names = new Map<number, string>(); // a multi-output kernel's values so far, for the later ones
  const ctx = (root: number, acc?: ExprContext['acc']): ExprContext => ({
    nodes,
    mat: spec.mat,
    root,
    alg: symbolic,
    arg: (id) => `a${kernel.reads.indexOf(id)}`,
    acc,
    maps: glslMaps,
    literal: glslLiteral,
    locals: { names, at: vars },
  });
  const head = [`const f = this.thread.x;`, ...outIdx.map((e, i) => `const i${i} = ${e};`)];
  const params = kernel.reads.map((_, i) => `a${i}`).join(', ');
  const fn = (lines: string[]) => `function(${params}) {\n${[...head, ...lines].join('\n')}\n}`;
  // each value's reduction, all of one loop (siblings.ts merges no others), one accumulator each
  const roots = [kernel.root, ...kernel.siblings];
  const reductions = roots.map((r, j) => (j === 0 ? kernel.reduction : reductionOf(nodes, spec.mat, r)));
  const accs = reductions.map((red, j) => (red === undefined ? undefined : { id: red, name: j ? `acc${j}` : 'acc' }));
  const loop = reductionLoop(spec, ctx, roots, accs, vars);
  if (roots.length === 1) return fn([...loop, `return ${renderExpr(ctx(kernel.root, accs[0]), kernel.root, vars)};`]);
  const values = roots.map((id, j) => {
    const line = `const o${j} = ${renderExpr(ctx(id, accs[j]), id, vars)};`;
    names.set(id, `o${j}`);
    return line;
  });
  return fn([...loop, ...values, ...kernel.siblings.map((_, j) => `${writeOutput(j + 1)}(o${j + 1});`), 'return o0;']);
};

/** The accumulators' declarations and the loop that fills them, over the first value's reduction's index space. */
const reductionLoop = (
  { nodes }: KernelSpec,
  ctx: (root: number) => ExprContext,
  roots: readonly number[],
  accs: readonly ({ id: number; name: string } | undefined)[],
  vars: readonly string[],
): string[] => {
  if (accs[0] === undefined) {
    if (accs.some((a) => a)) throw new Error(`gpujs backend: kernel ${roots[0]} mixes reductions and none`);
    return [];
  }
  const each = accs.map((a, j) => ({ ...a!, red: nodes[a!.id], ctx: ctx(roots[j]) }));
  const first = each[0].red;
  if (isReduceNode(first)) {
    const inShape = nodes[first.inputs[0]].shape;
    const axes = first.attrs.axes;
    let o = 0;
    let r = 0;
    const inIdx = inShape.map((_, d) => (axes.includes(d) ? `r${r++}` : vars[o++]));
    const reduces = each.map((e) => {
      if (!isReduceNode(e.red)) throw new Error(`gpujs backend: kernel ${roots[0]} mixes ${first.op} and ${e.red.op}`);
      return { ...e, ...primitives[e.red.op].kernel, input: e.red.inputs[0] };
    });
    const body = reduces.map(
      ({ name, combine, ctx, input }) => `${name} = ${combine(name, renderExpr(ctx, input, inIdx))};`,
    );
    const loops = axes.reduceRight(
      (inner, a, k) => `for (let r${k} = 0; r${k} < ${inShape[a]}; r${k}++) {\n${inner}\n}`,
      body.join('\n'),
    );
    return [...reduces.map(({ name, init }) => `let ${name} = ${glslLiteral(init)};`), loops];
  }
  const tmpl = primitives[first.op].kernel;
  if (tmpl.kind !== 'contract') throw new Error(`gpujs backend: unsupported reduction ${first.op}`);
  const K = tmpl.length(first.inputs.map((i) => nodes[i].shape));
  const body = each.map(({ name, red, ctx }) => {
    const [ia, ib] = tmpl.loads(vars, 'k');
    return `${name} = ${name} + ${renderExpr(ctx, red.inputs[0], ia)} * ${renderExpr(ctx, red.inputs[1], ib)};`;
  });
  return [...each.map(({ name }) => `let ${name} = 0.0;`), `for (let k = 0; k < ${K}; k++) {\n${body.join('\n')}\n}`];
};
