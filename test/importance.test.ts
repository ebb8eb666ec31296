// The importance-weighted NLL estimate (src/models/draw/importance.ts) on a tiny model trained a little
// on MNIST: compiled equals the float64 reference, K = 1 agrees with the analytic-KL bound, and the
// estimate tightens as K grows.
import { describe, it, expect, beforeAll } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { draw, presets, train } from '../src/models/draw/index.ts';
import { bound } from '../src/models/draw/bound.ts';
import { importanceGraph, importanceNll, importanceSpecs } from '../src/models/draw/importance.ts';
import { compile, type Program } from '../src/compiler/compile.ts';
import { evaluate } from '../src/compiler/evaluate.ts';
import type { Graph } from '../src/compiler/graph.ts';
import { loadMnist } from '../src/data/mnist.ts';
import { gatherBatch } from '../src/data/images.ts';
import { fillNormal, seedRng } from '../src/dsl/rng.ts';

const config = { ...presets.mnistFast, T: 3, encSize: 16, decSize: 16, zSize: 4, writeN: 3 };
const model = draw(config);
const data = loadMnist({ limit: 400 });
let params: Record<string, Float32Array>;

const ok = <T>(r: E.Either<Error, T>): T => {
  if (E.isLeft(r)) throw r.left;
  return r.right;
};
const graphOf = (batch: number, K: number): Graph => ok(importanceGraph(config, batch, K));
const programOf = (batch: number, K: number): Program => ok(compile(graphOf(batch, K), { backend: 'cpu' }));

beforeAll(async () => {
  const r = ok(await train(model, { train: data.train }, { batch: 20, steps: 40, lr: 0.01, seed: 3 }));
  params = r.state.params;
}, 120_000);

describe('importance-sampled NLL', () => {
  it('the compiled graph computes what the float64 reference evaluator does', () => {
    const batch = 3;
    const K = 4;
    const specs = importanceSpecs(config, batch, K);
    expect(specs.eps).toEqual([3, 12, 4]);
    const x = gatherBatch(data.test, Int32Array.from([0, 1, 2]));
    const eps = new Float32Array(3 * 12 * 4);
    fillNormal(seedRng(9), eps);
    const compiled = programOf(batch, K).run({ ...params, x, eps }).logLikelihood;
    const reference = ok(evaluate(graphOf(batch, K), { ...params, x, eps })).logLikelihood;
    expect(compiled).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      expect(Number.isFinite(reference[i]) && reference[i] < 0).toBe(true);
      expect(Math.abs(compiled[i] - reference[i]), `image ${i}: ${compiled[i]} vs ${reference[i]}`).toBeLessThan(
        1e-4 * Math.abs(reference[i]) + 1e-3,
      );
    }
  }, 60_000);

  it('with K = 1 it agrees with the analytic-KL bound within its standard error', () => {
    const n = 200;
    const batch = 50;
    const elbo = bound(
      ok(compile(ok(model.lossGraph(batch)), { backend: 'cpu' })),
      params,
      config,
      data.test,
      batch,
      n,
    );
    const one = importanceNll(programOf(batch, 1), params, config, data.test, batch, 1, n);
    expect(one).toMatchObject({ images: n, samples: 1 });
    expect(one.standardError).toBeGreaterThan(0);
    expect(Math.abs(one.nll - elbo.bound), `K=1 ${one.nll} ± ${one.standardError}, bound ${elbo.bound}`).toBeLessThan(
      one.standardError,
    );
  }, 60_000);

  it('tightens as K grows: the NLL estimate falls from K = 1 to 4 to 16', () => {
    const n = 100;
    const batch = 10;
    const [k1, k4, k16] = [1, 4, 16].map((K) =>
      importanceNll(programOf(batch, K), params, config, data.test, batch, K, n),
    );
    expect(k4.nll, `K=1 ${k1.nll}, K=4 ${k4.nll}`).toBeLessThan(k1.nll);
    expect(k16.nll, `K=4 ${k4.nll}, K=16 ${k16.nll}`).toBeLessThan(k4.nll);
    // every one a finite estimate of a positive number of nats
    for (const k of [k1, k4, k16]) expect(k.nll > 0 && Number.isFinite(k.standardError)).toBe(true);
  }, 60_000);

  it('refuses K < 1 by name', () => {
    expect(() => importanceGraph(config, 2, 0)).toThrow('importance sampling: samples must be an integer ≥ 1, got 0');
  });
});
