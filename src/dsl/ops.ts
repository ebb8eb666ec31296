// The DSL's user-facing ops: thin wrappers over the primitives that add numpy broadcasting and
// number-to-constant promotion. Shapes flow through the types where callers use literal shapes.
import type { Shape } from './shape.ts';
import { ShapeError, broadcastShapes, fmt, normAxis, sameShape } from './shape.ts';
import { emit, type Tensor } from './tensor.ts';

export type Operand = Tensor | number;

export const fill = <S extends Shape>(shape: S, value: number): Tensor<S> =>
  emit('fill', [], { shape, value }) as Tensor<S>;
export const iota = <S extends Shape>(shape: S, axis: number): Tensor<S> =>
  emit('iota', [], { shape, axis: normAxis('iota', axis, shape.length) }) as Tensor<S>;
export const zerosLike = <S extends Shape>(t: Tensor<S>): Tensor<S> => fillLike(t, 0);
const fillLike = <S extends Shape>(t: Tensor<S>, value: number): Tensor<S> =>
  emit('fill', [], { shape: t.shape, value }, t.builder) as Tensor<S>;
const scalarIn = (t: Tensor, value: number): Tensor => emit('fill', [], { shape: [], value }, t.builder);

export const reshape = <S extends Shape>(x: Tensor, shape: S): Tensor<S> =>
  (sameShape(x.shape, shape) ? x : emit('reshape', [x], { shape })) as Tensor<S>;

export const broadcastTo = <S extends Shape>(x: Tensor, shape: S): Tensor<S> =>
  (sameShape(x.shape, shape) ? x : emit('broadcast', [x], { shape })) as Tensor<S>;

export const permute = (x: Tensor, perm: readonly number[]): Tensor =>
  perm.every((p, i) => p === i) && perm.length === x.shape.length ? x : emit('permute', [x], { perm });

/** Swaps the last two axes. */
export function transpose<M extends number, N extends number>(x: Tensor<readonly [M, N]>): Tensor<readonly [N, M]>;
export function transpose(x: Tensor): Tensor;
export function transpose(x: Tensor): Tensor {
  const r = x.shape.length;
  if (r < 2) throw new ShapeError(`transpose: needs rank ≥ 2, got ${fmt(x.shape)}`);
  return permute(x, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
}

export const slice = (x: Tensor, begin: readonly number[], end: readonly number[]): Tensor =>
  begin.every((b, i) => b === 0 && end[i] === x.shape[i]) ? x : emit('slice', [x], { begin, end });

/** Slice `[start, stop)` along one axis. */
export const sliceAxis = (x: Tensor, axis: number, start: number, stop: number): Tensor => {
  const ax = normAxis('sliceAxis', axis, x.shape.length);
  return slice(
    x,
    x.shape.map((_, i) => (i === ax ? start : 0)),
    x.shape.map((d, i) => (i === ax ? stop : d)),
  );
};

export const concat = (xs: readonly Tensor[], axis: number): Tensor => {
  if (xs.length === 1) return xs[0];
  if (xs.length === 0) throw new ShapeError('concat: needs at least one operand');
  return emit('concat', xs, { axis: normAxis('concat', axis, xs[0].shape.length) });
};

const lift = (x: Operand, like: Tensor): Tensor => (typeof x === 'number' ? scalarIn(like, x) : x);

/** Brings operands to one broadcast shape (numbers become constants of the other operand's trace). */
const broadcastAll = (name: string, xs: readonly Operand[]): Tensor[] => {
  const anchor = xs.find((x): x is Tensor => typeof x !== 'number');
  if (!anchor) throw new Error(`${name}: needs at least one tensor operand`);
  const ts = xs.map((x) => lift(x, anchor));
  const shape = ts.reduce<Shape>((s, t) => broadcastShapes(name, s, t.shape), []);
  return ts.map((t) => broadcastTo(t, shape));
};

const binary =
  (name: 'add' | 'mul' | 'max' | 'less') =>
  (a: Operand, b: Operand): Tensor =>
    emit(name, broadcastAll(name, [a, b]), {});

export const add = binary('add');
export const mul = binary('mul');
export const maximum = binary('max');
/** 1 where a < b, else 0 (no gradient). */
export const less = binary('less');
export const where = (c: Operand, a: Operand, b: Operand): Tensor =>
  emit('where', broadcastAll('where', [c, a, b]), {});

export const exp = (x: Tensor): Tensor => emit('exp', [x], {});
/** Forces a kernel boundary: `x` is computed once into a buffer, whatever fusion would decide. */
export const materialize = <S extends Shape>(x: Tensor<S>): Tensor<S> => emit('materialize', [x], {}) as Tensor<S>;
export const log = (x: Tensor): Tensor => emit('log', [x], {});
export const tanh = (x: Tensor): Tensor => emit('tanh', [x], {});
export const recip = (x: Tensor): Tensor => emit('recip', [x], {});
export const sqrt = (x: Tensor): Tensor => emit('sqrt', [x], {});

export const neg = (x: Tensor): Tensor => mul(x, -1);
export const sub = (a: Operand, b: Operand): Tensor => add(a, typeof b === 'number' ? -b : neg(b));
export const div = (a: Operand, b: Operand): Tensor => mul(a, typeof b === 'number' ? 1 / b : recip(b));

const axesOf = (name: string, x: Tensor, axes?: number | readonly number[]): number[] => {
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => normAxis(name, a, x.shape.length)))].sort((p, q) => p - q);
};

const keep = (x: Tensor, axes: number[], r: Tensor, keepDims: boolean): Tensor =>
  keepDims
    ? reshape(
        r,
        x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
      )
    : r;

/** Sum over `axes` (all by default); `keepDims` leaves them as size 1. */
export const sum = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => {
  const ax = axesOf('sum', x, axes);
  return keep(x, ax, ax.length ? emit('sum', [x], { axes: ax }) : x, keepDims);
};

export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => {
  const ax = axesOf('max', x, axes);
  return keep(x, ax, ax.length ? emit('reduceMax', [x], { axes: ax }) : x, keepDims);
};

/** Matrix product over the last two axes; leading (batch) axes broadcast. */
export function matmul<M extends number, K extends number, N extends number>(
  a: Tensor<readonly [M, K]>,
  b: Tensor<readonly [K, N]>,
): Tensor<readonly [M, N]>;
export function matmul(a: Tensor, b: Tensor): Tensor;
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length < 2 || b.shape.length < 2 || a.shape[a.shape.length - 1] !== b.shape[b.shape.length - 2])
    throw new ShapeError(`matmul: inner dimensions differ, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const r = batch.length + 2;
  const lift2 = (t: Tensor) =>
    broadcastTo(reshape(t, [...Array(r - t.shape.length).fill(1), ...t.shape]), [...batch, ...t.shape.slice(-2)]);
  return emit('matmul', [lift2(a), lift2(b)], {});
}
