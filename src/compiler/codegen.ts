// Renders the expression a fused kernel computes at one output index. Both backends share it: the
// primitive table's kernel templates are written in the subset of JS that gpu.js also translates,
// and a backend brings its own spellings where its language differs (literals, GLSL's tanh).

/** A number as a JavaScript literal (the cpu backend's spelling; gpu.js's GLSL needs its own). */
export const jsLiteral = (v: number): string => String(v);
import { primitiveOf } from '../dsl/primitives.ts';
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
  /** How the backend spells a number (default: jsLiteral). */
  readonly literal?: (v: number) => string;
  /**
   * Half-open ranges of index variables, known where the expression is rendered: a concat condition
   * on such a variable (plus a constant) that holds, or fails, over the whole range is decided here.
   */
  readonly ranges?: ReadonlyMap<string, readonly [number, number]>;
  /** Called with each concat condition `coord < below` left to decide per element. */
  readonly onCondition?: (coord: string, below: number) => void;
  /** Values the kernel has computed already (a multi-output kernel's earlier outputs) by node, at index `at`. */
  readonly locals?: { readonly names: ReadonlyMap<number, string>; readonly at: readonly string[] };
}

/** `v` or `(v + c)` (an index variable plus a constant) as { v, c }; undefined for anything else. */
export const affineVar = (coord: string): { v: string; c: number } | undefined => {
  const m = /^(?:([A-Za-z_$][\w$]*)|\(([A-Za-z_$][\w$]*) \+ (-?\d+)\))$/.exec(coord);
  return m ? { v: m[1] ?? m[2], c: m[1] ? 0 : Number(m[3]) } : undefined;
};

/** Whether `coord < below` holds everywhere in the known ranges ('always'), nowhere ('never'), or it depends. */
const decide = (ctx: ExprContext, coord: string, below: number): 'always' | 'never' | 'depends' => {
  const a = affineVar(coord);
  const r = a && ctx.ranges?.get(a.v);
  if (!a || !r) return 'depends';
  return r[1] + a.c <= below ? 'always' : r[0] + a.c >= below ? 'never' : 'depends';
};

export const renderExpr = (ctx: ExprContext, id: number, idx: readonly string[]): string => {
  if (ctx.acc && id === ctx.acc.id) return ctx.acc.name;
  const n = ctx.nodes[id];
  const t = primitiveOf(n.op).kernel;
  if (t.kind === 'const') return t.render(n.attrs, idx, ctx.literal ?? jsLiteral);
  const local = ctx.locals?.names.get(id);
  if (local !== undefined) {
    // siblings.ts merges only kernels that read one another at their own index
    if (idx.some((e, d) => e !== ctx.locals!.at[d]))
      throw new Error(`codegen: node ${id} read at another index than computed`);
    return local;
  }
  if (id !== ctx.root && ctx.mat[id]) return `${ctx.arg(id)}[${ravel(ctx.alg, idx, n.shape)}]`;
  switch (t.kind) {
    case 'map':
      return (ctx.maps?.[n.op] ?? t.render)(n.inputs.map((i) => renderExpr(ctx, i, idx)));
    case 'view': {
      const cases = t.index(
        ctx.alg,
        idx,
        n.attrs,
        n.inputs.map((i) => ctx.nodes[i].shape),
        n.shape,
      );
      const load = (c: (typeof cases)[number]) => renderExpr(ctx, n.inputs[c.input], c.idx);
      // concat: nested conditionals, the last case taking what is left; cases the ranges rule out are
      // dropped, and one that always holds ends the chain
      const live: typeof cases = [];
      for (const [k, c] of cases.entries()) {
        const d = k === cases.length - 1 ? 'always' : decide(ctx, c.when!.coord, c.when!.below);
        if (d !== 'never') live.push(c);
        if (d === 'always') break;
      }
      return live.slice(0, -1).reduceRight(
        (rest, c) => {
          ctx.onCondition?.(c.when!.coord, c.when!.below);
          return `(${c.when!.coord} < ${c.when!.below} ? ${load(c)} : ${rest})`;
        },
        load(live[live.length - 1]),
      );
    }
    default:
      throw new Error(`codegen: node ${id} (${n.op}) is neither materialised nor this kernel's reduction`);
  }
};
