// The library's training loop, as a user's project calls it: plain Float32Array images, callbacks,
// an AbortSignal, and a result that says how the run ended.
import { describe, it, expect } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { execFileSync } from 'node:child_process';
import {
  draw,
  train,
  presets,
  NonFiniteError,
  type TrainData,
  type TrainOptions,
  type TrainResult,
} from '../src/index.ts';
import { fillUniform, seedRng } from '../src/dsl/rng.ts';

const model = draw({ ...presets.mnistFast, T: 2, encSize: 8, decSize: 8, zSize: 3, writeN: 3 });
const images = (n: number, seed: number, side = 28) => {
  const px = new Float32Array(n * side * side);
  fillUniform(seedRng(seed), px);
  return { images: px.map((v) => (v < 0.2 ? 1 : 0)), n, rows: side, cols: side };
};
const data: TrainData = { train: images(40, 1), validation: images(10, 2) };
const base: TrainOptions = { batch: 10, steps: 30, lr: 0.01, evalEvery: 1000, valImages: 10 };
const ran = async (d: TrainData, o: TrainOptions): Promise<TrainResult> => {
  const r = await train(model, d, o);
  if (E.isLeft(r)) throw r.left;
  return r.right;
};
const leftOf = async (d: TrainData, o: TrainOptions) => {
  const r = await train(model, d, o);
  return E.isLeft(r) ? `${r.left.name}: ${r.left.message}` : 'no error';
};

describe('train', () => {
  it('lowers the loss, calls back every step, and evaluates and checkpoints at the end', async () => {
    const steps: number[] = [];
    const checkpoints: number[] = [];
    let start: unknown;
    const r = await ran(data, {
      ...base,
      onStart: (s) => (start = s),
      onStep: (s) => steps.push(s.step),
      onCheckpoint: (s) => checkpoints.push(s.step),
    });
    expect(start).toMatchObject({ fromStep: 0, toStep: 30 });
    expect(r.stopped).toBe('done');
    expect(r.state.step).toBe(30);
    expect(steps).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(checkpoints).toEqual([30]);
    expect(r.history[29].loss).toBeLessThan(r.history[0].loss - 20);
    expect(r.evals).toHaveLength(1);
    expect(r.evals[0]).toMatchObject({ step: 30, final: true });
    expect(r.evals[0].validation.images).toBe(10);
  }, 60_000);

  it('evaluates and checkpoints every N steps, and the last step once', async () => {
    const evals: string[] = [];
    const checkpoints: number[] = [];
    await ran(data, {
      ...base,
      steps: 6,
      evalEvery: 2,
      checkpointEvery: 3,
      onEval: (e) => evals.push(`${e.step}${e.final ? ' final' : ''}`),
      onCheckpoint: (s) => checkpoints.push(s.step),
    });
    expect(evals).toEqual(['2', '4', '6 final']);
    expect(checkpoints).toEqual([3, 6]);
  }, 60_000);

  it('the README example (examples/train-api.ts) runs as printed', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/train-api.ts'], { encoding: 'utf8' });
    expect(out).toMatch(/step 40: validation bound [\d.]+ nats\ndone after 40 steps/);
  }, 60_000);

  it.each([1, 2])(
    'continues a state bit-exactly on %i thread(s): 6 steps equal 3, then 3 more from the state',
    async (threads) => {
      const straight = await ran(data, { ...base, threads, steps: 6 });
      const first = await ran(data, { ...base, threads, steps: 3 });
      const split = await ran(data, { ...base, threads, steps: 3, state: first.state });
      expect(split.state.step).toBe(6);
      expect(split.threads).toBe(threads);
      for (const [name, v] of Object.entries(straight.state.params))
        expect(Buffer.from(split.state.params[name].buffer).equals(Buffer.from(v.buffer)), name).toBe(true);
    },
    60_000,
  );

  it('stops between steps when its signal is aborted', async () => {
    const abort = new AbortController();
    const r = await ran(data, { ...base, signal: abort.signal, onStep: (s) => s.step === 3 && abort.abort() });
    expect(r.stopped).toBe('aborted');
    expect(r.state.step).toBe(3);
  }, 60_000);

  it('ends a diverging run with the last good state and the step that overflowed', async () => {
    const r = await ran(data, { ...base, lr: 1e39 });
    expect(r.stopped).toBe('diverged');
    expect(r.error).toBeInstanceOf(NonFiniteError);
    expect(r.state.step).toBe(0);
    expect(Object.values(r.state.params).every((v) => v.every(Number.isFinite))).toBe(true);
  }, 60_000);

  it('is a Left naming the problem when the run cannot start, before compiling or calling back', async () => {
    let started = false;
    const o = { ...base, onStart: () => (started = true) };
    expect(await leftOf({ train: images(5, 1) }, o)).toBe(
      'TrainError: train: the training data has 5 images, fewer than one batch of 10',
    );
    expect(await leftOf({ train: images(40, 1, 20) }, o)).toBe(
      'TrainError: train: the training data images are 20×20, the model expects 28×28',
    );
    expect(await leftOf({ train: { ...images(40, 1), n: 41 } }, o)).toMatch(
      /^TrainError: train: the training data has 31360 values, 41 images of 28×28 need 32144$/,
    );
    expect(await leftOf(data, { ...o, steps: 0 })).toBe('TrainError: train: steps must be a positive integer, got 0');
    expect(await leftOf(data, { ...o, lr: -1 })).toBe('TrainError: train: lr must be a positive number, got -1');
    expect(await leftOf(data, { ...o, backend: 'tpu' as never })).toMatch(
      /^CompileError: compile: unknown backend "tpu"/,
    );
    expect(started).toBe(false);
  }, 60_000);
});
