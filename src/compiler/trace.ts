// trace: a DSL function plus input shapes becomes a Graph. This is the library's front door, so
// errors (a shape mismatch anywhere inside the user's function) come back as a Left, not a throw.
import { OrderedMap } from 'immutable';
import * as E from 'fp-ts/lib/Either.js';
import type { Shape } from '../dsl/shape.ts';
import { checkShape } from '../dsl/shape.ts';
import { emit, newBuilder, withBuilder, type Tensor } from '../dsl/tensor.ts';
import { freeze, type Graph } from './graph.ts';

export type Specs = Readonly<Record<string, Shape>>;
export type Inputs<S extends Specs> = { readonly [K in keyof S]: Tensor<S[K]> };
export type Traced = Tensor | Readonly<Record<string, Tensor>>;

/**
 * Why a trace failed: a bad return value, or whatever the traced function threw, kept whole as
 * `cause` (its class and stack), so a caller can tell a shape mistake (ShapeError) from a bug in
 * the traced code (a TypeError, say).
 */
export class TraceError extends Error {
  override name = 'TraceError';
}

export const trace = <S extends Specs>(fn: (xs: Inputs<S>) => Traced, specs: S): E.Either<TraceError, Graph> => {
  const b = newBuilder();
  try {
    return withBuilder(b, () => {
      const xs = Object.fromEntries(
        Object.entries(specs).map(([name, shape]) => [
          name,
          emit('input', [], { name, shape: checkShape(`input '${name}'`, shape) }, b),
        ]),
      ) as Inputs<S>;
      const named = outputsOf(fn(xs), b);
      return E.right(
        freeze(
          b,
          OrderedMap(Object.keys(specs).map((name) => [name, (xs[name] as Tensor).id] as const)),
          OrderedMap(Object.entries(named).map(([name, t]) => [name, t.id] as const)),
        ),
      );
    });
  } catch (e) {
    if (e instanceof TraceError) return E.left(e);
    const err = e instanceof Error ? e : new Error(String(e));
    return E.left(new TraceError(err.message, { cause: err }));
  }
};

const describe = (x: unknown): string => (x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x);

/** A tensor becomes the one output `out`; a record of tensors of this trace names its outputs. */
const outputsOf = (out: unknown, b: Tensor['builder']): Record<string, Tensor> => {
  if (isTensor(out)) return outputsOf({ out }, b);
  if (typeof out !== 'object' || out === null || Array.isArray(out))
    throw new TraceError(`the traced function returned ${describe(out)}, not a tensor or a record of tensors`);
  const named: Record<string, unknown> = { ...out };
  if (Object.keys(named).length === 0)
    throw new TraceError('the traced function returned an empty record: a graph needs at least one output');
  Object.entries(named).forEach(([name, t]) => {
    if (!isTensor(t) || t.builder !== b)
      throw new TraceError(
        `output '${name}' is ${isTensor(t) ? 'a tensor of another trace' : `${describe(t)}, not a tensor`}`,
      );
  });
  return named as Record<string, Tensor>;
};

const isTensor = (x: unknown): x is Tensor =>
  typeof x === 'object' && x !== null && 'id' in x && 'shape' in x && 'builder' in x;
