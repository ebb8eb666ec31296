// The optimiser contract. An optimiser is a pair of pure functions over a NAMED parameter
// collection: `init` makes its numeric state on the host, and `update` is written with the DSL, so
// the step is traced into the same graph as the loss and compiled to kernels like the rest of it.
import type { Shape } from '../dsl/shape.ts';
import { fmt, sameShape, size } from '../dsl/shape.ts';
import { reshape } from '../dsl/ops.ts';
import type { Tensor } from '../dsl/tensor.ts';

export type Shapes = Readonly<Record<string, Shape>>;
export type Tensors = Readonly<Record<string, Tensor>>;

export interface Update {
  readonly params: Record<string, Tensor>;
  readonly state: Record<string, Tensor>;
}

export interface Optimizer {
  readonly name: string;
  /** Hyper-parameters as plain JSON, for checkpoint meta and logs. */
  readonly hyper: Readonly<Record<string, number | boolean>>;
  /** Shapes of the state tensors, keyed `<slot>.<param>` (e.g. `m.enc.w`). */
  stateSpecs(paramShapes: Shapes): Record<string, Shape>;
  /** The state before the first step. */
  init(paramShapes: Shapes): Record<string, Float32Array>;
  /**
   * One step, symbolically. `step` is the 1-based step number as a scalar tensor, so one traced
   * graph serves every step; optimisers that do not need it ignore it.
   */
  update(params: Tensors, grads: Tensors, state: Tensors, step: Tensor): Update;
}

/** Slot first, then the parameter: the slot is a fixed word, so a parameter name may contain dots. */
export const slotName = (slot: string, param: string): string => `${slot}.${param}`;

const mapValues = <A, B>(r: Readonly<Record<string, A>>, f: (a: A, k: string) => B): Record<string, B> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, f(v, k)]));

/** stateSpecs and init for the common case: zero-initialised slots shaped like each parameter. */
export const slotState = (slots: readonly string[]): Pick<Optimizer, 'stateSpecs' | 'init'> => {
  const stateSpecs = (shapes: Shapes): Record<string, Shape> =>
    Object.fromEntries(
      slots.flatMap((s) => Object.entries(shapes).map(([p, shape]) => [slotName(s, p), shape] as const)),
    );
  return { stateSpecs, init: (shapes) => mapValues(stateSpecs(shapes), (s) => new Float32Array(size(s))) };
};

/** A hyper-parameter out of range is a configuration bug: fail when the optimiser is made, naming it. */
export const checkHyper = (opt: string, key: string, v: number, ok: (v: number) => boolean, want: string): number => {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw new RangeError(`${opt}: ${key} must be ${want}, got ${v}`);
  return v;
};

/** The step as a rank-0 tensor, whatever size-1 shape it was fed with. */
export const scalarStep = (opt: string, step: Tensor): Tensor => {
  if (size(step.shape) !== 1) throw new Error(`${opt}: step must be a scalar, got shape ${fmt(step.shape)}`);
  return reshape(step, []);
};

const expect = (opt: string, what: string, t: Tensor | undefined, shape: Shape): Tensor => {
  if (!t) throw new Error(`${opt}: missing ${what}`);
  if (!sameShape(t.shape, shape))
    throw new Error(`${opt}: ${what} has shape ${fmt(t.shape)}, its parameter has ${fmt(shape)}`);
  return t;
};

/**
 * Runs a per-parameter rule over the collection after checking that every parameter has a gradient
 * and every slot of state, all of its shape; the rule returns the new parameter and its new slots.
 */
export const perParam = (
  opt: string,
  slots: readonly string[],
  params: Tensors,
  grads: Tensors,
  state: Tensors,
  rule: (
    p: Tensor,
    g: Tensor,
    s: Readonly<Record<string, Tensor>>,
  ) => { param: Tensor; slots: Readonly<Record<string, Tensor>> },
): Update => {
  const stray = Object.keys(grads).filter((k) => !(k in params));
  if (stray.length) throw new Error(`${opt}: gradient for unknown parameter ${stray.map((s) => `'${s}'`).join(', ')}`);
  const out: Update = { params: {}, state: {} };
  for (const [name, p] of Object.entries(params)) {
    const g = expect(opt, `gradient of '${name}'`, grads[name], p.shape);
    const s = Object.fromEntries(
      slots.map((slot) => [slot, expect(opt, `state '${slotName(slot, name)}'`, state[slotName(slot, name)], p.shape)]),
    );
    const r = rule(p, g, s);
    out.params[name] = r.param;
    slots.forEach((slot) => (out.state[slotName(slot, name)] = r.slots[slot]));
  }
  return out;
};
