import { compiledVsReference } from '../src/testing/compiled.ts';
import { describe, it, expect } from 'vitest';
import { draw, type DrawConfig } from '../src/models/draw/index.ts';
import type { BackendName } from '../src/compiler/compile.ts';
import { unwrap } from '../src/util.ts';
import { seedRng, fillNormal, fillUniform } from '../src/dsl/rng.ts';
import { availableBackends } from './system.ts';

const tiny: DrawConfig = {
  A: 12,
  B: 10,
  channels: 1,
  T: 3,
  encSize: 16,
  decSize: 16,
  zSize: 4,
  readN: 2,
  writeN: 3,
  readAttention: true,
  writeAttention: true,
};
const batch = 5;

const feedsFor = (c: DrawConfig) => {
  const m = draw(c);
  const params = m.init(3);
  // move every parameter off its initial value so no layer sits at a special point
  Object.values(params).forEach((v, k) => {
    const n = new Float32Array(v.length);
    fillNormal(seedRng(100 + k), n);
    v.forEach((_, i) => (v[i] += 0.1 * n[i]));
  });
  const x = new Float32Array(batch * c.A * c.B);
  fillUniform(seedRng(1), x);
  x.forEach((v, i) => (x[i] = v < 0.3 ? 1 : 0));
  const eps = new Float32Array(c.T * batch * c.zSize);
  fillNormal(seedRng(2), eps);
  return { m, feeds: { ...params, x, eps } };
};

describe.each(availableBackends())('compiled DRAW on %s', (backend: BackendName) => {
  it.each([
    ['attention', tiny],
    ['no attention', { ...tiny, readAttention: false, writeAttention: false }],
  ] as const)(
    'loss and every gradient agree with the reference evaluator (%s)',
    (_name, c) => {
      const { m, feeds } = feedsFor(c);
      const d = unwrap(compiledVsReference(unwrap(m.trainingGraph(batch)), feeds, backend));
      expect(d.error, d.at).toBeLessThan(2e-4);
    },
    60_000,
  );
});
