// Named parameter collections. A part of the model declares its parameters as specs (shape plus an
// initialisation scheme, as plain data); the model joins the parts' specs under prefixes, and a part
// reads its own parameters back through a scope with the prefix stripped. Nothing is positional.
import type { Shape } from '../../dsl/shape.ts';
import { fmt } from '../../dsl/shape.ts';
import type { Tensor } from '../../dsl/tensor.ts';
import { linear } from '../../dsl/composites.ts';
import { fillUniform, seedRng } from '../../dsl/rng.ts';

/**
 * How a parameter starts:
 * - glorot: uniform in ±√(6/(fanIn+fanOut)) for a [fanIn, fanOut] weight, which keeps activation
 *   variance roughly constant through a layer (Glorot & Bengio 2010);
 * - zeros;
 * - segments: equal consecutive blocks, each filled with one constant (LSTM gate biases: [0,1,0,0]
 *   puts 1 on the forget gate so the cell remembers by default).
 */
export type Init =
  | { readonly kind: 'glorot'; readonly gain?: number }
  | { readonly kind: 'zeros' }
  | { readonly kind: 'segments'; readonly values: readonly number[] };

export interface ParamSpec {
  readonly shape: Shape;
  readonly init: Init;
}

export type ParamSpecs = Readonly<Record<string, ParamSpec>>;
export type Params = Readonly<Record<string, Tensor>>;

export const weight = (fanIn: number, fanOut: number, gain = 1): ParamSpec => ({
  shape: [fanIn, fanOut],
  init: gain === 1 ? { kind: 'glorot' } : { kind: 'glorot', gain },
});
export const bias = (n: number, segments?: readonly number[]): ParamSpec => ({
  shape: [n],
  init: segments ? { kind: 'segments', values: segments } : { kind: 'zeros' },
});

/**
 * Init gain for a layer whose output is summed over the T steps (the write onto the canvas, the
 * posterior whose KL is summed): 1/√T, so the sum's variance at initialisation does not grow with
 * T. The model then starts near chance, loss ≈ A·B·ln 2 with a small KL, for every preset.
 */
export const stepGain = (T: number): number => 1 / Math.sqrt(T);

/** An affine layer's parameters: `w` [in, out] and `b` [out]. */
export const dense = (fanIn: number, fanOut: number, gain = 1): ParamSpecs => ({
  w: weight(fanIn, fanOut, gain),
  b: bias(fanOut),
});

/** x·w + b with the layer's parameters read from `p` (`w`, `b`). */
export const affine = (p: Params, x: Tensor): Tensor => linear(x, param(p, 'w'), param(p, 'b'));

/** The shapes alone: what `trace` takes as input specs. */
export const shapesOf = (specs: ParamSpecs): Record<string, Shape> =>
  Object.fromEntries(Object.entries(specs).map(([n, s]) => [n, s.shape]));

/** `specs` under `prefix` (e.g. 'enc.' makes `w` into `enc.w`). */
export const prefixed = (prefix: string, specs: ParamSpecs): ParamSpecs =>
  Object.fromEntries(Object.entries(specs).map(([n, s]) => [prefix + n, s]));

/** The parameters under `prefix`, with the prefix removed: the view a part gets of its own. */
export const scope = (p: Params, prefix: string): Params =>
  Object.fromEntries(
    Object.entries(p)
      .filter(([n]) => n.startsWith(prefix))
      .map(([n, t]) => [n.slice(prefix.length), t]),
  );

/** One parameter by name; a missing one is named along with those present. */
export const param = (p: Params, name: string): Tensor => {
  const t = p[name];
  if (!t) throw new Error(`missing parameter '${name}' (have: ${Object.keys(p).join(', ') || 'none'})`);
  return t;
};

/** FNV-1a: a stable 32-bit hash of a parameter name. */
const hashName = (name: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h | 0;
};

const initValues = (name: string, spec: ParamSpec, seed: number): Float32Array => {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const { init } = spec;
  switch (init.kind) {
    case 'zeros':
      return new Float32Array(n);
    case 'segments': {
      if (n % init.values.length !== 0)
        throw new Error(`parameter '${name}': ${n} values do not split into ${init.values.length} equal segments`);
      const len = n / init.values.length;
      return Float32Array.from({ length: n }, (_, i) => init.values[Math.floor(i / len)]);
    }
    case 'glorot': {
      if (spec.shape.length !== 2)
        throw new Error(`parameter '${name}': glorot needs a [fanIn, fanOut] shape, got ${fmt(spec.shape)}`);
      const limit = (init.gain ?? 1) * Math.sqrt(6 / (spec.shape[0] + spec.shape[1]));
      const u = new Float32Array(n);
      // each parameter draws from its own stream (seed, name): adding or renaming another
      // parameter leaves this one's initial values unchanged
      fillUniform(seedRng(seed ^ hashName(name)), u);
      return u.map((v) => (2 * v - 1) * limit);
    }
  }
};

/** Seeded initial values for every parameter in `specs`, by name. Same seed, same values. */
export const initialise = (specs: ParamSpecs, seed: number): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(specs).map(([n, s]) => [n, initValues(n, s, seed)]));
