// Training on gpu.js's WebGL in Node (headless-gl): the state stays on the device between steps
// (Program.resident), each step reads back its loss, gradient norm and parameter check only, and
// the run agrees with the cpu backend's to float32 rounding.
import { describe, expect } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { add, compile, draw, mul, presets, sum, tanh, trace, train, unwrap, type TrainOptions } from '../src/index.ts';
import { lowerGraph } from '../src/compiler/compile.ts';
import { gpujsPlan } from '../src/compiler/backends/gpujs/program.ts';
import { getGpuContext } from '../src/compiler/backends/gpujs/context.ts';
import { isWebGLKernel, planRunner } from '../src/compiler/backends/gpujs/runner.ts';
import { fillUniform, seedRng } from '../src/dsl/rng.ts';
import { itNeeds, webgl } from './system.ts';

const model = draw({ ...presets.mnistFast, T: 2, encSize: 8, decSize: 8, zSize: 3, writeN: 3 });
const images = (n: number, seed: number) => {
  const px = new Float32Array(n * 784);
  fillUniform(seedRng(seed), px);
  return { images: px.map((v) => (v < 0.2 ? 1 : 0)), n, rows: 28, cols: 28 };
};
const data = { train: images(20, 1), validation: images(10, 2) };
const base: TrainOptions = { batch: 10, steps: 6, lr: 0.01, evalEvery: 1000, valImages: 10 };
const ran = async (o: TrainOptions) => {
  const r = await train(model, data, o);
  if (E.isLeft(r)) throw r.left;
  return r.right;
};
const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-6);

describe('training on gpujs (WebGL)', () => {
  itNeeds(webgl)(
    'a resident run carries its state on the device: runs agree with host runs of the same program',
    () => {
      // x ← x/2 + y, five times; the host loop feeds each output back, the resident run keeps it
      const g = unwrap(trace(({ x, y }) => ({ next: add(mul(x, 0.5), y), total: sum(x) }), { x: [5], y: [5] }));
      const program = unwrap(compile(g, { backend: 'gpujs' }));
      const y = Float32Array.of(1, -2, 3, 0.25, 8);
      let x = Float32Array.of(4, 4, -4, 2, 0);
      const run = program.resident!({ x: 'next' }, { x });
      for (let k = 0; k < 5; k++) {
        const host = program.run({ x, y });
        const device = run.run({ y }, ['total']);
        expect(Object.keys(device)).toEqual(['total']);
        expect(device.total[0]).toBe(host.total[0]);
        run.accept();
        x = Float32Array.from(host.next);
      }
      expect(Array.from(run.state().x)).toEqual(Array.from(x));
      // a run not accepted leaves the state as it was
      run.run({ y }, []);
      expect(Array.from(run.state().x)).toEqual(Array.from(x));
      expect(() => program.resident!({ z: 'next' }, {})).toThrow(/carried input 'z' is not an input/);
      run.dispose();
      program.dispose();
    },
    60_000,
  );

  itNeeds(webgl)(
    "a plan runner's held inputs go to the device once and stay there for every run",
    () => {
      const g = unwrap(trace(({ w, x }) => ({ y: mul(tanh(w), x), s: sum(mul(w, x)) }), { w: [6], x: [6] }));
      const plan = unwrap(E.flatMap(lowerGraph(g, { backend: 'gpujs' }), gpujsPlan));
      const ctx = getGpuContext();
      if (!ctx.ok) throw new Error(ctx.reason);
      const w = Float32Array.of(0.5, -1, 2, 0.25, -3, 1);
      const plain = planRunner(plan, ctx.gpu, { onDevice: true });
      const holding = planRunner(plan, ctx.gpu, { onDevice: true }, { w });
      const wanted = [1, 2, 3].map((k) => plain.run({ w, x: new Float32Array(6).fill(k) }));
      w.fill(0); // read once, when the runner was made: later runs use what went to the device
      [1, 2, 3].forEach((k, i) => {
        const got = holding.run({ x: new Float32Array(6).fill(k) });
        expect(Array.from(got.y)).toEqual(Array.from(wanted[i].y));
        expect(got.s[0]).toBe(wanted[i].s[0]);
      });
      expect(isWebGLKernel(holding.ran())).toBe(true);
      [plain, holding].forEach((r) => r.dispose());
    },
    60_000,
  );

  itNeeds(webgl)(
    'DRAW trains on gpujs: the loss falls, and steps agree with the cpu backend to float32 tolerance',
    async () => {
      const [cpu, gpu] = [await ran({ ...base, backend: 'cpu' }), await ran({ ...base, backend: 'gpujs' })];
      expect(gpu.mode).toBe('headlessgl');
      expect(gpu.history.at(-1)!.loss).toBeLessThan(gpu.history[0].loss);
      gpu.history.forEach((h, i) => {
        expect(relative(h.loss, cpu.history[i].loss), `loss at step ${h.step}`).toBeLessThan(1e-4);
        expect(relative(h.gradNorm, cpu.history[i].gradNorm), `grad norm at step ${h.step}`).toBeLessThan(1e-3);
      });
      for (const [name, v] of Object.entries(cpu.state.params)) {
        const w = gpu.state.params[name];
        const worst = v.reduce((m, a, i) => Math.max(m, Math.abs(a - w[i])), 0);
        expect(worst, name).toBeLessThan(1e-3);
      }
      expect(gpu.state.step).toBe(6);
      expect(gpu.evals[0].validation.bound).toBeCloseTo(cpu.evals[0].validation.bound, 2);
    },
    120_000,
  );

  itNeeds(webgl)(
    'continues a state bit-exactly on gpujs, and a diverging run keeps its last good state',
    async () => {
      const straight = await ran({ ...base, backend: 'gpujs' });
      const first = await ran({ ...base, backend: 'gpujs', steps: 3 });
      const split = await ran({ ...base, backend: 'gpujs', steps: 3, state: first.state });
      for (const [name, v] of Object.entries(straight.state.params))
        expect(Buffer.from(split.state.params[name].buffer).equals(Buffer.from(v.buffer)), name).toBe(true);
      const diverged = await ran({ ...base, backend: 'gpujs', lr: 1e39 });
      expect(diverged.stopped).toBe('diverged');
      expect(diverged.state.step).toBe(0);
      expect(Object.values(diverged.state.params).every((v) => v.every(Number.isFinite))).toBe(true);
    },
    120_000,
  );
});
