// Renders a fused kernel as gpu.js kernel source: one thread per output element (flat 1-D output),
// the element's index unravelled from this.thread.x, reductions and contractions as loops with
// literal bounds (gpu.js silently caps non-literal loops at loopMaxIterations).
import { primitives } from '../../../dsl/primitives.ts';
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
  const ctx = (acc?: ExprContext['acc']): ExprContext => ({
    nodes,
    mat: spec.mat,
    root: kernel.root,
    alg: symbolic,
    arg: (id) => `a${kernel.reads.indexOf(id)}`,
    acc,
    maps: glslMaps,
    literal: glslLiteral,
  });
  const outIdx = unravel(symbolic, 'f', kernel.shape);
  const vars = outIdx.map((_, i) => `i${i}`);
  const head = [`const f = this.thread.x;`, ...outIdx.map((e, i) => `const i${i} = ${e};`)];
  const params = kernel.reads.map((_, i) => `a${i}`).join(', ');
  const fn = (lines: string[]) => `function(${params}) {\n${[...head, ...lines].join('\n')}\n}`;
  const red = kernel.reduction === undefined ? undefined : nodes[kernel.reduction];
  if (kernel.siblings.length > 0) {
    if (red) throw new Error(`gpujs backend: kernel ${kernel.root} has siblings and a reduction`);
    // each value in turn, later ones reading earlier ones as locals; the first is the kernel's result
    const names = new Map<number, string>();
    const values = [kernel.root, ...kernel.siblings].map((id, j) => {
      const line = `const o${j} = ${renderExpr({ ...ctx(), root: id, locals: { names, at: vars } }, id, vars)};`;
      names.set(id, `o${j}`);
      return line;
    });
    return fn([...values, ...kernel.siblings.map((_, j) => `${writeOutput(j + 1)}(o${j + 1});`), 'return o0;']);
  }
  if (!red) return fn([`return ${renderExpr(ctx(), kernel.root, vars)};`]);
  const acc = { id: kernel.reduction!, name: 'acc' };
  if (isReduceNode(red)) {
    const { combine, init } = primitives[red.op].kernel;
    const inShape = nodes[red.inputs[0]].shape;
    const axes = red.attrs.axes;
    let o = 0;
    let r = 0;
    const inIdx = inShape.map((_, d) => (axes.includes(d) ? `r${r++}` : vars[o++]));
    const body = `acc = ${combine('acc', renderExpr(ctx(), red.inputs[0], inIdx))};`;
    const loops = axes.reduceRight(
      (inner, a, k) => `for (let r${k} = 0; r${k} < ${inShape[a]}; r${k}++) {\n${inner}\n}`,
      body,
    );
    return fn([`let acc = ${glslLiteral(init)};`, loops, `return ${renderExpr(ctx(acc), kernel.root, vars)};`]);
  }
  const tmpl = primitives[red.op].kernel;
  if (tmpl.kind === 'contract') {
    const K = tmpl.length(red.inputs.map((i) => nodes[i].shape));
    const [ia, ib] = tmpl.loads(vars, 'k');
    const body = `acc = acc + ${renderExpr(ctx(), red.inputs[0], ia)} * ${renderExpr(ctx(), red.inputs[1], ib)};`;
    return fn([
      `let acc = 0.0;`,
      `for (let k = 0; k < ${K}; k++) {\n${body}\n}`,
      `return ${renderExpr(ctx(acc), kernel.root, vars)};`,
    ]);
  }
  throw new Error(`gpujs backend: unsupported reduction ${red.op}`);
};
