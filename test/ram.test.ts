// The attention classifier (src/models/ram): its whole-model gradient against finite differences,
// its compiled loss and gradients against the reference evaluator on every backend, and training.
import { compiledVsReference } from '../src/testing/compiled.ts';
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { trace } from '../src/compiler/trace.ts';
import type { Tensor } from '../src/dsl/tensor.ts';
import type { BackendName } from '../src/compiler/compile.ts';
import { evaluate } from '../src/compiler/evaluate.ts';
import { unwrap } from '../src/util.ts';
import { seedRng, fillNormal, fillUniform } from '../src/dsl/rng.ts';
import { gradCheck } from '../src/testing/gradcheck.ts';
import { ram, trainClassifier, checkRamConfig, type RamConfig } from '../src/models/ram/index.ts';
import { availableBackends } from './system.ts';

const tiny: RamConfig = { A: 9, B: 7, channels: 1, T: 3, N: 3, hidden: 6, classes: 4 };
const batch = 3;

/** Initial values plus N(0, σ²) noise, so no layer sits at a special point (zero biases, γ = 1). */
const moved = (c: RamConfig, seed: number, sigma: number) =>
  Object.entries(ram(c).init(seed)).map(([n, v], k) => {
    const noise = new Float64Array(v.length);
    fillNormal(seedRng(100 + seed + k), noise);
    return [n, Float64Array.from(v, (x, j) => x + sigma * noise[j])] as const;
  });
const dataFor = (c: RamConfig, seed: number) => {
  const x = new Float64Array(batch * c.channels * c.A * c.B);
  fillUniform(seedRng(seed), x);
  const y = new Float64Array(batch * c.classes);
  for (let i = 0; i < batch; i++) y[i * c.classes + ((i * 7 + seed) % c.classes)] = 1;
  return { x, y };
};

describe('attention classifier', () => {
  it.each([
    ['grey', tiny],
    ['colour', { ...tiny, channels: 3, A: 6, B: 8, N: 2 }],
  ] as const)(
    'gradients of every parameter agree with finite differences (float64): %s',
    (_name, c) => {
      const m = ram(c);
      [0, 1].forEach((seed) => {
        const at = { ...Object.fromEntries(moved(c, seed, 0.3)), ...dataFor(c, seed + 7) };
        const r = unwrap(
          gradCheck((xs) => m.loss(xs, { x: xs.x, y: xs.y }), m.specs(batch), at, { wrt: Object.keys(m.params), seed }),
        );
        expect(r.error, `analytic ${r.analytic} vs numeric ${r.numeric}`).toBeLessThan(1e-6);
      });
    },
    60_000,
  );

  it('starts at chance, its first glimpse a centred grid over the whole image', () => {
    const c: RamConfig = { ...tiny, A: 28, B: 20, N: 4 };
    const m = ram(c);
    const data = dataFor(c, 3);
    const out = unwrap(evaluate(unwrap(m.lossGraph(batch)), { ...m.init(1), ...data }));
    expect(Math.abs(out.loss[0] - Math.log(c.classes))).toBeLessThan(0.2);
    const g = unwrap(evaluate(unwrap(traceClassify(m)), { ...m.init(1), ...data }));
    expect(Array.from(g['read.gx'].slice(0, batch))).toEqual([14.5, 14.5, 14.5]); // (A+1)/2, 1-based
    expect(g['read.delta'][0] * (c.N - 1)).toBeCloseTo((27 * 3) / 4, 6); // N bands across max(A, B) − 1
    expect(g['read.gx'].length).toBe(c.T * batch);
  });

  it('learns where to look: on a toy task (which corner holds the blob) training lowers the loss and the error', async () => {
    const c: RamConfig = { A: 16, B: 16, channels: 1, T: 2, N: 3, hidden: 16, classes: 4 };
    const toy = (n: number, seed: number) => {
      const u = new Float64Array(n * 3);
      fillUniform(seedRng(seed), u);
      const images = new Float32Array(n * 256);
      const labels = Uint8Array.from({ length: n }, (_, i) => Math.floor(u[3 * i] * 4));
      labels.forEach((l, i) => {
        const [ox, oy] = [
          (l % 2) * 8 + Math.floor(u[3 * i + 1] * 4),
          Math.floor(l / 2) * 8 + Math.floor(u[3 * i + 2] * 4),
        ];
        for (let r = 0; r < 4; r++) for (let q = 0; q < 4; q++) images[i * 256 + (oy + r) * 16 + ox + q] = 1;
      });
      return { images, labels, n, rows: 16, cols: 16 };
    };
    const r = unwrap(
      await trainClassifier(
        ram(c),
        { train: toy(200, 1), validation: toy(100, 2) },
        { batch: 20, steps: 60, lr: 1e-2, seed: 3, evalEvery: 1000, valImages: 100 },
      ),
    );
    const early = r.history.slice(0, 5).reduce((a, h) => a + h.loss, 0) / 5;
    const late = r.history.slice(-5).reduce((a, h) => a + h.loss, 0) / 5;
    expect(early).toBeGreaterThan(1);
    expect(late).toBeLessThan(early / 3);
    expect(r.evals[0].validation.error).toBeLessThan(0.1);
  }, 60_000);

  it('the README example (examples/classify-api.ts) runs as printed and learns MNIST digits', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/classify-api.ts'], { encoding: 'utf8' });
    const errors = [...out.matchAll(/step (\d+): validation error ([\d.]+)%/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]);
    expect(errors.map(([step]) => step)).toEqual([100, 200, 300]);
    expect(errors[2][1]).toBeLessThan(30); // chance is 90%
    expect(out).toMatch(/300 steps; training cross-entropy [\d.]+ → [\d.]+\n$/);
    // the README prints the example's code, from the data to the check of the result
    const code = readFileSync('examples/classify-api.ts', 'utf8');
    expect(readFileSync('README.md', 'utf8')).toContain(
      code.slice(code.indexOf('const '), code.indexOf('\n', code.indexOf('throw result.left'))),
    );
  }, 60_000);

  it('a run that cannot start is a Left naming the problem', async () => {
    const m = ram({ ...tiny, A: 4, B: 4 });
    const data = { images: new Float32Array(40 * 16), labels: new Uint8Array(40).fill(9), n: 40, rows: 4, cols: 4 };
    const r = await trainClassifier(m, { train: data }, { batch: 10, steps: 1 });
    expect(E.isLeft(r) && r.left.message).toBe(
      'train: the training data has label 9 at image 0, the model has 4 classes',
    );
    const r2 = await trainClassifier(m, { train: { ...data, rows: 5 } }, { batch: 10, steps: 1 });
    expect(E.isLeft(r2) && r2.left.message).toBe('train: the training data images are 5×4, the model expects 4×4');
  });

  it('refuses a bad config by name', () => {
    expect(() => checkRamConfig({ ...tiny, N: 0 })).toThrow("classifier config: 'N' must be a positive integer, got 0");
    expect(() => checkRamConfig({ ...tiny, classes: 1 })).toThrow("'classes' must be at least 2");
  });
});

const traceClassify = (m: ReturnType<typeof ram>) =>
  trace((xs: Readonly<Record<string, Tensor>>) => m.classify(xs, { x: xs.x, y: xs.y }), m.specs(batch));

describe.each(availableBackends())('compiled classifier on %s', (backend: BackendName) => {
  it('loss and every gradient agree with the reference evaluator', () => {
    const m = ram(tiny);
    const feeds = {
      ...Object.fromEntries(moved(tiny, 2, 0.1).map(([n, v]) => [n, Float32Array.from(v)])),
      ...dataFor(tiny, 4),
    };
    const d = unwrap(compiledVsReference(unwrap(m.trainingGraph(batch)), feeds, backend));
    expect(d.error, d.at).toBeLessThan(2e-4);
  }, 60_000);
});
