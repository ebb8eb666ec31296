// One training step as ONE graph: loss, its gradient, clipping and the optimiser update are traced
// together, so the compiler sees (and fuses across) the whole step and the host just loops feeding
// outputs back as inputs. Names are the contract with the host:
//   inputs   <param>, opt.<slot>.<param>, <data>, step (1-based, scalar)
//   outputs  loss, gradNorm (before clipping), param.<param>, opt.<slot>.<param>
// State keeps the same name in and out, so a step's `opt.*` outputs are the next step's feeds and
// the names under which they are checkpointed.
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { Shape } from '../dsl/shape.ts';
import { fmt, sameShape } from '../dsl/shape.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { add, mul, sum } from '../dsl/ops.ts';
import { abs } from '../dsl/composites.ts';
import { trace, TraceError, type Inputs, type Specs } from '../compiler/trace.ts';
import { grad, gradName } from '../compiler/grad.ts';
import { inline, type Graph } from '../compiler/graph.ts';
import { clipByGlobalNorm, globalNorm } from './clip.ts';
import type { Optimizer, Tensors } from './optimizer.ts';

export const STEP = 'step';
export const LOSS = 'loss';
export const GRAD_NORM = 'gradNorm';
/** With `paramCheck`: Σ|θ| over the updated parameters, finite exactly when each is (short of magnitudes only a diverged run reaches). */
export const PARAM_CHECK = 'paramCheck';
const PARAM_PREFIX = 'param.';
const OPT_PREFIX = 'opt.';

/** Output name of a parameter's new value. */
export const paramOut = (param: string): string => PARAM_PREFIX + param;
/** Graph (and checkpoint) name of an optimiser state key: `m.w` → `opt.m.w`. */
export const optName = (key: string): string => OPT_PREFIX + key;
export const isOptName = (name: string): boolean => name.startsWith(OPT_PREFIX);

export type LossFn<P extends Specs, D extends Specs> = (params: Inputs<P>, data: Inputs<D>) => Tensor;

export interface TrainStepOptions {
  /** Clip gradients to this global norm before the update. */
  readonly clip?: number;
  /**
   * Also output `paramCheck`: what a loop that does not read the new parameters back every step
   * (a device-resident one) checks instead of every value.
   */
  readonly paramCheck?: boolean;
}

const prefixKeys = <V>(prefix: string, r: Readonly<Record<string, V>>): Record<string, V> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [prefix + k, v]));

const pick = (xs: Tensors, names: readonly string[]): Record<string, Tensor> =>
  Object.fromEntries(names.map((n) => [n, xs[n]]));

/** Optimiser state shapes under their graph names. */
export const optSpecs = (paramSpecs: Specs, optimizer: Optimizer): Record<string, Shape> =>
  prefixKeys(OPT_PREFIX, optimizer.stateSpecs(paramSpecs));

/** The step graph's input shapes. */
export const stepSpecs = (paramSpecs: Specs, dataSpecs: Specs, optimizer: Optimizer): Record<string, Shape> => ({
  ...paramSpecs,
  ...optSpecs(paramSpecs, optimizer),
  ...dataSpecs,
  [STEP]: [],
});

/** Inputs share one namespace, so a clash would silently alias two tensors: refuse it up front. */
const checkNames = (paramSpecs: Specs, dataSpecs: Specs): E.Either<TraceError, void> => {
  const params = Object.keys(paramSpecs);
  const data = Object.keys(dataSpecs);
  const problem =
    params.length === 0
      ? 'no parameters to train'
      : (params.filter((n) => data.includes(n)).map((n) => `'${n}' is both a parameter and a data input`)[0] ??
        [...params, ...data].filter((n) => n === STEP).map(() => `'${STEP}' is reserved for the step number`)[0] ??
        [...params, ...data]
          .filter(isOptName)
          .map((n) => `'${n}': names starting '${OPT_PREFIX}' are reserved for optimiser state`)[0]);
  return problem ? E.left(new TraceError(`trainStep: ${problem}`)) : E.right(undefined);
};

/** An optimiser must hand back exactly the state it declared, shape for shape. */
const checkState = (opt: string, want: Readonly<Record<string, Shape>>, got: Tensors): void => {
  const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
  keys.forEach((k) => {
    if (!want[k] || !got[k])
      throw new TraceError(`trainStep: ${opt} ${want[k] ? 'did not return' : 'returned undeclared'} state '${k}'`);
    if (!sameShape(want[k], got[k].shape))
      throw new TraceError(`trainStep: ${opt} state '${k}' has shape ${fmt(got[k].shape)}, declared ${fmt(want[k])}`);
  });
};

/** The loss and its gradient with respect to every parameter: outputs `loss` and `grad.<param>`. */
export const gradientStep = <P extends Specs, D extends Specs>(
  lossFn: LossFn<P, D>,
  paramSpecs: P,
  dataSpecs: D,
): E.Either<Error, Graph> => {
  const pnames = Object.keys(paramSpecs);
  const dnames = Object.keys(dataSpecs);
  return pipe(
    checkNames(paramSpecs, dataSpecs),
    E.chainW(() =>
      trace((xs: Tensors) => ({ [LOSS]: lossFn(pick(xs, pnames) as Inputs<P>, pick(xs, dnames) as Inputs<D>) }), {
        ...paramSpecs,
        ...dataSpecs,
      }),
    ),
    E.chainW((g) => grad(g, LOSS, pnames)),
  );
};

/** Clipping and the optimiser's update of `params` by `grads`, with state and step read from `xs`. */
const applyUpdate = (
  paramSpecs: Specs,
  optimizer: Optimizer,
  opts: TrainStepOptions,
  params: Tensors,
  grads: Tensors,
  xs: Tensors,
): Record<string, Tensor> => {
  const declared = optimizer.stateSpecs(paramSpecs);
  const clipped = opts.clip === undefined ? { grads, norm: globalNorm(grads) } : clipByGlobalNorm(grads, opts.clip);
  const state = Object.fromEntries(Object.keys(declared).map((k) => [k, xs[optName(k)]]));
  const next = optimizer.update(params, clipped.grads, state, xs[STEP]);
  checkState(optimizer.name, declared, next.state);
  // State outputs in declared order (= the input order), whatever order the update built them in.
  const nextState = pick(next.state, Object.keys(declared));
  const check: Record<string, Tensor> = opts.paramCheck
    ? {
        [PARAM_CHECK]: Object.values(next.params)
          .map((p) => sum(abs(p)))
          .reduce((a, b) => add(a, b)),
      }
    : {};
  return {
    [GRAD_NORM]: clipped.norm,
    ...check,
    ...prefixKeys(PARAM_PREFIX, next.params),
    ...prefixKeys(OPT_PREFIX, nextState),
  };
};

/**
 * Traces the loss, differentiates it with respect to every parameter, and traces the step graph
 * that inlines that gradient graph, clips (optionally), and applies `optimizer`.
 */
export const trainStep = <P extends Specs, D extends Specs>(
  lossFn: LossFn<P, D>,
  paramSpecs: P,
  dataSpecs: D,
  optimizer: Optimizer,
  opts: TrainStepOptions = {},
): E.Either<Error, Graph> => {
  const pnames = Object.keys(paramSpecs);
  const dnames = Object.keys(dataSpecs);
  return pipe(
    gradientStep(lossFn, paramSpecs, dataSpecs),
    E.chainW((dg) =>
      trace(
        (xs: Tensors) => {
          const params = pick(xs, pnames);
          const out = inline(dg, { ...params, ...pick(xs, dnames) });
          const grads = Object.fromEntries(pnames.map((p) => [p, out[gradName(p)]]));
          return { [LOSS]: out[LOSS], ...applyUpdate(paramSpecs, optimizer, opts, params, grads, xs) };
        },
        stepSpecs(paramSpecs, dataSpecs, optimizer),
      ),
    ),
  );
};

/** Input name of shard k's gradient of `param` in a data-parallel update step. */
export const shardGradName = (param: string, k: number): string => `shard${k}.${gradName(param)}`;

/**
 * The update half of a step whose gradient was computed elsewhere: inputs params, `opt.*`, step and
 * the gradient, as `grad.<param>`, or with `shardWeights` (data-parallel training: each shard's
 * size over the batch's) one per shard, `shard<k>.grad.<param>`, combined here as Σ_k w_k·g_k, in
 * shard order, inside the update's kernels; outputs gradNorm, `param.*`, `opt.*`.
 */
export const updateStep = (
  paramSpecs: Specs,
  optimizer: Optimizer,
  opts: TrainStepOptions = {},
  shardWeights?: readonly number[],
): E.Either<Error, Graph> => {
  const pnames = Object.keys(paramSpecs);
  const names = (p: string): string[] =>
    shardWeights ? shardWeights.map((_, k) => shardGradName(p, k)) : [gradName(p)];
  const gradSpecs = Object.fromEntries(pnames.flatMap((p) => names(p).map((n) => [n, paramSpecs[p]] as const)));
  return trace(
    (xs: Tensors) => {
      const combined = (p: string): Tensor =>
        shardWeights
          ? shardWeights.map((w, k) => mul(xs[shardGradName(p, k)], w)).reduce((a, b) => add(a, b))
          : xs[gradName(p)];
      const grads = Object.fromEntries(pnames.map((p) => [p, combined(p)]));
      return applyUpdate(paramSpecs, optimizer, opts, pick(xs, pnames), grads, xs);
    },
    { ...paramSpecs, ...optSpecs(paramSpecs, optimizer), [STEP]: [], ...gradSpecs },
  );
};
