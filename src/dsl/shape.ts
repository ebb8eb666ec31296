// Shapes are plain readonly tuples. Where a caller writes literal shapes (`[100, 784] as const`) the
// types carry them through the ops, so e.g. matmul([B,K],[K,N]) is [B,N] to the type checker too;
// every op also checks at trace time and names itself and both shapes when they disagree.

export type Shape = readonly number[];

export class ShapeError extends Error {
  override name = 'ShapeError';
}

export const fmt = (s: Shape): string => `[${s.join(',')}]`;

export const size = (s: Shape): number => s.reduce((a, b) => a * b, 1);

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Row-major strides. */
export const strides = (s: Shape): number[] => {
  const out = new Array<number>(s.length);
  let acc = 1;
  for (let i = s.length - 1; i >= 0; i--) {
    out[i] = acc;
    acc *= s[i];
  }
  return out;
};

/** numpy broadcasting: right-aligned, each pair equal or one of them 1. */
export const broadcastShapes = (op: string, a: Shape, b: Shape): Shape => {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new ShapeError(`${op}: cannot broadcast ${fmt(a)} with ${fmt(b)}`);
    out.push(da === 1 ? db : da);
  }
  return out;
};

export const normAxis = (op: string, axis: number, rank: number): number => {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank)
    throw new ShapeError(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
};

export const checkShape = (op: string, s: Shape): Shape => {
  if (!s.every((d) => Number.isInteger(d) && d > 0))
    throw new ShapeError(`${op}: dimensions must be positive integers, got ${fmt(s)}`);
  return s;
};
