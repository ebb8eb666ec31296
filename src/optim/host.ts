// The host side of training: the imperative loop around the step graph. State between steps is
// float32 (what a device holds and what a checkpoint stores), so a run on the reference evaluator
// rounds exactly where a compiled one would. Errors here throw: they end a training run.
import * as E from 'fp-ts/lib/Either.js';
import type { Shape } from '../dsl/shape.ts';
import { fmt, sameShape, size } from '../dsl/shape.ts';
import type { Specs } from '../compiler/trace.ts';
import type { Feeds } from '../compiler/evaluate.ts';
import type { Optimizer } from './optimizer.ts';
import { GRAD_NORM, LOSS, STEP, isOptName, optName, optSpecs, paramOut } from './train-step.ts';

export type Outputs = Readonly<Record<string, ArrayLike<number>>>;

export interface TrainState {
  /** Steps completed; the next one is fed as step + 1 (Adam's t is 1-based). */
  readonly step: number;
  readonly params: Readonly<Record<string, Float32Array>>;
  /** Optimiser state under its graph names, `opt.<slot>.<param>`. */
  readonly opt: Readonly<Record<string, Float32Array>>;
}

export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
  /** `tensor` names the updated parameter or optimiser state that overflowed, when loss and norm were finite. */
  constructor(
    readonly step: number,
    readonly loss: number,
    readonly gradNorm: number,
    readonly tensor?: { name: string; index: number; value: number },
  ) {
    super(
      tensor
        ? `non-finite ${tensor.name}[${tensor.index}] = ${show(tensor.value)} after step ${step} (loss ${show(loss)}, grad norm ${show(gradNorm)}): the update overflowed float32 (learning rate too large?)`
        : `non-finite ${Number.isFinite(loss) ? 'gradient norm' : 'loss'} at step ${step} (loss ${show(loss)}, grad norm ${show(gradNorm)})`,
    );
  }
}

const show = (x: number): string =>
  Number.isNaN(x) ? 'NaN' : x === Infinity ? 'Inf' : x === -Infinity ? '-Inf' : String(Number(x.toPrecision(6)));

const output = (outputs: Outputs, name: string): ArrayLike<number> => {
  const v = outputs[name];
  if (!v) throw new Error(`missing step output '${name}' (outputs: ${Object.keys(outputs).join(', ')})`);
  return v;
};

/** Throws NonFiniteError, naming the step, if `loss` or `gradNorm` is NaN or infinite. */
export const checkFinite = (step: number, outputs: Outputs): void => {
  const loss = output(outputs, LOSS)[0];
  const norm = output(outputs, GRAD_NORM)[0];
  if (!Number.isFinite(loss) || !Number.isFinite(norm)) throw new NonFiniteError(step, loss, norm);
};

/** `v`, checked to hold the values of `name`'s `shape`. */
const checked = (name: string, shape: Shape, v: ArrayLike<number> | undefined): ArrayLike<number> => {
  if (!v) throw new Error(`no value for '${name}' of shape ${fmt(shape)}`);
  if (v.length !== size(shape))
    throw new Error(`'${name}': expected ${size(shape)} values for shape ${fmt(shape)}, got ${v.length}`);
  return v;
};
const toF32 = (name: string, shape: Shape, v: ArrayLike<number> | undefined): Float32Array =>
  Float32Array.from(checked(name, shape, v));

/** Starting state: the given parameter values (copied) and the optimiser's initial state. */
export const initTrainState = (params: Feeds, paramSpecs: Specs, optimizer: Optimizer): TrainState => ({
  step: 0,
  params: Object.fromEntries(Object.entries(paramSpecs).map(([n, s]) => [n, toF32(n, s, params[n])])),
  opt: Object.fromEntries(Object.entries(optimizer.init(paramSpecs)).map(([k, v]) => [optName(k), v])),
});

/** The step graph's feeds: state, this batch, and the 1-based number of the step about to run. */
export const stepFeeds = (s: TrainState, data: Feeds): Feeds => ({
  ...s.params,
  ...s.opt,
  ...data,
  [STEP]: [s.step + 1],
});

/**
 * Index of the first NaN or ±∞ in `v`, or −1. A plain loop: findIndex's callback cost ~8 ns an
 * element, ~25 ms per DRAW step over its three million parameter and moment values.
 */
export const firstNonFinite = (v: Float32Array): number => {
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x - x !== 0) return i; // NaN for NaN and ±∞ alike
  }
  return -1;
};

/**
 * The state after a step, from its outputs. Checks finiteness first, of the loss and gradient norm
 * and then of every updated tensor (a finite gradient times a huge learning rate still overflows),
 * so a diverged step throws before it can replace the last good state, which stays there to save.
 * `into`, a state of the same run the caller no longer needs (the one before `s`), lends its arrays
 * for the new state's values instead of new ones: a training loop that passes it allocates nothing
 * per step (at DRAW's size, 13 MB a step that the garbage collector would otherwise chase).
 */
export const advance = (s: TrainState, outputs: Outputs, into?: TrainState): TrainState => {
  const step = s.step + 1;
  checkFinite(step, outputs);
  const take = (name: string, out: string, v: Float32Array, spare: Float32Array | undefined) => {
    const values = checked(out, [v.length], output(outputs, out));
    const next = spare && spare !== v && spare.length === v.length ? spare : new Float32Array(v.length);
    next.set(values);
    const bad = firstNonFinite(next);
    if (bad >= 0)
      throw new NonFiniteError(step, output(outputs, LOSS)[0], output(outputs, GRAD_NORM)[0], {
        name,
        index: bad,
        value: next[bad],
      });
    return next;
  };
  return {
    step,
    params: Object.fromEntries(Object.entries(s.params).map(([n, v]) => [n, take(n, paramOut(n), v, into?.params[n])])),
    opt: Object.fromEntries(Object.entries(s.opt).map(([k, v]) => [k, take(k, k, v, into?.opt[k])])),
  };
};

/** Everything to save, under the step graph's input names: params bare, state as `opt.*`. */
export const checkpointTensors = (
  s: TrainState,
  paramSpecs: Specs,
  optimizer: Optimizer,
): Record<string, { shape: Shape; data: Float32Array }> => {
  const shapes = { ...paramSpecs, ...optSpecs(paramSpecs, optimizer) };
  return Object.fromEntries(
    Object.entries({ ...s.params, ...s.opt }).map(([n, data]) => [n, { shape: shapes[n], data }]),
  );
};

/**
 * Rebuilds training state from checkpoint tensors. Other tensors may share the file, but every
 * parameter and state tensor must be there with its shape, and no `opt.*` tensor may be left over
 * (that would mean it was saved by a different optimiser).
 */
export const restoreTrainState = (
  tensors: Readonly<Record<string, { readonly shape: Shape; readonly data: Float32Array }>>,
  step: number,
  paramSpecs: Specs,
  optimizer: Optimizer,
): E.Either<Error, TrainState> => {
  const opt = optSpecs(paramSpecs, optimizer);
  const want = { ...paramSpecs, ...opt };
  if (!Number.isInteger(step) || step < 0)
    return E.left(new Error(`restore: step must be a non-negative integer, got ${step}`));
  const missing = Object.keys(want).filter((n) => !tensors[n]);
  if (missing.length) return E.left(new Error(`restore: checkpoint lacks ${missing.map((m) => `'${m}'`).join(', ')}`));
  const bad = Object.entries(want).find(([n, s]) => !sameShape(tensors[n].shape, s));
  if (bad)
    return E.left(
      new Error(
        `restore: '${bad[0]}' has shape ${fmt(tensors[bad[0]].shape)} in the checkpoint, expected ${fmt(bad[1])}`,
      ),
    );
  const stray = Object.keys(tensors).filter((n) => isOptName(n) && !opt[n]);
  if (stray.length)
    return E.left(
      new Error(
        `restore: checkpoint has optimiser state ${stray.map((m) => `'${m}'`).join(', ')} that ${optimizer.name} does not use (saved with another optimiser?)`,
      ),
    );
  const copy = (names: readonly string[]) =>
    Object.fromEntries(names.map((n) => [n, Float32Array.from(tensors[n].data)]));
  return E.right({ step, params: copy(Object.keys(paramSpecs)), opt: copy(Object.keys(opt)) });
};
