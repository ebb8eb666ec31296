// Gradient checking, shipped with the library so users can run it on their own variants.
// One random projection per check: for a random direction t and cotangent c,
//   <t, J^T c>  ≈  <c, f(x + εt) − f(x − εt)> / 2ε     (central differences, float64).
import * as E from 'fp-ts/lib/Either.js';
import { seedRng, fillNormal, type RngState } from '../dsl/rng.ts';
import { size } from '../dsl/shape.ts';
import { mul, sum } from '../dsl/ops.ts';
import { trace, type Specs, type Inputs } from '../compiler/trace.ts';
import { grad, gradName } from '../compiler/grad.ts';
import { evaluate, type Feeds } from '../compiler/evaluate.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { shapeOf } from '../compiler/graph.ts';
import { unwrap } from '../util.ts';

export interface GradCheckOptions {
  /** Inputs to differentiate (default: all). */
  readonly wrt?: readonly string[];
  readonly eps?: number;
  readonly seed?: number;
}

export interface GradCheckResult {
  readonly analytic: number;
  readonly numeric: number;
  /** |analytic − numeric| / max(1, |analytic|, |numeric|) */
  readonly error: number;
}

const COT = '__cotangent';

/** Checks the symbolic gradient of `fn` at `at` against central differences along one random direction. */
export const gradCheck = <S extends Specs>(
  fn: (xs: Inputs<S>) => Tensor,
  specs: S,
  at: Feeds,
  opts: GradCheckOptions = {},
): E.Either<Error, GradCheckResult> => {
  const wrt = opts.wrt ?? Object.keys(specs);
  const eps = opts.eps ?? 1e-5;
  let rng: RngState = seedRng(opts.seed ?? 0);
  const draw = (n: number): Float64Array => {
    const v = new Float64Array(n);
    rng = fillNormal(rng, v);
    return v;
  };
  try {
    const g0 = unwrap(trace(fn, specs));
    const outShape = shapeOf(g0, g0.outputs.get('out')!);
    const graph = unwrap(
      trace((xs: Inputs<S> & { [COT]: Tensor }) => sum(mul(fn(xs), xs[COT])), { ...specs, [COT]: outShape } as never),
    );
    const dg = unwrap(grad(graph, 'out', wrt));
    const c = draw(size(outShape));
    const dirs = Object.fromEntries(wrt.map((n) => [n, draw(size(specs[n]))]));
    const feeds = { ...at, [COT]: c };
    const gs = unwrap(evaluate(dg, feeds));
    const analytic = wrt.reduce((acc, n) => acc + dot(dirs[n], gs[gradName(n)]), 0);
    const loss = (sign: number) =>
      unwrap(
        evaluate(graph, { ...feeds, ...Object.fromEntries(wrt.map((n) => [n, axpy(at[n], sign * eps, dirs[n])])) }),
      ).out[0];
    const numeric = (loss(1) - loss(-1)) / (2 * eps);
    return E.right({
      analytic,
      numeric,
      error: Math.abs(analytic - numeric) / Math.max(1, Math.abs(analytic), Math.abs(numeric)),
    });
  } catch (e) {
    return E.left(e as Error);
  }
};

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

const axpy = (x: ArrayLike<number>, a: number, d: ArrayLike<number>): Float64Array => {
  const out = new Float64Array(x.length);
  for (let i = 0; i < out.length; i++) out[i] = x[i] + a * d[i];
  return out;
};
