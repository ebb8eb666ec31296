// Elementwise kernels rendered as WebAssembly (src/compiler/backends/cpu/wasm-elementwise.ts): their
// tanh, exp and log within a stated float32 ulp bound of Math's, the special values of every
// operation they render, the same results as the JS kernels bit for bit (both compute in float64 and
// round once), the DRAW step included, and how many of DRAW's kernels they take.
import { afterEach, describe, expect, it } from 'vitest';
import {
  trace,
  evaluate,
  unwrap,
  add,
  mul,
  matmul,
  tanh,
  exp,
  log,
  maximum,
  less,
  where,
  sqrt,
  recip,
  concat,
  slice,
  transpose,
  type Tensor,
} from '../src/index.ts';
import { lowerGraph } from '../src/compiler/compile.ts';
import { renderWasmElementwise } from '../src/compiler/backends/cpu/wasm-elementwise.ts';
import { elementwiseCuts } from '../src/compiler/backends/cpu/render.ts';
import { compile, type Program } from '../src/compiler/compile.ts';
import type { Graph } from '../src/compiler/graph.ts';
import { draw, presets, type DrawConfig } from '../src/models/draw/index.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import { trainStep, adam, initTrainState, stepFeeds } from '../src/optim/index.ts';
import { seedRng, fillNormal, fillUniform } from '../src/dsl/rng.ts';

/** Compiles with the elementwise kernels in WebAssembly (on) or all in JS (off). */
const compiled = (g: Graph, wasm: boolean): Program => {
  process.env.DRAW_WASM_ELEMENTWISE = wasm ? '1' : '0';
  return unwrap(compile(g));
};
afterEach(() => delete process.env.DRAW_WASM_ELEMENTWISE);

/** Distance in float32 ulps (of the wanted value's binade) after rounding `want` to float32. */
const ulpsOff = (got: number, want: number): number => {
  const w = Math.fround(want);
  return Math.abs(got - w) / Math.max(2 ** -149, Math.abs(w) * 2 ** -23);
};

describe('WebAssembly elementwise kernels', () => {
  // bit patterns spread over all 2^32 (both signs, subnormals, ∞, NaN), and the edges of each algorithm
  const patterns = (n: number): Float32Array => {
    const x = new Float32Array(n);
    const bits = new Uint32Array(x.buffer);
    for (let i = 0; i < n; i++) bits[i] = (i * 4093) >>> 0;
    x.set([
      0,
      -0,
      4e-4,
      -4e-4,
      1e-30,
      2 ** -126,
      2 ** -149,
      0.5,
      1,
      2,
      7.905,
      -7.906,
      88.72,
      88.73,
      -87.4,
      -103.9,
      -104,
      1e30,
      Infinity,
      -Infinity,
      3.4e38,
      NaN,
    ]);
    return x;
  };
  it.each([
    { name: 'tanh', f: tanh, m: Math.tanh, bound: 2 },
    { name: 'exp', f: exp, m: Math.exp, bound: 1 },
    { name: 'log', f: log, m: Math.log, bound: 1 },
  ])(
    "$name is within $bound float32 ulp of Math's over 2^20 bit patterns (NaN where it is NaN) and equals the JS kernel, in two lanes and in one",
    ({ f, m, bound }) => {
      const side = 1024;
      const x = patterns(side * side);
      // xᵀ is read down the columns, so that kernel runs one lane at a time
      for (const [g, want] of [
        [unwrap(trace(({ x }) => f(x), { x: [side * side] })), (i: number) => m(x[i])],
        [
          unwrap(trace(({ x }) => f(transpose(x)), { x: [side, side] })),
          (i: number) => m(x[(i % side) * side + Math.floor(i / side)]),
        ],
      ] as const) {
        const p = compiled(g, true);
        expect(p.stats.webAssembly).toBe(1);
        const got = Object.values(p.run({ x }))[0];
        const js = Object.values(compiled(g, false).run({ x }))[0];
        let worst = 0;
        let nanWrong = 0;
        let unlikeJs = 0;
        got.forEach((v, i) => {
          const w = want(i);
          if (!Object.is(v, js[i]) && !(Number.isNaN(v) && Number.isNaN(js[i]))) unlikeJs++;
          if (Number.isNaN(w) || Number.isNaN(v)) nanWrong += Number.isNaN(w) === Number.isNaN(v) ? 0 : 1;
          else worst = Math.max(worst, v === Math.fround(w) ? 0 : ulpsOff(v, w));
        });
        expect([worst <= bound ? 'within' : worst, nanWrong, unlikeJs]).toEqual(['within', 0, 0]);
      }
    },
    30_000,
  );

  it('max, less, where, sqrt and recip keep their special values (NaN, ±∞, ±0) as the reference evaluator does', () => {
    const vals = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 2.5, -3e38, 1e-40];
    const a = Float32Array.from(vals.flatMap((u) => vals.map(() => u)));
    const b = Float32Array.from(vals.flatMap(() => vals));
    const g = unwrap(
      trace(
        ({ a, b }) => ({
          max: maximum(a, b),
          less: less(a, b),
          where: where(a, b, mul(b, 2)),
          sqrt: sqrt(a),
          recip: recip(b),
        }),
        { a: [a.length], b: [b.length] },
      ),
    );
    const p = compiled(g, true);
    expect(p.stats.webAssembly).toBe(5);
    const got = p.run({ a, b });
    const want = unwrap(evaluate(g, { a, b }));
    for (const name of ['max', 'less', 'where', 'sqrt', 'recip'])
      want[name].forEach((w, i) => expect(got[name][i], `${name}(${a[i]}, ${b[i]})`).toBe(Math.fround(w)));
  });

  it('runs two lanes where every load moves by one element or none along the innermost axis, one lane where not', () => {
    const lanes = (f: (xs: Record<string, Tensor>) => Tensor) => {
      const g = unwrap(trace(f, { x: [6, 6], y: [6, 6], b: [6, 1] }));
      const l = unwrap(lowerGraph(g));
      const [k] = l.kernels;
      const wat = renderWasmElementwise(
        { nodes: l.nodes, mat: l.mat, kernel: k },
        elementwiseCuts({ nodes: l.nodes, mat: l.mat, kernel: k }),
      )!;
      const x = Float32Array.from({ length: 36 }, (_, i) => i - 17.5),
        y = x.map((v) => v * 0.25),
        b = Float32Array.from([1, 2, 3, 4, 5, 6]);
      const got = Object.values(compiled(g, true).run({ x, y, b }))[0];
      const want = unwrap(evaluate(g, { x, y, b }));
      Object.values(want)[0].forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
      return wat.includes('v128.store64_lane') ? 2 : 1;
    };
    expect(lanes(({ x, y, b }) => mul(add(x, y), b))).toBe(2); // x, y move with the column; b [6, 1] does not (a splat)
    expect(lanes(({ x, y }) => add(transpose(x), y))).toBe(1); // xᵀ moves by a row as the column steps
  });

  it("runs a product's epilogue as WebAssembly over the sgemm's C, products with more operands included", () => {
    // the same epilogue (tanh of the product, [5, 7]) after products of 2 and of 3 operand buffers
    const g = unwrap(
      trace(({ x, y, w, v }) => ({ a: tanh(matmul(x, w)), b: tanh(matmul(concat([x, y], 1), v)) }), {
        x: [5, 3],
        y: [5, 2],
        w: [3, 7],
        v: [5, 7],
      }),
    );
    const feeds = Object.fromEntries(
      Object.entries({ x: 15, y: 10, w: 21, v: 35 }).map(([k, n], j) => [
        k,
        Float32Array.from({ length: n }, (_, i) => Math.sin(i + j)),
      ]),
    );
    const want = unwrap(evaluate(g, feeds));
    const [w, j] = [compiled(g, true).run(feeds), compiled(g, false).run(feeds)];
    for (const name of ['a', 'b'])
      want[name].forEach((v, i) => {
        expect(j[name][i]).toBeCloseTo(v, 5);
        expect(w[name][i], `${name}[${i}]`).toBe(j[name][i]);
      });
  });

  it('decides concat conditions per loop piece, as the JS kernels do', () => {
    const g = unwrap(
      trace(({ x, y }) => add(concat([tanh(x), mul(y, 3)], 1), slice(concat([y, x, y], 1), [0, 3], [4, 14])), {
        x: [4, 5],
        y: [4, 6],
      }),
    );
    const x = new Float32Array(20),
      y = new Float32Array(24);
    fillNormal(seedRng(4), x);
    fillNormal(seedRng(5), y);
    const [w, j] = [compiled(g, true), compiled(g, false)];
    expect([w.stats.webAssembly, j.stats.webAssembly]).toEqual([1, 0]);
    const [gw, gj] = [Object.values(w.run({ x, y }))[0], Object.values(j.run({ x, y }))[0]];
    expect([...gw]).toEqual([...gj]);
  });

  it('computes the DRAW training step as the JS kernels do, bit for bit', () => {
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
    const model = draw(config);
    const opt = adam({ lr: 1e-3 });
    const g = unwrap(trainStep(model.loss, model.paramShapes, dataSpecs(config, 5), opt, { clip: 10 }));
    const x = new Float32Array(5 * 120);
    fillUniform(seedRng(1), x);
    x.forEach((v, i) => (x[i] = v < 0.3 ? 1 : 0));
    const eps = new Float32Array(3 * 5 * 4);
    fillNormal(seedRng(2), eps);
    const feeds = stepFeeds(initTrainState(model.init(3), model.paramShapes, opt), { x, eps });
    const [w, j] = [compiled(g, true), compiled(g, false)];
    expect(w.stats.webAssembly).toBeGreaterThan(w.stats.kernels / 3);
    const [ow, oj] = [w.run(feeds), j.run(feeds)];
    for (const name of Object.keys(oj))
      expect(
        Buffer.from(ow[name].buffer, ow[name].byteOffset, ow[name].byteLength).equals(
          Buffer.from(oj[name].buffer, oj[name].byteOffset, oj[name].byteLength),
        ),
        name,
      ).toBe(true);
  });

  it('takes 931 of the 1,524 kernels of the DRAW step at T=10 (the others: products and reductions)', () => {
    const config = { ...presets.mnistFast, T: 10 };
    const model = draw(config);
    const p = compiled(
      unwrap(trainStep(model.loss, model.paramShapes, dataSpecs(config, 100), adam({ lr: 1e-3 }), { clip: 10 })),
      true,
    );
    expect([p.stats.kernels, p.stats.webAssembly]).toEqual([1524, 931]);
  }, 60_000);
});
