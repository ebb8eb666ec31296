// Renders the expression a fused kernel computes at one output index. Both backends share it: the
// primitive table's kernel templates are written in the subset of JS that gpu.js also translates.
import { primitives } from '../dsl/primitives.ts';
import { ravel, type IndexAlgebra } from '../dsl/indexing.ts';
import type { Node } from '../dsl/tensor.ts';

export interface ExprContext {
  readonly nodes: readonly Node[];
  readonly mat: Uint8Array;
  readonly root: number;
  readonly alg: IndexAlgebra<string>;
  /** Name of the buffer argument holding a materialised node. */
  readonly arg: (id: number) => string;
  /** The kernel's reduction, rendered as its accumulator variable. */
  readonly acc?: { readonly id: number; readonly name: string };
  /** A backend's own renderings of elementwise primitives, by op (the primitive table's otherwise). */
  readonly maps?: Readonly<Record<string, (args: readonly string[]) => string>>;
}

export const renderExpr = (ctx: ExprContext, id: number, idx: readonly string[]): string => {
  if (ctx.acc && id === ctx.acc.id) return ctx.acc.name;
  const n = ctx.nodes[id];
  const t = primitives[n.op].kernel;
  if (t.kind === 'const') return t.render(n.attrs as never, idx);
  if (id !== ctx.root && ctx.mat[id]) return `${ctx.arg(id)}[${ravel(ctx.alg, idx, n.shape)}]`;
  switch (t.kind) {
    case 'map':
      return (ctx.maps?.[n.op] ?? t.render)(n.inputs.map((i) => renderExpr(ctx, i, idx)));
    case 'view': {
      const cases = t.index(ctx.alg, idx, n.attrs as never, n.inputs.map((i) => ctx.nodes[i].shape), n.shape);
      const load = (k: number) => renderExpr(ctx, n.inputs[cases[k].input], cases[k].idx);
      // concat: nested conditionals, the last case taking what is left
      return cases.slice(0, -1).reduceRight((rest, c, k) => `(${c.when!.coord} < ${c.when!.below} ? ${load(k)} : ${rest})`, load(cases.length - 1));
    }
    default:
      throw new Error(`codegen: node ${id} (${n.op}) is neither materialised nor this kernel's reduction`);
  }
};
