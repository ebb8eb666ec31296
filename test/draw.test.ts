import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { execFileSync } from 'node:child_process';
import {
  evaluate,
  trace,
  unwrap,
  adam,
  trainStep,
  initTrainState,
  stepFeeds,
  advance,
  LOSS,
  log,
  add,
  div,
  neg,
  square,
} from '../src/index.ts';
import {
  draw,
  presets,
  paramSpecs,
  initParams,
  dataSpecs,
  attend,
  filterbank,
  filterRead,
  rnnStep,
  sample,
  attentiveRead,
  plainRead,
  attentiveWrite,
  DrawConfigError,
  type DrawConfig,
  type FilterShape,
} from '../src/models/draw/index.ts';
import { drawProperties as P } from '../src/testing/index.ts';

const tiny: DrawConfig = {
  A: 6,
  B: 6,
  channels: 1,
  T: 2,
  encSize: 8,
  decSize: 8,
  zSize: 3,
  readN: 2,
  writeN: 3,
  readAttention: true,
  writeAttention: true,
};
const tinyPlain: DrawConfig = { ...tiny, readAttention: false, writeAttention: false };
/** A heavy-tailed filter: −log(1 + d²/σ²). */
const cauchy: FilterShape = (d, sigma2) => neg(log(add(1, div(square(d), sigma2))));

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-9) =>
  expect(Array.from(a).every((v, i) => Math.abs(v - b[i]) <= tol * Math.max(1, Math.abs(b[i])))).toBe(true);

/**
 * Filter centres recovered exactly from a Gaussian row with σ² = 1: log F[a+1] − log F[a] =
 * −(2(a − μ) + 1)/2, so μ = a + ½ + log(F[a+1]/F[a]) for any neighbouring pair.
 */
const centres = (F: Float64Array, N: number, size: number, n = 0): number[] =>
  Array.from({ length: N }, (_, i) => {
    const row = F.subarray((n * N + i) * size, (n * N + i + 1) * size);
    const a = Math.min(Math.max(Math.round(row.indexOf(Math.max(...row))), 0), size - 2);
    return a + 0.5 + Math.log(row[a + 1] / row[a]);
  });

describe('attention grid', () => {
  // the attention layer with zero weights: its bias is (g̃x, g̃y, log σ², log δ̃, log γ)
  const gridOf = (A: number, B: number, N: number, bias: number[]) => {
    const out = P.run(
      (xs) => {
        const at = attend({ w: xs.w, b: xs.b }, xs.h, N, A, B);
        return { ...filterbank(at.gx, at.gy, at.sigma2, at.delta, N, A, B), gx: at.gx, gy: at.gy, delta: at.delta };
      },
      { w: [4, 5], b: [5], h: [1, 4] },
      { w: new Float64Array(20), b: bias, h: [1, 2, 3, 4] },
    );
    return { out, x: centres(out.Fx, N, A), y: centres(out.Fy, N, B) };
  };

  it('g̃ = 0, δ̃ = 1 on 28×28, N = 5: centred grid spanning pixels 0..27', () => {
    const g = gridOf(28, 28, 5, [0, 0, 0, 0, 0]);
    expect([g.out.gx[0], g.out.gy[0], g.out.delta[0]]).toEqual([14.5, 14.5, 6.75]); // (A+1)/2, 1-based; (max(A,B)−1)/(N−1)
    close(g.x, [0, 6.75, 13.5, 20.25, 27]);
    close(g.y, [0, 6.75, 13.5, 20.25, 27]);
  });

  it('Fy follows gy and B, Fx follows gx and A', () => {
    const g = gridOf(28, 20, 5, [0, -0.5, 0, Math.log(0.5), 0]);
    expect(g.out.Fx.length).toBe(5 * 28);
    expect(g.out.Fy.length).toBe(5 * 20);
    // gy = (B+1)/2·(g̃y+1) = 5.25 (1-based) → 4.25; δ = 27/4·½
    close(g.x, [13.5 - 6.75, 13.5 - 3.375, 13.5, 13.5 + 3.375, 13.5 + 6.75]);
    close(g.y, [4.25 - 6.75, 4.25 - 3.375, 4.25, 4.25 + 3.375, 4.25 + 6.75]);
  });
});

describe('filterbank properties', () => {
  const opts = { numRuns: 60, seed: 11 };
  it('rows sum to 1, finite, for any centre (far outside too), stride, σ down to 3e-7, N, A, B', () =>
    fc.assert(
      fc.property(P.arbFilterCase, (c) => P.rowsSumToOne(c)),
      opts,
    ));
  it('a Cauchy-shaped bank keeps the same guarantee', () =>
    fc.assert(
      fc.property(P.arbFilterCase, (c) => P.rowsSumToOne(c, cauchy)),
      { ...opts, numRuns: 30 },
    ));
  it('mass is centred at μ_i for filters well inside the image', () => {
    fc.assert(
      fc.property(P.arbInteriorFilterCase, (c) => P.massCentred(c)),
      opts,
    );
    fc.assert(
      fc.property(P.arbFilterCase, (c) => P.massCentred(c)),
      opts,
    );
  });
  it('read and write are adjoint at γ = 1', () =>
    fc.assert(
      fc.property(P.arbFilterCase, fc.integer({ min: 0, max: 1000 }), (c, s) => P.readWriteAdjoint(c, undefined, 2, s)),
      opts,
    ));
  it('reading a constant image gives γ·constant', () =>
    fc.assert(
      fc.property(
        P.arbFilterCase,
        fc.double({ min: -3, max: 3, noNaN: true }),
        fc.double({ min: 0.05, max: 5, noNaN: true }),
        (c, v, g) => P.constantRead(c, v, g),
      ),
      opts,
    ));
});

describe('colour', () => {
  it('every channel goes through the same filters', () => {
    const c: DrawConfig = { ...tiny, channels: 3, A: 5, B: 4 };
    const read = attentiveRead()(c);
    const img = Float64Array.from({ length: 20 }, (_, i) => Math.sin(i));
    const x = Float64Array.from({ length: 60 }, (_, i) => img[i % 20] * (1 + Math.floor(i / 20))); // channel k = (k+1)·img
    const h = Float64Array.from({ length: 8 }, (_, i) => 0.1 * i - 0.3);
    const specs = { x: [1, 60], h: [1, 8], w: [8, 5], b: [5] };
    const { out } = P.run((xs) => read.read({ 'attn.w': xs.w, 'attn.b': xs.b }, xs.x, xs.x, xs.h).value, specs, {
      x,
      h,
      w: Float64Array.from({ length: 40 }, (_, i) => Math.cos(i) * 0.3),
      b: [0.1, -0.2, 0.3, -0.1, 0.2],
    });
    expect(read.size).toBe(2 * 3 * 4);
    close(
      out.subarray(4, 8),
      Array.from(out.subarray(0, 4), (v) => 2 * v),
    );
    close(
      out.subarray(8, 12),
      Array.from(out.subarray(0, 4), (v) => 3 * v),
    );
  });
});

describe('cells', () => {
  it('rnnStep is the LSTM with gates [i, f, o, g] from one matmul of [input, h]', () => {
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    const w = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8]; // [2, 4]: rows input, h
    const b = [0.05, 1, -0.1, 0.2];
    const [x, h, c] = [0.7, -0.4, 0.3];
    const pre = [0, 1, 2, 3].map((k) => x * w[k] + h * w[4 + k] + b[k]);
    const cNext = s(pre[1]) * c + s(pre[0]) * Math.tanh(pre[3]);
    const out = P.run(
      (xs) => ({ ...rnnStep({ w: xs.w, b: xs.b }, xs.x, { h: xs.h, c: xs.c }) }),
      { w: [2, 4], b: [4], x: [1, 1], h: [1, 1], c: [1, 1] },
      { w, b, x: [x], h: [h], c: [c] },
    );
    close(out.c, [cNext], 1e-12);
    close(out.h, [s(pre[2]) * Math.tanh(cNext)], 1e-12);
  });

  it('sample: z = μ + σ·ε, (μ, log σ) sliced from one layer', () => {
    const out = P.run(
      (xs) => ({ ...sample({ w: xs.w, b: xs.b }, xs.h, xs.eps) }),
      { w: [1, 2], b: [2], h: [1, 1], eps: [1, 1] },
      { w: [2, 3], b: [0.5, -1], h: [0.5], eps: [1.5] },
    );
    close(out.mu, [1.5]);
    close(out.logSigma, [0.5]);
    close(out.z, [1.5 + Math.exp(0.5) * 1.5]);
    close(out.kl, [0.5 * (1.5 ** 2 + Math.exp(1) - 1) - 0.5]);
  });

  it('KL is exactly 0 at the prior and positive elsewhere', () => {
    [1, 3, 100].forEach((Z) => expect(P.klZeroAtPrior(Z)).toBe(true));
    fc.assert(fc.property(P.arbOffPrior(4), P.klPositive), { numRuns: 50, seed: 5 });
  });
});

describe('parameters', () => {
  it('are named, with shapes from the config', () => {
    const specs = paramSpecs(tiny);
    expect(Object.fromEntries(Object.entries(specs).map(([n, s]) => [n, s.shape]))).toEqual({
      'read.attn.w': [8, 5],
      'read.attn.b': [5],
      'enc.w': [2 * 2 * 2 + 8 + 8, 32],
      'enc.b': [32],
      'q.w': [8, 6],
      'q.b': [6],
      'dec.w': [3 + 8, 32],
      'dec.b': [32],
      'write.attn.w': [8, 5],
      'write.attn.b': [5],
      'write.patch.w': [8, 9],
      'write.patch.b': [9],
    });
    expect(Object.keys(paramSpecs(tinyPlain))).toEqual([
      'enc.w',
      'enc.b',
      'q.w',
      'q.b',
      'dec.w',
      'dec.b',
      'write.w',
      'write.b',
    ]);
  });

  it('initialise reproducibly: Glorot ranges, forget-gate bias 1, glimpses on N bands as wide as half their spacing', () => {
    const a = initParams(tiny, 1);
    expect(initParams(tiny, 1)).toEqual(a);
    expect(initParams(tiny, 2)['enc.w']).not.toEqual(a['enc.w']);
    expect([...a['enc.b']]).toEqual([...Array(8).fill(0), ...Array(8).fill(1), ...Array(16).fill(0)]);
    // read N = 2 on 6×6: δ̃ = 1/2, δ = 5·½ = 2.5, σ = δ/2
    expect([...a['read.attn.b']]).toEqual([0, 0, Math.fround(Math.log(1.25 ** 2)), Math.fround(Math.log(0.5)), 0]);
    const limit = Math.sqrt(6 / (24 + 32));
    expect(Math.max(...a['enc.w'].map(Math.abs))).toBeLessThanOrEqual(limit);
    expect(Math.max(...a['enc.w'].map(Math.abs))).toBeGreaterThan(0.8 * limit);
    expect(Math.max(...a['q.w'].map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 14) / Math.sqrt(tiny.T));
  });

  it('reject a bad config and mis-shaped data by name', () => {
    expect(() => draw({ ...tiny, zSize: 0 })).toThrow(DrawConfigError);
    expect(() => draw({ ...tiny, zSize: 0 })).toThrow("'zSize' must be a positive integer, got 0");
    const m = draw(tiny);
    const g = trace((xs) => m.loss(xs, { x: xs.x, eps: xs.eps }), { ...m.paramShapes, x: [2, 35], eps: [2, 2, 3] });
    expect(E.isLeft(g) && g.left.message).toBe('DRAW: x has shape [2,35], expected [2,36]');
  });
});

describe('the whole model', () => {
  it.each([
    ['attention', tiny],
    ['no attention', tinyPlain],
    ['read attention only', { ...tiny, writeAttention: false }],
  ] as const)('gradients of every parameter agree with finite differences: %s', (_name, c) => {
    [0, 1].forEach((seed) => expect(P.modelGradientAgrees(c, {}, seed).error).toBeLessThan(1e-5));
  });

  it('custom parts (Cauchy read, non-attentive read) train through the same machinery', () => {
    expect(P.modelGradientAgrees(tiny, { read: attentiveRead({ shape: cauchy }) }).error).toBeLessThan(1e-5);
    expect(
      P.modelGradientAgrees(tiny, { read: plainRead, write: attentiveWrite({ shape: cauchy }) }).error,
    ).toBeLessThan(1e-5);
  });

  // Tolerance 2% of C·A·B·ln 2, for recon − chance and for KL. bce(c, x) = ln 2 + c(½ − x) + r(c),
  // 0 ≤ r ≤ c²/8: the linear term averages out over random pixels, and write's 1/√T-scaled Glorot
  // init keeps |c_T| ≲ 0.3, so r costs < 1.2%; KL per latent ≈ ½μ² + log²σ is O(10⁻³) per latent
  // with q.w likewise scaled. Measured: tiny +0.03%, KL 0.02; mnistFast −0.1%, KL 0.5 (of 543).
  it.each([
    ['tiny', tiny, 4],
    ['tiny, no attention', tinyPlain, 4],
    ['mnistFast', presets.mnistFast, 1],
  ] as const)('starts near chance on random binary images: %s', (_name, c, batch) => {
    const r = P.initLossNearChance(draw(c), batch, 3);
    expect(r.kl).toBeGreaterThan(0);
  });

  it('outputs loss = mean(recon + kl) per image, in nats', () => {
    const m = draw(tiny);
    const out = unwrap(evaluate(unwrap(m.lossGraph(3)), { ...m.init(0), ...P.randomData(tiny, 3, 1) }));
    expect(out.recon.length).toBe(3);
    expect(out.kl.length).toBe(3);
    close(out.loss, [(out.recon.reduce((a, b) => a + b) + out.kl.reduce((a, b) => a + b)) / 3], 1e-12);
  });

  it('trainingGraph adds grad.<param> for every parameter', () => {
    const m = draw(tinyPlain);
    const g = unwrap(m.trainingGraph(2));
    expect([...g.outputs.keys()]).toEqual(['loss', 'recon', 'kl', ...Object.keys(m.params).map((n) => `grad.${n}`)]);
  });

  it('trains with optim.trainStep: the loss falls over a few Adam steps', () => {
    const m = draw(tiny);
    const data = P.randomData(tiny, 4, 9);
    const opt = adam({ lr: 0.03 });
    const g = unwrap(trainStep(m.loss, m.paramShapes, dataSpecs(tiny, 4), opt));
    let s = initTrainState(m.init(0), m.paramShapes, opt);
    const losses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const out = unwrap(evaluate(g, stepFeeds(s, data)));
      losses.push(out[LOSS][0]);
      s = advance(s, out);
    }
    losses.slice(1).forEach((l, i) => expect(l).toBeLessThan(losses[i]));
    expect(losses[7]).toBeLessThan(losses[0] - 1);
  });

  it('reconstruct and generate report canvases and per-step attention', () => {
    const m = draw(tiny);
    const p = m.init(0);
    const rec = unwrap(
      evaluate(unwrap(trace((xs) => m.reconstruct(xs, { x: xs.x, eps: xs.eps }), m.specs(2))), {
        ...p,
        ...P.randomData(tiny, 2, 1),
      }),
    );
    const gen = unwrap(
      evaluate(unwrap(trace((xs) => m.generate(xs, { eps: xs.eps }), m.generateSpecs(2))), {
        ...p,
        eps: P.randomData(tiny, 2, 1).eps,
      }),
    );
    [rec, gen].forEach((o) => {
      expect(o.canvas.length).toBe(tiny.T * 2 * 36);
      expect(o.canvas.every((v) => v > 0 && v < 1)).toBe(true);
      expect(o['write.gx'].length).toBe(tiny.T * 2);
      expect(o['write.sigma'].every((v) => v > 0)).toBe(true);
    });
    expect(Object.keys(rec)).toEqual(expect.arrayContaining(['loss', 'recon', 'kl', 'read.gx', 'read.gamma']));
    expect(Object.keys(gen)).not.toContain('read.gx');
    // the first read sees h_dec = 0: the attention bias alone, so the grid is centred
    expect([...rec['read.gx'].subarray(0, 2)]).toEqual([3.5, 3.5]);
    const plain = draw(tinyPlain);
    const g2 = unwrap(
      evaluate(unwrap(trace((xs) => plain.generate(xs, { eps: xs.eps }), plain.generateSpecs(1))), {
        ...plain.init(0),
        eps: new Float64Array(6),
      }),
    );
    expect(Object.keys(g2)).toEqual(['canvas']);
  });
});

describe('example', () => {
  it('examples/custom-attention.ts runs and passes its gradient check', () => {
    const out = execFileSync('npx', ['tsx', 'examples/custom-attention.ts'], { encoding: 'utf8' });
    expect(out).toMatch(/relative error [0-9.e-]+ \(ok\)/);
  });
});
