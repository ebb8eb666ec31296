// The benchmark's TensorFlow.js baseline (bench/tfjs-draw.ts) must compute the same function as our
// DRAW step, or the bench's ratio means nothing: same loss and gradients as the reference evaluator
// from the same parameters and batch, and the same losses, gradient norms and parameters as our
// compiled step over a few clipped Adam steps.
import { describe, it, expect, beforeAll, afterEach, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { draw, type DrawConfig } from '../src/models/draw/index.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import { evaluate } from '../src/compiler/evaluate.ts';
import { compile } from '../src/compiler/compile.ts';
import { trainStep, adam, initTrainState, stepFeeds, advance, type TrainState } from '../src/optim/index.ts';
import { LOSS, GRAD_NORM } from '../src/optim/train-step.ts';
import { unwrap } from '../src/util.ts';
import { seedRng, fillNormal, fillUniform } from '../src/dsl/rng.ts';
import { initTfjsWasm, tfjsDraw, type WasmVariant } from '../bench/tfjs-draw.ts';

// A ≠ B so that a swapped Fx/Fy would show; T 3, LSTM 16, batch 5
const config: DrawConfig = {
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
const model = draw(config);

const data = () => {
  const x = new Float32Array(batch * config.A * config.B);
  fillUniform(seedRng(1), x);
  x.forEach((v, i) => (x[i] = v < 0.3 ? 1 : 0));
  const eps = new Float32Array(config.T * batch * config.zSize);
  fillNormal(seedRng(2), eps);
  return { x, eps };
};

/** The initial parameters moved off their init, so no layer (attention's biases, zero biases) sits at a special point. */
const params = () => {
  const p = model.init(3);
  Object.values(p).forEach((v, k) => {
    const n = new Float32Array(v.length);
    fillNormal(seedRng(100 + k), n);
    v.forEach((_, i) => (v[i] += 0.1 * n[i]));
  });
  return p;
};

const maxAbs = (v: ArrayLike<number>) => Array.from(v).reduce((a, x) => Math.max(a, Math.abs(x)), 0);
/** Largest element-wise difference relative to the reference's largest magnitude. */
const relErr = (got: ArrayLike<number>, want: ArrayLike<number>) =>
  Array.from(want).reduce((a, w, i) => Math.max(a, Math.abs(got[i] - w)), 0) / Math.max(maxAbs(want), 1e-12);

let variant: WasmVariant;
beforeAll(async () => {
  // offline: the .wasm comes from node_modules, never over the network
  vi.stubGlobal('fetch', () => Promise.reject(new Error('network used while initialising tfjs-backend-wasm')));
  try {
    variant = await initTfjsWasm();
  } finally {
    vi.unstubAllGlobals();
  }
});
afterEach(() => expect(tf.memory().numTensors, 'tensors left behind').toBe(0));

describe('TensorFlow.js WASM baseline (bench/tfjs-draw.ts)', () => {
  it('runs the single-threaded SIMD build from the package', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(variant).toEqual({ tfjs: '4.22.0', binary: 'tfjs-backend-wasm-simd.wasm', simd: true, threads: 1 });
  });

  // both ways of multiplying (bench/tfjs-draw.ts Products) must compute the same step
  describe.each(['autodiff', 'explicit-transposes'] as const)('products: %s', (products) => {
    it('has the same loss and gradients as the reference evaluator', () => {
      const { x, eps } = data();
      const p = params();
      const ref = unwrap(evaluate(unwrap(model.trainingGraph(batch)), { ...p, x, eps }));
      const baseline = tfjsDraw(config, p, model.paramShapes, batch, { lr: 1e-3, clip: 10, products });
      const got = baseline.lossAndGrads(x, eps);
      baseline.dispose();
      expect(Math.abs(got.loss - ref.loss[0]) / Math.abs(ref.loss[0])).toBeLessThan(1e-5);
      expect(Object.keys(got.grads).sort()).toEqual(Object.keys(model.paramShapes).sort());
      for (const name of Object.keys(model.paramShapes)) {
        expect(maxAbs(ref[`grad.${name}`]), `grad.${name} is not trivially zero`).toBeGreaterThan(1e-6);
        expect(relErr(got.grads[name], ref[`grad.${name}`]), `grad.${name}`).toBeLessThan(1e-4);
      }
    }, 60_000);

    it('takes the same clipped Adam steps as our compiled training step', () => {
      const { x, eps } = data();
      const p = params();
      // a threshold below the gradient norm, so clipping acts on every step
      const opts = { lr: 1e-3, clip: 1 };
      const opt = adam({ lr: opts.lr });
      const program = unwrap(
        compile(unwrap(trainStep(model.loss, model.paramShapes, dataSpecs(config, batch), opt, { clip: opts.clip }))),
      );
      const baseline = tfjsDraw(config, p, model.paramShapes, batch, { ...opts, products });
      let state: TrainState = initTrainState(p, model.paramShapes, opt);
      for (let s = 0; s < 3; s++) {
        const out = program.run(stepFeeds(state, { x, eps }));
        state = advance(state, out);
        const got = baseline.step(x, eps);
        expect(out[GRAD_NORM][0], 'clipping acts').toBeGreaterThan(opts.clip);
        expect(Math.abs(got.loss - out[LOSS][0]) / Math.abs(out[LOSS][0]), `loss at step ${s + 1}`).toBeLessThan(1e-5);
        expect(
          Math.abs(got.gradNorm - out[GRAD_NORM][0]) / out[GRAD_NORM][0],
          `gradient norm at step ${s + 1}`,
        ).toBeLessThan(1e-5);
      }
      const after = baseline.params();
      for (const name of Object.keys(model.paramShapes)) {
        // three Adam steps move each value by up to 3·lr; they agree to float32 rounding (~1e-7 here), and dropping the
        // clipping (which Adam nearly undoes: it only shows in how the steps' scales differ) moves them by ~1e-5
        const moved = Array.from(after[name]).reduce((a, v, i) => Math.max(a, Math.abs(v - p[name][i])), 0);
        expect(moved, `${name} moved`).toBeGreaterThan(opts.lr);
        const diff = Array.from(after[name]).reduce((a, v, i) => Math.max(a, Math.abs(v - state.params[name][i])), 0);
        expect(diff, name).toBeLessThan(2e-3 * opts.lr);
      }
      baseline.dispose();
      program.dispose();
    }, 60_000);
  });
});
