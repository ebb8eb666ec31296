// Every graph pass, and fusion after it, leaves a valid graph: `verify` (shapes re-derived, order,
// references) after each pass on random graphs and on a DRAW training step, the same values as the graph
// it was given (the float64 reference interpreter), and kernels (multi-output ones included) in an order
// where each reads only graph inputs and earlier kernels' outputs.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { evaluate, unwrap } from '../src/index.ts';
import { verify, type Graph } from '../src/compiler/graph.ts';
import { simplify, nestWideConcats, reduceAxisByAxis } from '../src/compiler/passes.ts';
import { sumsOfProductsAsOne } from '../src/compiler/backends/cpu/passes.ts';
import { CPU_FUSION } from '../src/compiler/fuse.ts';
import { fuseWithSiblings } from '../src/compiler/siblings.ts';
import { GPU_FUSION } from '../src/compiler/backends/gpujs/program.ts';
import { arbRandomGraph, type RandomGraph } from '../src/testing/random-graphs.ts';
import { draw, presets } from '../src/models/draw/index.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import { adam } from '../src/optim/index.ts';
import { trainStep } from '../src/optim/train-step.ts';

const passes: [string, (g: Graph) => Graph][] = [
  ['simplify', simplify],
  ['sumsOfProductsAsOne', sumsOfProductsAsOne],
  ['nestWideConcats(2)', nestWideConcats(2)], // 2: so that random graphs' concats are split
  ['reduceAxisByAxis(1)', reduceAxisByAxis(1)],
];

/** Why `g` is not a valid graph with a valid kernel order under both fusion policies, or undefined. */
const problem = (g: Graph): string | undefined => {
  const v = verify(g);
  if (E.isLeft(v)) return v.left.message;
  const inputs = new Set(g.inputs.values());
  for (const policy of [CPU_FUSION, GPU_FUSION]) {
    const done = new Set<number>();
    for (const k of fuseWithSiblings(g, policy).kernels) {
      const bad = k.reads.find((r) => !inputs.has(r) && !done.has(r));
      if (bad !== undefined) return `kernel ${k.root} reads ${bad} before any kernel writes it`;
      [k.root, ...k.siblings].forEach((r) => done.add(r));
    }
  }
  return undefined;
};

const closeTo = (a: Record<string, Float64Array>, b: Record<string, Float64Array>): string | undefined => {
  for (const k of Object.keys(a)) {
    const scale = a[k].reduce((m, v) => Math.max(m, Math.abs(v)), 1);
    const i = a[k].findIndex((v, j) => !(Math.abs(v - b[k][j]) <= 1e-9 * scale));
    if (i >= 0) return `${k}[${i}]: ${a[k][i]} before the pass, ${b[k][i]} after`;
  }
  return undefined;
};

describe('graph passes', () => {
  it.each(passes)(
    '%s keeps random graphs valid and their values (seed 21)',
    (_name, pass) => {
      const check = (rg: RandomGraph) => {
        const before = simplify(rg.graph);
        const after = pass(before);
        const why = problem(after) ?? closeTo(unwrap(evaluate(before, rg.feeds)), unwrap(evaluate(after, rg.feeds)));
        if (why) throw new Error(`${why} in ${rg.description}`);
      };
      fc.assert(fc.property(fc.oneof(arbRandomGraph(false), arbRandomGraph(true)), check), { numRuns: 60, seed: 21 });
    },
    60_000,
  );

  it('keeps a DRAW training step valid after each pass in turn (T=3)', () => {
    const config = { ...presets.mnistFast, T: 3, encSize: 16, decSize: 16, zSize: 4 };
    const model = draw(config);
    let g = unwrap(trainStep(model.loss, model.paramShapes, dataSpecs(config, 4), adam({ lr: 1e-3 }), { clip: 10 }));
    for (const [name, pass] of passes) {
      g = pass(g);
      expect(problem(g), name).toBeUndefined();
    }
  }, 60_000);
});
