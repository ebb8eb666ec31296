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

export class TraceError extends Error {
  override name = 'TraceError';
}

export const trace = <S extends Specs>(fn: (xs: Inputs<S>) => Traced, specs: S): E.Either<TraceError, Graph> => {
  const b = newBuilder();
  try {
    return withBuilder(b, () => {
      const xs = Object.fromEntries(
        Object.entries(specs).map(([name, shape]) => [name, emit('input', [], { name, shape: checkShape(`input '${name}'`, shape) }, b)]),
      ) as Inputs<S>;
      const out = fn(xs);
      const named: Record<string, Tensor> = isTensor(out) ? { out } : { ...out };
      Object.entries(named).forEach(([name, t]) => {
        if (!isTensor(t) || t.builder !== b) throw new TraceError(`output '${name}' is not a tensor of this trace`);
      });
      return E.right(freeze(b,
        OrderedMap(Object.keys(specs).map((name) => [name, (xs[name] as Tensor).id] as const)),
        OrderedMap(Object.entries(named).map(([name, t]) => [name, t.id] as const))));
    });
  } catch (e) {
    return E.left(e instanceof TraceError ? e : new TraceError((e as Error).message));
  }
};

const isTensor = (x: unknown): x is Tensor =>
  typeof x === 'object' && x !== null && 'id' in x && 'shape' in x && 'builder' in x;
