// Reverse-mode differentiation as a graph-to-graph pass: the gradients become ordinary nodes of a
// new graph (so grad of grad works, and the compiler treats forward and backward alike).
import * as E from 'fp-ts/lib/Either.js';
import { OrderedMap } from 'immutable';
import { primitiveOf } from '../dsl/primitives.ts';
import { fmt, size } from '../dsl/shape.ts';
import { add, fill } from '../dsl/ops.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { rebuild, type Graph } from './graph.ts';

export class GradError extends Error {
  override name = 'GradError';
}

export const gradName = (input: string): string => `grad.${input}`;

/**
 * Adds to `g` the gradient of its scalar output `of` with respect to each named input, as outputs
 * `grad.<name>`. Cotangents that fan out are summed; nodes off every path to `wrt` are skipped.
 */
export const grad = (g: Graph, of: string, wrt: readonly string[]): E.Either<GradError, Graph> => {
  const root = g.outputs.get(of);
  if (root === undefined)
    return E.left(new GradError(`grad: no output named '${of}' (outputs: ${[...g.outputs.keys()].join(', ')})`));
  const rootShape = g.nodes.get(root)!.shape;
  if (size(rootShape) !== 1)
    return E.left(new GradError(`grad: output '${of}' must be a scalar, got shape ${fmt(rootShape)}`));
  const missing = wrt.filter((n) => !g.inputs.has(n));
  if (missing.length) return E.left(new GradError(`grad: no input named ${missing.map((m) => `'${m}'`).join(', ')}`));

  const needs = new Uint8Array(g.nodes.size);
  wrt.forEach((n) => (needs[g.inputs.get(n)!] = 1));
  g.nodes.forEach((n, id) => {
    if (n.inputs.some((i) => needs[i])) needs[id] = 1;
  });

  try {
    return E.right(
      rebuild(g, undefined, (map) => {
        const cts = new Map<number, Tensor>([[root, fill(rootShape, 1)]]);
        for (let id = root; id >= 0; id--) {
          const ct = cts.get(id);
          const n = g.nodes.get(id)!;
          if (!ct || !needs[id] || n.inputs.length === 0) continue;
          const ins = n.inputs.map((i) => map[i]);
          const gs = primitiveOf(n.op).vjp(ct, ins, map[id], n.attrs);
          n.inputs.forEach((i, k) => {
            const gk = gs[k];
            if (!gk || !needs[i]) return;
            const prev = cts.get(i);
            cts.set(i, prev ? add(prev, gk) : gk);
          });
        }
        return OrderedMap(
          wrt.map((name) => {
            const id = g.inputs.get(name)!;
            return [gradName(name), cts.get(id) ?? fill(g.nodes.get(id)!.shape, 0)] as const;
          }),
        );
      }),
    );
  } catch (e) {
    return E.left(new GradError(`grad: ${(e as Error).message}`));
  }
};
