// The primitive table: the one place where an op is declared. Each entry holds its shape rule, its
// reference evaluation (float64), its vector-Jacobian rule written with the DSL's own ops, and the
// kernel template that the code generators render. Everything else in the DSL is a composite.
import type { Shape } from './shape.ts';
import { ShapeError, fmt, sameShape, size, checkShape } from './shape.ts';
import { type IndexAlgebra, numeric, ravel, unravel, reshapeIndex } from './indexing.ts';
import type { Tensor } from './tensor.ts';
import * as op from './ops.ts';

/** A load an output index makes from one input; concat chooses among several by `coord < bound`. */
export interface ViewCase<E> {
  readonly input: number;
  readonly idx: E[];
  readonly when?: { readonly coord: E; readonly below: number };
}

export type KernelTemplate<A> =
  | { readonly kind: 'buffer' }
  | { readonly kind: 'const'; render(a: A, idx: readonly string[], literal: (v: number) => string): string }
  | { readonly kind: 'map'; render(args: readonly string[]): string }
  | { readonly kind: 'reduce'; readonly init: number; combine(acc: string, x: string): string }
  | {
      readonly kind: 'view';
      index<E>(alg: IndexAlgebra<E>, outIdx: readonly E[], a: A, ins: readonly Shape[], out: Shape): ViewCase<E>[];
    }
  | {
      readonly kind: 'contract';
      loads<E>(outIdx: readonly E[], k: E): [E[], E[]];
      length(ins: readonly Shape[]): number;
    };

export interface Primitive<A> {
  readonly arity: number | 'variadic';
  shape(ins: readonly Shape[], a: A): Shape;
  evaluate(ins: readonly Float64Array[], inShapes: readonly Shape[], a: A, out: Shape): Float64Array;
  /** Cotangent of each input (null: no gradient flows, e.g. into a comparison or a leaf). */
  vjp(ct: Tensor, ins: readonly Tensor[], out: Tensor, a: A): (Tensor | null)[];
  readonly kernel: KernelTemplate<A>;
}

// ---- helpers shared by the rules below ----

const scalarFn = (render: (args: readonly string[]) => string, arity: number) => {
  const names = Array.from({ length: arity }, (_, i) => `a${i}`);
  return new Function(...names, `return ${render(names)};`) as (...xs: number[]) => number;
};

const sameShapes =
  (name: string) =>
  (ins: readonly Shape[]): Shape => {
    ins.forEach((s) => {
      if (!sameShape(s, ins[0])) throw new ShapeError(`${name}: shapes differ, got ${fmt(ins[0])} and ${fmt(s)}`);
    });
    return ins[0];
  };

const map = (
  name: string,
  arity: number,
  render: (args: readonly string[]) => string,
  vjp: Primitive<object>['vjp'],
): Primitive<object> => {
  const f = scalarFn(render, arity);
  return {
    arity,
    shape: sameShapes(name),
    evaluate: (ins) => {
      const out = new Float64Array(ins[0].length);
      for (let i = 0; i < out.length; i++) out[i] = f(...ins.map((x) => x[i]));
      return out;
    },
    vjp,
    kernel: { kind: 'map', render },
  };
};

const evalView =
  <A>(index: Extract<KernelTemplate<A>, { kind: 'view' }>['index']) =>
  (ins: readonly Float64Array[], inShapes: readonly Shape[], a: A, out: Shape): Float64Array => {
    const res = new Float64Array(size(out));
    for (let f = 0; f < res.length; f++) {
      const cases = index(numeric, unravel(numeric, f, out), a, inShapes, out);
      const c = cases.find((k) => !k.when || k.when.coord < k.when.below) ?? cases[cases.length - 1];
      res[f] = ins[c.input][ravel(numeric, c.idx, inShapes[c.input])];
    }
    return res;
  };

type Axes = { axes: readonly number[] };

const reduceShape =
  (name: string) =>
  (ins: readonly Shape[], a: Axes): Shape => {
    a.axes.forEach((ax, i) => {
      if (!Number.isInteger(ax) || ax < 0 || ax >= ins[0].length || (i > 0 && ax <= a.axes[i - 1]))
        throw new ShapeError(`${name}: axes ${fmt(a.axes)} must be sorted, distinct and within rank ${ins[0].length}`);
    });
    return ins[0].filter((_, i) => !a.axes.includes(i));
  };

const keepDims = (s: Shape, axes: readonly number[]): Shape => s.map((d, i) => (axes.includes(i) ? 1 : d));

const reduce = (
  name: string,
  init: number,
  combine: (acc: string, x: string) => string,
  vjp: Primitive<Axes>['vjp'],
): Primitive<Axes> & { readonly kernel: Extract<KernelTemplate<Axes>, { kind: 'reduce' }> } => {
  const f = scalarFn(([acc, x]) => combine(acc, x), 2);
  return {
    arity: 1,
    shape: reduceShape(name),
    evaluate: ([x], [s], a, out) => {
      const res = new Float64Array(size(out)).fill(init);
      const kept = keepDims(s, a.axes);
      for (let i = 0; i < x.length; i++) {
        const idx = unravel(numeric, i, s).map((v, d) => (a.axes.includes(d) ? 0 : v));
        const o = ravel(numeric, idx, kept);
        res[o] = f(res[o], x[i]);
      }
      return res;
    },
    vjp,
    kernel: { kind: 'reduce', init, combine },
  };
};

const view = <A>(
  arity: number | 'variadic',
  shape: Primitive<A>['shape'],
  index: Extract<KernelTemplate<A>, { kind: 'view' }>['index'],
  vjp: Primitive<A>['vjp'],
): Primitive<A> => ({ arity, shape, evaluate: evalView(index), vjp, kernel: { kind: 'view', index } });

const leaf = <A>(
  shape: (a: A) => Shape,
  kernel: KernelTemplate<A>,
  evaluate: Primitive<A>['evaluate'],
): Primitive<A> => ({
  arity: 0,
  shape: (_ins, a) => checkShape('leaf', shape(a)),
  evaluate,
  vjp: () => [],
  kernel,
});

/** Adjoint of a broadcast: sum over the axes it added or stretched, once, here and nowhere else. */
const unbroadcast = (ct: Tensor, inShape: Shape): Tensor => {
  const lead = ct.shape.length - inShape.length;
  const axes = ct.shape.flatMap((d, i) => (i < lead || (inShape[i - lead] === 1 && d !== 1) ? [i] : []));
  return op.reshape(axes.length ? op.sum(ct, axes) : ct, inShape);
};

// ---- the table ----

type ShapeA = { shape: Shape };

export const primitives = {
  input: leaf<ShapeA & { name: string }>(
    (a) => a.shape,
    { kind: 'buffer' },
    () => {
      throw new Error('input: evaluated by the interpreter from the inputs it is given');
    },
  ),
  fill: leaf<ShapeA & { value: number }>(
    (a) => a.shape,
    { kind: 'const', render: (a, _idx, literal) => literal(a.value) },
    (_i, _s, a, out) => new Float64Array(size(out)).fill(a.value),
  ),
  iota: leaf<ShapeA & { axis: number }>(
    (a) => {
      if (!(a.axis >= 0 && a.axis < a.shape.length))
        throw new ShapeError(`iota: axis ${a.axis} out of range for ${fmt(a.shape)}`);
      return a.shape;
    },
    { kind: 'const', render: (a, idx) => `(${idx[a.axis]})` },
    (_i, _s, a, out) => {
      const res = new Float64Array(size(out));
      for (let f = 0; f < res.length; f++) res[f] = unravel(numeric, f, out)[a.axis];
      return res;
    },
  ),

  exp: map(
    'exp',
    1,
    ([x]) => `Math.exp(${x})`,
    (ct, _x, y) => [op.mul(ct, y)],
  ),
  log: map(
    'log',
    1,
    ([x]) => `Math.log(${x})`,
    (ct, [x]) => [op.div(ct, x)],
  ),
  tanh: map(
    'tanh',
    1,
    ([x]) => `Math.tanh(${x})`,
    (ct, _x, y) => [op.mul(ct, op.sub(1, op.mul(y, y)))],
  ),
  sqrt: map(
    'sqrt',
    1,
    ([x]) => `Math.sqrt(${x})`,
    (ct, _x, y) => [op.mul(ct, op.div(0.5, y))],
  ),
  recip: map(
    'recip',
    1,
    ([x]) => `(1.0 / ${x})`,
    (ct, _x, y) => [op.neg(op.mul(ct, op.mul(y, y)))],
  ),
  /** Identity that the compiler always writes to a buffer: a user-chosen kernel boundary. */
  materialize: map(
    'materialize',
    1,
    ([x]) => x,
    (ct) => [ct],
  ),
  add: map(
    'add',
    2,
    ([a, b]) => `(${a} + ${b})`,
    (ct) => [ct, ct],
  ),
  mul: map(
    'mul',
    2,
    ([a, b]) => `(${a} * ${b})`,
    (ct, [a, b]) => [op.mul(ct, b), op.mul(ct, a)],
  ),
  max: map(
    'max',
    2,
    ([a, b]) => `Math.max(${a}, ${b})`,
    (ct, [a, b]) => {
      const toB = op.less(a, b); // ties send the gradient to the first operand
      return [op.mul(ct, op.sub(1, toB)), op.mul(ct, toB)];
    },
  ),
  less: map(
    'less',
    2,
    ([a, b]) => `(${a} < ${b} ? 1.0 : 0.0)`,
    () => [null, null],
  ),
  where: map(
    'where',
    3,
    ([c, a, b]) => `(${c} > 0.0 ? ${a} : ${b})`,
    (ct, [c]) => {
      const zero = op.zerosLike(ct);
      return [null, op.where(c, ct, zero), op.where(c, zero, ct)];
    },
  ),

  sum: reduce(
    'sum',
    0,
    (acc, x) => `${acc} + ${x}`,
    (ct, [x], _y, a) => [op.broadcastTo(op.reshape(ct, keepDims(x.shape, a.axes)), x.shape)],
  ),
  reduceMax: reduce(
    'reduceMax',
    -Infinity,
    (acc, x) => `Math.max(${acc}, ${x})`,
    (ct, [x], y, a) => {
      const back = (t: Tensor) => op.broadcastTo(op.reshape(t, keepDims(x.shape, a.axes)), x.shape);
      return [op.mul(back(ct), op.sub(1, op.less(x, back(y))))];
    },
  ),

  reshape: view<ShapeA>(
    1,
    ([s], a) => {
      checkShape('reshape', a.shape);
      if (size(s) !== size(a.shape))
        throw new ShapeError(
          `reshape: cannot reshape ${fmt(s)} (${size(s)} values) to ${fmt(a.shape)} (${size(a.shape)} values)`,
        );
      return a.shape;
    },
    (alg, idx, _a, [s], out) => [{ input: 0, idx: reshapeIndex(alg, idx, out, s) }],
    (ct, [x]) => [op.reshape(ct, x.shape)],
  ),

  broadcast: view<ShapeA>(
    1,
    ([s], a) => {
      const lead = a.shape.length - s.length;
      if (lead < 0 || s.some((d, i) => d !== 1 && d !== a.shape[lead + i]))
        throw new ShapeError(`broadcast: cannot broadcast ${fmt(s)} to ${fmt(a.shape)}`);
      return checkShape('broadcast', a.shape);
    },
    (alg, idx, a, [s]) => {
      const lead = a.shape.length - s.length;
      return [{ input: 0, idx: s.map((d, i) => (d === 1 ? alg.lit(0) : idx[lead + i])) }];
    },
    (ct, [x]) => [unbroadcast(ct, x.shape)],
  ),

  permute: view<{ perm: readonly number[] }>(
    1,
    ([s], a) => {
      const ok = a.perm.length === s.length && [...a.perm].sort((p, q) => p - q).every((p, i) => p === i);
      if (!ok) throw new ShapeError(`permute: ${fmt(a.perm)} is not a permutation of the axes of ${fmt(s)}`);
      return a.perm.map((p) => s[p]);
    },
    (_alg, idx, a) => {
      const inIdx = new Array(a.perm.length);
      a.perm.forEach((p, i) => (inIdx[p] = idx[i]));
      return [{ input: 0, idx: inIdx }];
    },
    (ct, _x, _y, a) => {
      const inv = new Array<number>(a.perm.length);
      a.perm.forEach((p, i) => (inv[p] = i));
      return [op.permute(ct, inv)];
    },
  ),

  slice: view<{ begin: readonly number[]; end: readonly number[] }>(
    1,
    ([s], a) => {
      const ok =
        a.begin.length === s.length &&
        a.end.length === s.length &&
        s.every((d, i) => a.begin[i] >= 0 && a.begin[i] < a.end[i] && a.end[i] <= d);
      if (!ok)
        throw new ShapeError(`slice: [${fmt(a.begin)}, ${fmt(a.end)}) is not a non-empty range within ${fmt(s)}`);
      return s.map((_, i) => a.end[i] - a.begin[i]);
    },
    (alg, idx, a) => [{ input: 0, idx: idx.map((e, i) => alg.add(e, alg.lit(a.begin[i]))) }],
    (ct, [x], _y, a) => {
      // the adjoint pads with zeros, axis by axis
      let g = ct;
      x.shape.forEach((d, ax) => {
        const before = a.begin[ax];
        const after = d - a.end[ax];
        const pad = (n: number) =>
          op.fill(
            g.shape.map((e, i) => (i === ax ? n : e)),
            0,
          );
        const parts = [...(before ? [pad(before)] : []), g, ...(after ? [pad(after)] : [])];
        if (parts.length > 1) g = op.concat(parts, ax);
      });
      return [g];
    },
  ),

  concat: view<{ axis: number }>(
    'variadic',
    (ins, a) => {
      if (ins.length === 0) throw new ShapeError('concat: needs at least one operand');
      const r = ins[0].length;
      if (!(a.axis >= 0 && a.axis < r)) throw new ShapeError(`concat: axis ${a.axis} out of range for rank ${r}`);
      ins.forEach((s) => {
        if (s.length !== r || s.some((d, i) => i !== a.axis && d !== ins[0][i]))
          throw new ShapeError(`concat: shapes differ off axis ${a.axis}, got ${fmt(ins[0])} and ${fmt(s)}`);
      });
      return ins[0].map((d, i) => (i === a.axis ? ins.reduce((acc, s) => acc + s[i], 0) : d));
    },
    (alg, idx, a, ins) => {
      let offset = 0;
      return ins.map((s, input) => {
        const at = offset;
        offset += s[a.axis];
        return {
          input,
          idx: idx.map((e, i) => (i === a.axis ? alg.add(e, alg.lit(-at)) : e)),
          when: { coord: idx[a.axis], below: offset },
        };
      });
    },
    (ct, ins, _y, a) => {
      let offset = 0;
      return ins.map((x) => {
        const begin = ct.shape.map((_, i) => (i === a.axis ? offset : 0));
        offset += x.shape[a.axis];
        return op.slice(
          ct,
          begin,
          ct.shape.map((d, i) => (i === a.axis ? offset : d)),
        );
      });
    },
  ),

  matmul: {
    arity: 2,
    shape: ([a, b]: readonly Shape[], _attrs: object) => {
      const r = a.length;
      if (r < 2 || b.length !== r || a.slice(0, -2).some((d, i) => d !== b[i]) || a[r - 1] !== b[r - 2])
        throw new ShapeError(`matmul: inner dimensions differ, got ${fmt(a)} and ${fmt(b)}`);
      return [...a.slice(0, -1), b[r - 1]];
    },
    evaluate: ([x, y]: readonly Float64Array[], [sa, sb]: readonly Shape[], _a: object, out: Shape) => {
      const r = sa.length;
      const [m, k, n] = [sa[r - 2], sa[r - 1], sb[r - 1]];
      const res = new Float64Array(size(out));
      for (let b = 0; b < size(out) / (m * n); b++)
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let acc = 0;
            for (let p = 0; p < k; p++) acc += x[b * m * k + i * k + p] * y[b * k * n + p * n + j];
            res[b * m * n + i * n + j] = acc;
          }
      return res;
    },
    vjp: (ct: Tensor, [a, b]: readonly Tensor[]) => [op.matmul(ct, op.transpose(b)), op.matmul(op.transpose(a), ct)],
    kernel: {
      kind: 'contract',
      loads: <E>(idx: readonly E[], k: E): [E[], E[]] => [
        [...idx.slice(0, -1), k],
        [...idx.slice(0, -2), k, idx[idx.length - 1]],
      ],
      length: (ins: readonly Shape[]) => ins[0][ins[0].length - 1],
    },
  } satisfies Primitive<object>,
};

export type PrimName = keyof typeof primitives;
export type AttrsOf<P extends PrimName> = Parameters<(typeof primitives)[P]['shape']>[1];

export const primitiveNames = Object.keys(primitives) as PrimName[];

/**
 * Primitive `op`'s row, typed by its own attributes. The one cast: TypeScript cannot relate the table's
 * entry for a generic key to its attributes, and the table's own `satisfies` checks each row.
 */
export const primitiveOf = <P extends PrimName>(op: P): Primitive<AttrsOf<P>> =>
  primitives[op] as unknown as Primitive<AttrsOf<P>>;
