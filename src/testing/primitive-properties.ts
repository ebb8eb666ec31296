// fast-check generators and properties for the primitives, shipped so that users can run the same
// checks on their own ops and model variants. `primitiveCases` must cover every primitive: the test
// suite fails for a primitive that has no case here.
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import type { Shape } from '../dsl/shape.ts';
import { size } from '../dsl/shape.ts';
import type { PrimName } from '../dsl/primitives.ts';
import type { Tensor } from '../dsl/tensor.ts';
import * as op from '../dsl/ops.ts';
import { emit } from '../dsl/tensor.ts';
import { trace, type Specs } from '../compiler/trace.ts';
import { evaluate } from '../compiler/evaluate.ts';
import { shapeOf } from '../compiler/graph.ts';
import { gradCheck, type GradCheckResult } from './gradcheck.ts';

/** A function of named inputs, the point to check it at, and which inputs carry gradients. */
export interface OpCase {
  readonly label: string;
  readonly specs: Specs;
  readonly fn: (xs: Readonly<Record<string, Tensor>>) => Tensor;
  readonly feeds: Readonly<Record<string, Float64Array>>;
  readonly wrt: readonly string[];
}

export const arbShape = (maxRank = 3, maxDim = 4, minRank = 1): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });

export const arbValues = (shape: Shape, min = -2, max = 2): fc.Arbitrary<Float64Array> =>
  fc
    .array(fc.double({ min, max, noNaN: true }), { minLength: size(shape), maxLength: size(shape) })
    .map((v) => Float64Array.from(v));

/** Values at least `gap` apart from each other, shuffled: keeps max and comparisons off their kinks. */
const arbDistinct = (shape: Shape, gap = 0.05, offset = 0): fc.Arbitrary<Float64Array> =>
  fc
    .shuffledSubarray([...Array(size(shape)).keys()], { minLength: size(shape), maxLength: size(shape) })
    .map((perm) => Float64Array.from(perm, (p) => (p - size(shape) / 2) * gap * 2 + offset));

const unary = (
  label: string,
  f: (x: Tensor) => Tensor,
  min: number,
  max: number,
  signed = false,
): fc.Arbitrary<OpCase> =>
  arbShape().chain((s) =>
    fc
      .tuple(arbValues(s, min, max), fc.array(fc.boolean(), { minLength: size(s), maxLength: size(s) }))
      .map(([v, sg]) => ({
        label,
        specs: { x: s },
        fn: ({ x }) => f(x),
        wrt: ['x'],
        feeds: { x: signed ? v.map((e, i) => (sg[i] ? -e : e)) : v },
      })),
  );

/** Two operands whose shapes broadcast against each other (some dims of b set to 1 or dropped). */
const arbBroadcastPair = fc
  .tuple(arbShape(), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 2 }))
  .map(([s, ones, drop]) => [s, s.map((d, i) => (ones[i] ? 1 : d)).slice(Math.min(drop, s.length - 1))] as const);

const binary = (label: string, f: (a: Tensor, b: Tensor) => Tensor, distinct = false): fc.Arbitrary<OpCase> =>
  arbBroadcastPair.chain(([sa, sb]) =>
    fc
      .tuple(distinct ? arbDistinct(sa) : arbValues(sa), distinct ? arbDistinct(sb, 0.031, 0.0173) : arbValues(sb))
      .map(([a, b]) => ({
        label,
        specs: { a: sa, b: sb },
        fn: ({ a: x, b: y }) => f(x, y),
        wrt: ['a', 'b'],
        feeds: { a, b },
      })),
  );

const arbAxes = (rank: number) => fc.subarray([...Array(rank).keys()], { minLength: 1 });

const withShape = (
  label: string,
  gen: (s: number[]) => fc.Arbitrary<(x: Tensor) => Tensor>,
  distinct = false,
  maxRank = 3,
) =>
  arbShape(maxRank).chain((s) =>
    fc.tuple(gen(s), distinct ? arbDistinct(s) : arbValues(s)).map(
      ([f, v]) =>
        ({
          label,
          specs: { x: s },
          fn: ({ x }: Readonly<Record<string, Tensor>>) => f(x),
          wrt: ['x'],
          feeds: { x: v },
        }) as OpCase,
    ),
  );

const factor = (n: number): fc.Arbitrary<number[]> => {
  const divisors = [...Array(n).keys()].map((i) => i + 1).filter((d) => n % d === 0);
  return fc.constantFrom(...divisors).map((d) => (d === 1 || d === n ? [n] : [d, n / d]));
};

export const primitiveCases: { readonly [P in PrimName]: fc.Arbitrary<OpCase> } = {
  input: unary('input', (x) => x, -2, 2),
  fill: fc
    .tuple(fc.double({ min: -3, max: 3, noNaN: true }))
    .chain(([v]) => unary('fill', (x) => op.mul(x, op.fill(x.shape, v)), -2, 2)),
  iota: withShape('iota', (s) =>
    fc.integer({ min: 0, max: s.length - 1 }).map((ax) => (x) => op.mul(x, op.iota(x.shape, ax))),
  ),
  exp: unary('exp', op.exp, -3, 3),
  materialize: unary('materialize', (x) => op.exp(op.materialize(x)), -2, 2),
  log: unary('log', op.log, 0.3, 4),
  tanh: unary('tanh', op.tanh, -3, 3),
  sqrt: unary('sqrt', op.sqrt, 0.3, 4),
  recip: unary('recip', op.recip, 0.3, 3, true),
  add: binary('add', op.add),
  mul: binary('mul', op.mul),
  max: binary('max', op.maximum, true),
  less: binary('less', (a, b) => op.mul(op.less(a, b), op.add(a, b)), true),
  where: arbShape().chain((s) =>
    fc
      .tuple(arbValues(s), arbValues(s), fc.array(fc.boolean(), { minLength: size(s), maxLength: size(s) }))
      .map(([a, b, c]) => ({
        label: 'where',
        specs: { c: s, a: s, b: s },
        fn: ({ c: k, a: x, b: y }) => op.where(k, x, y),
        wrt: ['a', 'b'],
        feeds: { a, b, c: Float64Array.from(c, (v) => (v ? 1 : 0)) },
      })),
  ),
  sum: withShape('sum', (s) => arbAxes(s.length).map((ax) => (x) => op.sum(x, ax))),
  reduceMax: withShape('reduceMax', (s) => arbAxes(s.length).map((ax) => (x) => op.max(x, ax)), true),
  reshape: withShape('reshape', (s) => factor(size(s)).map((t) => (x) => emit('reshape', [x], { shape: [...t, 1] }))),
  broadcast: withShape('broadcast', (s) =>
    fc
      .tuple(fc.integer({ min: 1, max: 3 }), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }))
      .map(([lead, keep]) => (x) => {
        // stretch the axes summed to size 1 back out, and add a leading axis
        const axes = keep.flatMap((k, i) => (k ? [] : [i]));
        return emit('broadcast', [axes.length ? op.sum(x, axes, true) : x], { shape: [lead, ...x.shape] });
      }),
  ),
  permute: withShape('permute', (s) =>
    fc
      .shuffledSubarray([...Array(s.length).keys()], { minLength: s.length, maxLength: s.length })
      .map((perm) => (x) => emit('permute', [x], { perm })),
  ),
  slice: withShape('slice', (s) =>
    fc.tuple(...s.map((d) => fc.tuple(fc.integer({ min: 0, max: d - 1 }), fc.integer({ min: 1, max: d })))).map(
      (r) => (x) =>
        emit('slice', [x], {
          begin: r.map(([a, b]) => Math.min(a, b - 1)),
          end: r.map(([a, b]) => Math.max(b, Math.min(a, b - 1) + 1)),
        }),
    ),
  ),
  concat: fc
    .tuple(arbShape(3, 3), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 }))
    .chain(([s, axRaw, extra]) => {
      const ax = axRaw % s.length;
      const s2 = s.map((d, i) => (i === ax ? extra : d));
      return fc.tuple(arbValues(s), arbValues(s2)).map(([a, b]) => ({
        label: 'concat',
        specs: { a: s, b: s2 },
        fn: ({ a: x, b: y }) => op.concat([x, y, x], ax),
        wrt: ['a', 'b'],
        feeds: { a, b },
      }));
    }),
  matmul: fc
    .tuple(
      arbShape(1, 3, 0),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 4 }),
    )
    .chain(([batch, m, k, n]) =>
      fc.tuple(arbValues([...batch, m, k]), arbValues([...batch, k, n])).map(([a, b]) => ({
        label: 'matmul',
        specs: { a: [...batch, m, k], b: [...batch, k, n] },
        fn: ({ a: x, b: y }) => op.matmul(x, y),
        wrt: ['a', 'b'],
        feeds: { a, b },
      })),
    ),
};

/** The shape rule agrees with the evaluation: the output holds exactly size(shape) finite values. */
export const shapeAgrees = (c: OpCase): boolean => {
  const g = trace(c.fn as never, c.specs);
  if (E.isLeft(g)) throw g.left;
  const out = evaluate(g.right, c.feeds);
  if (E.isLeft(out)) throw out.left;
  const v = out.right.out;
  return v.length === size(shapeOf(g.right, g.right.outputs.get('out')!)) && v.every(Number.isFinite);
};

/** Symbolic gradient of a case against central differences; throws with the case's label on failure. */
export const gradientAgrees = (c: OpCase, tolerance = 1e-6): GradCheckResult => {
  const r = gradCheck(c.fn as never, c.specs, c.feeds, { wrt: c.wrt });
  if (E.isLeft(r)) throw r.left;
  if (!(r.right.error <= tolerance))
    throw new Error(
      `${c.label}: gradient check failed, analytic ${r.right.analytic} vs numeric ${r.right.numeric} (shapes ${JSON.stringify(c.specs)})`,
    );
  return r.right;
};
