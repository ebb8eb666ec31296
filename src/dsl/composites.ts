// Composites: functions written with the primitives only. They need no gradient or kernel code of
// their own; differentiation and compilation see through them.
import { ShapeError, fmt } from './shape.ts';
import type { Tensor } from './tensor.ts';
import { add, div, exp, log, matmul, max, maximum, mul, neg, reshape, sub, sum, tanh } from './ops.ts';

/** σ(x) through tanh, so neither the value nor its gradient overflows for large |x|. */
export const sigmoid = (x: Tensor): Tensor => add(0.5, mul(0.5, tanh(mul(x, 0.5))));

/** log(1 + eˣ) = max(x, 0) + log(1 + e^−|x|): exact for large |x| of either sign. */
export const softplus = (x: Tensor): Tensor => add(maximum(x, 0), log(add(1, exp(neg(abs(x))))));

export const abs = (x: Tensor): Tensor => maximum(x, neg(x));
export const square = (x: Tensor): Tensor => mul(x, x);
export const relu = (x: Tensor): Tensor => maximum(x, 0);

export const mean = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => {
  const s = sum(x, axes, keepDims);
  return div(s, x.shape.reduce((a, b) => a * b, 1) / s.shape.reduce((a, b) => a * b, 1));
};

/** log Σ eˣ over `axis`, shifted by the maximum so it never overflows. */
export const logsumexp = (x: Tensor, axis: number, keepDims = false): Tensor => {
  const m = max(x, axis, true);
  const r = add(log(sum(exp(sub(x, m)), axis, true)), m);
  return keepDims
    ? r
    : reshape(
        r,
        r.shape.filter((_, i) => i !== (axis < 0 ? axis + x.shape.length : axis)),
      );
};

export const softmax = (x: Tensor, axis: number): Tensor => {
  const e = exp(sub(x, max(x, axis, true)));
  return div(e, sum(e, axis, true));
};

/** x·W + b for x [batch, in], W [in, out], b [out]; typed through when the shapes are literal. */
export function linear<B extends number, I extends number, O extends number>(
  x: Tensor<readonly [B, I]>,
  w: Tensor<readonly [I, O]>,
  b?: Tensor<readonly [O]>,
): Tensor<readonly [B, O]>;
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor;
export function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  if (x.shape.length !== 2 || w.shape.length !== 2 || x.shape[1] !== w.shape[0])
    throw new ShapeError(`linear: input ${fmt(x.shape)} does not match weight ${fmt(w.shape)}`);
  if (b && (b.shape.length !== 1 || b.shape[0] !== w.shape[1]))
    throw new ShapeError(`linear: bias ${fmt(b.shape)} does not match weight ${fmt(w.shape)}`);
  const y = matmul(x, w);
  return b ? add(y, b) : y;
}

/** Binary cross-entropy of targets t ∈ [0,1] against logits: softplus(l) − t·l, stable for any l. */
export const bceWithLogits = (logits: Tensor, t: Tensor): Tensor => sub(softplus(logits), mul(t, logits));
