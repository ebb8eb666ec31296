import { describe, it, expect } from 'vitest';
import { firstNonFinite } from '../src/optim/host.ts';
import * as E from 'fp-ts/lib/Either.js';
import {
  trace,
  evaluate,
  unwrap,
  verify,
  simplify,
  matmul,
  add,
  sub,
  mean,
  square,
  bceWithLogits,
  seedRng,
  normal,
  type Tensor,
} from '../src/index.ts';
import type { Graph } from '../src/compiler/graph.ts';
import type { Feeds } from '../src/compiler/evaluate.ts';
import { encodeCheckpoint, decodeCheckpoint } from '../src/io/checkpoint.ts';
import {
  adam,
  sgd,
  clipByGlobalNorm,
  trainStep,
  checkFinite,
  NonFiniteError,
  initTrainState,
  stepFeeds,
  advance,
  checkpointTensors,
  restoreTrainState,
  type Optimizer,
  type TrainState,
} from '../src/optim/index.ts';

type Vals = Record<string, Float64Array>;
const leftMessage = (e: E.Either<Error, unknown>): string => (E.isLeft(e) ? e.left.message : 'no error');

/** Seeded normal draws, scaled, as float64. */
const draws = (seed: number, n: number, scale = 1): Float64Array =>
  Float64Array.from(normal(seedRng(seed), n)[0], (v) => v * scale);

const expectClose = (got: ArrayLike<number>, want: ArrayLike<number>, rel = 1e-10) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(rel * (1 + Math.abs(want[i])));
};

// ---- the update alone, traced: inputs <p>, g.<p>, state keys, step; outputs p.<p> and state keys ----

const shapes = { w: [3, 4], b: [4] } as const;

const updateGraph = (opt: Optimizer): Graph =>
  unwrap(
    trace(
      (xs: Record<string, Tensor>) => {
        const pick = (f: (n: string) => string) => Object.fromEntries(Object.keys(shapes).map((n) => [n, xs[f(n)]]));
        const state = Object.fromEntries(Object.keys(opt.stateSpecs(shapes)).map((k) => [k, xs[k]]));
        const r = opt.update(
          pick((n) => n),
          pick((n) => `g.${n}`),
          state,
          xs.step,
        );
        return { ...Object.fromEntries(Object.entries(r.params).map(([n, t]) => [`p.${n}`, t])), ...r.state };
      },
      { ...shapes, 'g.w': shapes.w, 'g.b': shapes.b, ...opt.stateSpecs(shapes), step: [] },
    ),
  );

/** Runs 3 steps of an optimiser graph against a float64 reference `ref(p, g, state, t)` mutating in place. */
const checkAgainstReference = (
  opt: Optimizer,
  ref: (p: Float64Array, g: Float64Array, s: Float64Array[], t: number) => void,
  slots: string[],
) => {
  const g = updateGraph(opt);
  let params: Vals = { w: draws(1, 12), b: draws(2, 4) };
  let state: Vals = Object.fromEntries(Object.entries(opt.init(shapes)).map(([k, v]) => [k, Float64Array.from(v)]));
  const refP: Vals = { w: params.w.slice(), b: params.b.slice() };
  const refS: Record<string, Float64Array[]> = {
    w: slots.map(() => new Float64Array(12)),
    b: slots.map(() => new Float64Array(4)),
  };
  for (let t = 1; t <= 3; t++) {
    // gradients of mixed magnitude, different each step
    const grads = { 'g.w': draws(10 + t, 12, 10 ** (t - 2)), 'g.b': draws(20 + t, 4, 3) };
    const out = unwrap(evaluate(g, { ...params, ...grads, ...state, step: [t] }));
    ref(refP.w, grads['g.w'], refS.w, t);
    ref(refP.b, grads['g.b'], refS.b, t);
    expectClose(out['p.w'], refP.w);
    expectClose(out['p.b'], refP.b);
    slots.forEach((s, i) => {
      expectClose(out[`${s}.w`], refS.w[i]);
      expectClose(out[`${s}.b`], refS.b[i]);
    });
    params = { w: out['p.w'], b: out['p.b'] };
    state = Object.fromEntries(Object.keys(state).map((k) => [k, out[k]]));
    expect(params.w).not.toEqual(draws(1, 12)); // it did move
  }
};

const adamRef =
  (lr0: number, b1: number, b2: number, eps: number, halfLife = Infinity) =>
  (p: Float64Array, g: Float64Array, [m, v]: Float64Array[], t: number) => {
    const lr = lr0 * 0.5 ** ((t - 1) / halfLife);
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const mh = m[i] / (1 - b1 ** t);
      const vh = v[i] / (1 - b2 ** t);
      p[i] -= (lr * mh) / (Math.sqrt(vh) + eps);
    }
  };

describe('adam', () => {
  it.each([
    { lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 1e-3 },
    { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    { lr: 0.1, beta1: 0, beta2: 0.5, eps: 0.1 }, // β1 = 0: no ln 0 in the graph
  ])('matches a float64 reference over 3 steps (%o)', (hp) => {
    checkAgainstReference(adam(hp), adamRef(hp.lr, hp.beta1, hp.beta2, hp.eps), ['m', 'v']);
  });

  it('halves the learning rate every lrHalfLife steps, from step 1 (float64 reference over 3 steps)', () => {
    const hp = { lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 1e-3, lrHalfLife: 0.5 }; // rate ×1, ×¼, ×1/16
    checkAgainstReference(adam(hp), adamRef(hp.lr, hp.beta1, hp.beta2, hp.eps, hp.lrHalfLife), ['m', 'v']);
    expect(adam(hp).hyper.lrHalfLife).toBe(0.5);
    expect(() => adam({ lr: 1, lrHalfLife: 0 })).toThrow('adam: lrHalfLife must be positive, got 0');
  });

  it('declares m and v per parameter, zero-initialised', () => {
    const opt = adam({ lr: 1e-3 });
    expect(opt.stateSpecs(shapes)).toEqual({ 'm.w': [3, 4], 'm.b': [4], 'v.w': [3, 4], 'v.b': [4] });
    expect(opt.init(shapes)['v.w']).toEqual(new Float32Array(12));
    expect(opt.hyper).toEqual({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
  });

  it('rejects bad hyper-parameters and missing state by name', () => {
    expect(() => adam({ lr: -1 })).toThrow('adam: lr must be positive, got -1');
    expect(() => adam({ lr: 1, beta2: 1 })).toThrow('adam: beta2 must be in [0, 1), got 1');
    const opt = adam({ lr: 1 });
    const r = trace(({ w, g, m, step }) => opt.update({ w }, { w: g }, { 'm.w': m }, step).params.w, {
      w: [2],
      g: [2],
      m: [2],
      step: [],
    });
    expect(leftMessage(r)).toBe("adam: missing state 'v.w'");
    const r2 = trace(({ w, g, step }) => opt.update({ w }, { w: g }, opt.stateSpecs({}) as never, step).params.w, {
      w: [2],
      g: [3],
      step: [],
    });
    expect(leftMessage(r2)).toBe("adam: gradient of 'w' has shape [3], its parameter has [2]");
  });
});

describe('sgd', () => {
  const momentumRef =
    (lr: number, mu: number, nesterov: boolean) =>
    (p: Float64Array, g: Float64Array, [b]: Float64Array[]) => {
      for (let i = 0; i < p.length; i++) {
        b[i] = mu * b[i] + g[i];
        p[i] -= lr * (nesterov ? g[i] + mu * b[i] : b[i]);
      }
    };
  it('heavy-ball momentum matches a float64 reference over 3 steps', () =>
    checkAgainstReference(sgd({ lr: 0.1, momentum: 0.9 }), momentumRef(0.1, 0.9, false), ['velocity']));
  it('Nesterov momentum matches a float64 reference over 3 steps', () =>
    checkAgainstReference(sgd({ lr: 0.05, momentum: 0.7, nesterov: true }), momentumRef(0.05, 0.7, true), [
      'velocity',
    ]));
  it('plain SGD has no state', () => {
    const opt = sgd({ lr: 0.3 });
    expect(opt.stateSpecs(shapes)).toEqual({});
    checkAgainstReference(opt, (p, g) => p.forEach((_, i) => (p[i] -= 0.3 * g[i])), []);
    expect(() => sgd({ lr: 0.1, nesterov: true })).toThrow('sgd: nesterov needs a positive momentum');
  });
});

describe('clipByGlobalNorm', () => {
  const clipGraph = (maxNorm: number) =>
    unwrap(
      trace(
        ({ a, b }) => {
          const r = clipByGlobalNorm({ a, b }, maxNorm);
          return { norm: r.norm, a: r.grads.a, b: r.grads.b };
        },
        { a: [3], b: [2, 2] },
      ),
    );
  const a = Float64Array.of(3, -4, 1);
  const b = Float64Array.of(2, 0.5, -6, 2);
  const trueNorm = Math.hypot(...a, ...b);

  it('scales to exactly maxNorm when above, keeping the direction', () => {
    const out = unwrap(evaluate(clipGraph(2), { a, b }));
    expect(out.norm[0]).toBeCloseTo(trueNorm, 12);
    expect(Math.hypot(...out.a, ...out.b)).toBeCloseTo(2, 12);
    expectClose(
      out.a,
      a.map((v) => (v * 2) / trueNorm),
      1e-13,
    );
    expectClose(
      out.b,
      b.map((v) => (v * 2) / trueNorm),
      1e-13,
    );
  });

  it('leaves gradients bit-for-bit unchanged when below, and zero gradients finite', () => {
    const out = unwrap(evaluate(clipGraph(trueNorm * 1.0001), { a, b }));
    expect(out.a).toEqual(a);
    expect(out.b).toEqual(b);
    const awkward = unwrap(evaluate(clipGraph(49), { a, b })); // 49·(1/49) ≠ 1 in float64
    expect(awkward.a).toEqual(a);
    const zero = unwrap(evaluate(clipGraph(1), { a: [0, 0, 0], b: [0, 0, 0, 0] }));
    expect([...zero.a, ...zero.b]).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(zero.norm[0]).toBeLessThan(1e-14);
  });

  it('rejects a non-positive threshold', () => {
    expect(leftMessage(trace(({ a }) => clipByGlobalNorm({ a }, 0).norm, { a: [2] }))).toBe(
      'clipByGlobalNorm: maxNorm must be positive, got 0',
    );
  });
});

// ---- the whole step ----

const N = 32;
const X = draws(100, N * 3);
const W_TRUE = [1.5, -2, 0.5];
const Y = Float64Array.from({ length: N }, (_, i) => X[3 * i] * 1.5 - X[3 * i + 1] * 2 + X[3 * i + 2] * 0.5 + 0.3);
const lsSpecs = { params: { w: [3, 1], b: [1] }, data: { x: [N, 3], y: [N, 1] } } as const;
const leastSquares = ({ w, b }: { w: Tensor; b: Tensor }, { x, y }: { x: Tensor; y: Tensor }) =>
  mean(square(sub(add(matmul(x, w), b), y)));
const lsStep = (opt: Optimizer, clip?: number) =>
  unwrap(trainStep(leastSquares, lsSpecs.params, lsSpecs.data, opt, { clip }));

const run = (g: Graph, s: TrainState, data: Feeds, steps: number, losses: number[] = []): TrainState => {
  for (let i = 0; i < steps; i++) {
    const out = unwrap(evaluate(g, stepFeeds(s, data)));
    losses.push(out.loss[0]);
    s = advance(s, out);
  }
  return s;
};

describe('trainStep', () => {
  it('is one graph with the documented names', () => {
    const g = lsStep(adam({ lr: 0.1 }));
    expect([...g.inputs.keys()]).toEqual(['w', 'b', 'opt.m.w', 'opt.m.b', 'opt.v.w', 'opt.v.b', 'x', 'y', 'step']);
    expect([...g.outputs.keys()]).toEqual([
      'loss',
      'gradNorm',
      'param.w',
      'param.b',
      'opt.m.w',
      'opt.m.b',
      'opt.v.w',
      'opt.v.b',
    ]);
    // what the compiler will do to it first: still valid, same values
    const feeds = stepFeeds(initTrainState({ w: [0.1, 0.2, 0.3], b: [0] }, lsSpecs.params, adam({ lr: 0.1 })), {
      x: X,
      y: Y,
    });
    const simple = unwrap(verify(simplify(g)));
    expect(simple.nodes.size).toBeLessThan(g.nodes.size);
    expect(unwrap(evaluate(simple, feeds))).toEqual(unwrap(evaluate(g, feeds)));
  });

  it('step 1 equals clip(analytic gradient) fed through the Adam reference', () => {
    const w0 = Float64Array.of(0.2, 0.1, -0.3);
    const b0 = Float64Array.of(0.05);
    const out = unwrap(
      evaluate(lsStep(adam({ lr: 0.1, eps: 1e-2 }), 1), {
        w: w0,
        b: b0,
        'opt.m.w': [0, 0, 0],
        'opt.m.b': [0],
        'opt.v.w': [0, 0, 0],
        'opt.v.b': [0],
        x: X,
        y: Y,
        step: [1],
      }),
    );
    const r = Array.from(
      { length: N },
      (_, i) => X[3 * i] * w0[0] + X[3 * i + 1] * w0[1] + X[3 * i + 2] * w0[2] + b0[0] - Y[i],
    );
    const gw = Float64Array.from([0, 1, 2], (j) => (2 / N) * r.reduce((acc, ri, i) => acc + ri * X[3 * i + j], 0));
    const gb = Float64Array.of((2 / N) * r.reduce((acc, ri) => acc + ri, 0));
    const norm = Math.hypot(...gw, ...gb);
    expect(norm).toBeGreaterThan(1); // so the clip is active
    expect(out.gradNorm[0]).toBeCloseTo(norm, 10);
    expect(out.loss[0]).toBeCloseTo(r.reduce((acc, ri) => acc + ri * ri, 0) / N, 12);
    const ref = adamRef(0.1, 0.9, 0.999, 1e-2);
    const [pw, pb] = [w0.slice(), b0.slice()];
    ref(
      pw,
      gw.map((v) => v / norm),
      [new Float64Array(3), new Float64Array(3)],
      1,
    );
    ref(
      pb,
      gb.map((v) => v / norm),
      [new Float64Array(1), new Float64Array(1)],
      1,
    );
    expectClose(out['param.w'], pw, 1e-9);
    expectClose(out['param.b'], pb, 1e-9);
  });

  it('fits least squares with Adam: loss falls by orders of magnitude', () => {
    const opt = adam({ lr: 0.1 });
    const losses: number[] = [];
    const s = run(
      lsStep(opt),
      initTrainState({ w: [0, 0, 0], b: [0] }, lsSpecs.params, opt),
      { x: X, y: Y },
      150,
      losses,
    );
    expect(s.step).toBe(150);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] * 1e-3);
    expectClose(s.params.w, W_TRUE, 2e-2);
  });

  it('fits logistic regression with clipped Nesterov SGD', () => {
    const t = Float64Array.from({ length: N }, (_, i) => (X[3 * i] - X[3 * i + 1] > 0.2 ? 1 : 0));
    const opt = sgd({ lr: 0.5, momentum: 0.9, nesterov: true });
    const g = unwrap(
      trainStep(
        ({ w, b }, { x, t }) => mean(bceWithLogits(add(matmul(x, w), b), t)),
        lsSpecs.params,
        { x: [N, 3], t: [N, 1] } as const,
        opt,
        { clip: 0.5 },
      ),
    );
    const losses: number[] = [];
    run(g, initTrainState({ w: [0, 0, 0], b: [0] }, lsSpecs.params, opt), { x: X, t }, 100, losses);
    expect(losses[0]).toBeCloseTo(Math.log(2), 12);
    expect(losses[losses.length - 1]).toBeLessThan(0.25 * losses[0]);
  });

  it('refuses clashing names and reports trace errors as a Left', () => {
    const opt = sgd({ lr: 1 });
    const f = ({ w }: { w: Tensor }) => mean(w);
    expect(leftMessage(trainStep(f, { w: [2] }, { w: [2] }, opt))).toBe(
      "trainStep: 'w' is both a parameter and a data input",
    );
    expect(leftMessage(trainStep(f, { w: [2] }, { step: [1] }, opt))).toBe(
      "trainStep: 'step' is reserved for the step number",
    );
    expect(leftMessage(trainStep(f, { w: [2] }, { 'opt.x': [1] }, opt))).toBe(
      "trainStep: 'opt.x': names starting 'opt.' are reserved for optimiser state",
    );
    expect(leftMessage(trainStep(({ w }, { x }) => mean(matmul(x, w)), { w: [2, 1] }, { x: [4, 3] }, opt))).toBe(
      'matmul: inner dimensions differ, got [4,3] and [2,1]',
    );
  });
});

describe('non-finite guard', () => {
  it('firstNonFinite finds NaN, +∞ and −∞ and passes float32 extremes', () => {
    const v = Float32Array.of(0, -0, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45);
    expect(firstNonFinite(v)).toBe(-1);
    for (const bad of [NaN, Infinity, -Infinity]) expect(firstNonFinite(Float32Array.of(1, 2, bad, bad))).toBe(2);
  });
  it('names the step and both values', () => {
    expect(() => checkFinite(1234, { loss: [NaN], gradNorm: [Infinity] })).toThrow(
      'non-finite loss at step 1234 (loss NaN, grad norm Inf)',
    );
    expect(() => checkFinite(7, { loss: [0.5], gradNorm: [-Infinity] })).toThrow(
      'non-finite gradient norm at step 7 (loss 0.5, grad norm -Inf)',
    );
    expect(() => checkFinite(7, { loss: [0.5], gradNorm: [3] })).not.toThrow();
    expect(() => checkFinite(7, { loss: [0.5] })).toThrow("missing step output 'gradNorm' (outputs: loss)");
  });

  it('stops a diverging run before it overwrites the last good state', () => {
    const opt = adam({ lr: 0.1 });
    const g = lsStep(opt);
    const s = run(g, initTrainState({ w: [0, 0, 0], b: [0] }, lsSpecs.params, opt), { x: X, y: Y }, 2);
    const bad = Y.slice();
    bad[5] = NaN;
    const out = unwrap(evaluate(g, stepFeeds(s, { x: X, y: bad })));
    let err: unknown;
    try {
      advance(s, out);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toBe('non-finite loss at step 3 (loss NaN, grad norm NaN)');
    expect(s.step).toBe(2);
  });

  it('stops a step whose loss and gradient are finite but whose update overflows float32', () => {
    const opt = sgd({ lr: 1e39 });
    const g = lsStep(opt);
    const s = initTrainState({ w: [0.5, 0, 0], b: [0] }, lsSpecs.params, opt);
    const out = unwrap(evaluate(g, stepFeeds(s, { x: X, y: Y })));
    expect(Number.isFinite(out.loss[0]) && Number.isFinite(out.gradNorm[0])).toBe(true);
    expect(() => advance(s, out)).toThrow(
      /^non-finite \w+\[\d+\] = -?Inf after step 1 \(loss [\d.]+, grad norm [\d.]+\): the update overflowed float32/,
    );
  });
});

describe('advance into a spare state', () => {
  it("writes the new state into the spare's arrays, with the values a fresh one gets, and leaves the current state alone on overflow", () => {
    const opt = adam({ lr: 0.05 });
    const g = lsStep(opt);
    const s0 = initTrainState({ w: [0, 0, 0], b: [0] }, lsSpecs.params, opt);
    const s1 = advance(s0, unwrap(evaluate(g, stepFeeds(s0, { x: X, y: Y }))));
    const out = unwrap(evaluate(g, stepFeeds(s1, { x: X, y: Y })));
    const fresh = advance(s1, out);
    const before = structuredClone(s0);
    const reused = advance(s1, out, s0);
    for (const [n, v] of Object.entries({ ...reused.params, ...reused.opt })) {
      expect(v, n).toBe(({ ...s0.params, ...s0.opt } as Record<string, Float32Array>)[n]); // the spare's array
      expect(Array.from(v), n).toEqual(
        Array.from(({ ...fresh.params, ...fresh.opt } as Record<string, Float32Array>)[n]),
      );
    }
    expect(before.params.w).not.toEqual(reused.params.w);
    // passing the current state as the spare must not write into it
    const self = advance(s1, out, s1);
    expect(self.params.w).not.toBe(s1.params.w);
    // an overflowing update throws; the current state is untouched (the spare's values are not kept)
    const huge = sgd({ lr: 1e39 });
    const h = initTrainState({ w: [0.5, 0, 0], b: [0] }, lsSpecs.params, huge);
    const spare = initTrainState({ w: [9, 9, 9], b: [9] }, lsSpecs.params, huge);
    const hout = unwrap(evaluate(lsStep(huge), stepFeeds(h, { x: X, y: Y })));
    expect(() => advance(h, hout, spare)).toThrow(NonFiniteError);
    expect(Array.from(h.params.w)).toEqual([0.5, 0, 0]);
  });
});

describe('checkpointing training state', () => {
  it('round-trips through a checkpoint and resumes bit-identically', () => {
    const opt = adam({ lr: 0.05 });
    const g = lsStep(opt);
    const data = { x: X, y: Y };
    const s5 = run(g, initTrainState({ w: [0.1, 0.2, 0.3], b: [0] }, lsSpecs.params, opt), data, 5);
    const tensors = checkpointTensors(s5, lsSpecs.params, opt);
    expect(Object.keys(tensors)).toEqual(['w', 'b', 'opt.m.w', 'opt.m.b', 'opt.v.w', 'opt.v.b']);
    const bytes = encodeCheckpoint({ meta: { step: s5.step, optimizer: { name: opt.name, ...opt.hyper } }, tensors });
    const ck = unwrap(E.mapLeft((e: { message: string }) => new Error(e.message))(decodeCheckpoint(bytes, 'mem')));
    const back = unwrap(restoreTrainState(ck.tensors, (ck.meta as { step: number }).step, lsSpecs.params, opt));
    expect(back).toEqual(s5);
    expect(run(g, back, data, 3)).toEqual(run(g, s5, data, 3));
  });

  it('names what does not fit', () => {
    const opt = adam({ lr: 0.05 });
    const s = initTrainState({ w: [0, 0, 0], b: [0] }, lsSpecs.params, opt);
    const t = checkpointTensors(s, lsSpecs.params, opt);
    expect(leftMessage(restoreTrainState(t, 0, lsSpecs.params, sgd({ lr: 1, momentum: 0.9 })))).toBe(
      "restore: checkpoint lacks 'opt.velocity.w', 'opt.velocity.b'",
    );
    expect(leftMessage(restoreTrainState(t, 0, lsSpecs.params, sgd({ lr: 1 })))).toBe(
      "restore: checkpoint has optimiser state 'opt.m.w', 'opt.m.b', 'opt.v.w', 'opt.v.b' that sgd does not use (saved with another optimiser?)",
    );
    expect(leftMessage(restoreTrainState(t, 0, { w: [1, 3], b: [1] }, opt))).toBe(
      "restore: 'w' has shape [3,1] in the checkpoint, expected [1,3]",
    );
    expect(() => initTrainState({ w: [0, 0] }, lsSpecs.params, opt)).toThrow(
      "'w': expected 3 values for shape [3,1], got 2",
    );
  });
});
