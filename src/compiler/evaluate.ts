// The reference interpreter: float64, one primitive at a time, straight from the primitive table.
// Every compiled backend is tested against it.
import * as E from 'fp-ts/lib/Either.js';
import { primitiveOf } from '../dsl/primitives.ts';
import { fmt, size } from '../dsl/shape.ts';
import { reachable, type Graph } from './graph.ts';

export type Feeds = Readonly<Record<string, ArrayLike<number>>>;

export class EvaluateError extends Error {
  override name = 'EvaluateError';
}

/** Checks named feeds against a graph's inputs: every input given, sizes right, no strays. */
export const checkFeeds = (g: Graph, feeds: Feeds): EvaluateError | undefined => {
  for (const [name, id] of g.inputs) {
    const v = feeds[name];
    const shape = g.nodes.get(id)!.shape;
    if (v === undefined) return new EvaluateError(`missing input '${name}' of shape ${fmt(shape)}`);
    if (v.length !== size(shape))
      return new EvaluateError(
        `input '${name}': expected ${size(shape)} values for shape ${fmt(shape)}, got ${v.length}`,
      );
  }
  const stray = Object.keys(feeds).filter((k) => !g.inputs.has(k));
  return stray.length ? new EvaluateError(`unknown input ${stray.map((s) => `'${s}'`).join(', ')}`) : undefined;
};

export const evaluate = (g: Graph, feeds: Feeds): E.Either<EvaluateError, Record<string, Float64Array>> => {
  const bad = checkFeeds(g, feeds);
  if (bad) return E.left(bad);
  const vals: Float64Array[] = new Array(g.nodes.size);
  const live = reachable(g);
  g.nodes.forEach((n, id) => {
    if (!live[id]) return;
    vals[id] =
      n.op === 'input'
        ? Float64Array.from(feeds[n.attrs.name])
        : primitiveOf(n.op).evaluate(
            n.inputs.map((i) => vals[i]),
            n.inputs.map((i) => g.nodes.get(i)!.shape),
            n.attrs,
            n.shape,
          );
  });
  return E.right(Object.fromEntries([...g.outputs].map(([name, id]) => [name, vals[id]])));
};
