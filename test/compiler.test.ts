import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  trace,
  grad,
  evaluate,
  unwrap,
  add,
  mul,
  tanh,
  exp,
  sigmoid,
  matmul,
  concat,
  sliceAxis,
  sum,
  materialize,
  type Tensor,
} from '../src/index.ts';
import { compile, lowerGraph, type BackendName } from '../src/compiler/compile.ts';
import { fuse, type Kernel } from '../src/compiler/fuse.ts';
import { GPU_FUSION } from '../src/compiler/backends/gpujs/program.ts';
import { draw, presets } from '../src/models/draw/index.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import { adam } from '../src/optim/index.ts';
import { trainStep } from '../src/optim/train-step.ts';
import { planBuffers } from '../src/compiler/schedule.ts';
import { BoundedCache } from '../src/compiler/cache.ts';
import type { Graph } from '../src/compiler/graph.ts';
import { simplify } from '../src/compiler/passes.ts';
import { renderCpuKernel } from '../src/compiler/backends/cpu/render.ts';
import { arbRandomGraph, type RandomGraph } from '../src/testing/random-graphs.ts';
import { availableBackends, itNeeds, webgl } from './system.ts';

const close = (
  ref: Record<string, Float64Array>,
  out: Record<string, Float32Array>,
  rel = 1e-4,
): string | undefined => {
  for (const k of Object.keys(ref)) {
    const scale = ref[k].reduce((m, v) => Math.max(m, Math.abs(v)), 1);
    for (let i = 0; i < ref[k].length; i++)
      if (!(Math.abs(ref[k][i] - out[k][i]) <= rel * scale))
        return `${k}[${i}]: reference ${ref[k][i]}, compiled ${out[k][i]}`;
  }
  return undefined;
};

const H = 8;
const lstm = ({ x, h, c, w, b }: Record<string, Tensor>) => {
  const z = add(matmul(concat([x, h], 1), w), b);
  const gate = (k: number) => sliceAxis(z, 1, k * H, (k + 1) * H);
  const c2 = add(mul(sigmoid(gate(0)), c), mul(sigmoid(gate(1)), tanh(gate(2))));
  return { h2: mul(sigmoid(gate(3)), tanh(c2)), c2 };
};
const lstmSpecs = { x: [3, 5], h: [3, H], c: [3, H], w: [5 + H, 4 * H], b: [4 * H] } as const;

describe.each(availableBackends())('backend %s', (backend: BackendName) => {
  const check = (rg: RandomGraph) => {
    const ref = unwrap(evaluate(rg.graph, rg.feeds));
    const out = unwrap(compile(rg.graph, { backend, poison: true })).run(rg.feeds);
    const bad = close(ref, out);
    if (bad) throw new Error(`${bad} in ${rg.description}`);
    return true;
  };
  // gpu.js compiles each new kernel (a GLSL shader on headless-gl), so its backends get fewer graphs
  const numRuns = backend === 'cpu' ? 150 : 15;
  it('matches the reference on random forward graphs', () => {
    fc.assert(fc.property(arbRandomGraph(false), check), { numRuns, seed: 11 });
  }, 120_000);
  it('matches the reference on random gradient graphs', () => {
    fc.assert(fc.property(arbRandomGraph(true), check), { numRuns, seed: 12 });
  }, 120_000);
  it('matches the reference on an LSTM cell and its gradient', () => {
    const g = unwrap(
      grad(
        unwrap(
          trace((xs) => {
            const o = lstm(xs);
            return { ...o, loss: sum(mul(o.h2, o.h2)) };
          }, lstmSpecs),
        ),
        'loss',
        ['x', 'h', 'c', 'w', 'b'],
      ),
    );
    const feeds = Object.fromEntries(
      Object.entries(lstmSpecs).map(([k, s], j) => [
        k,
        Float64Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 1.7 + j)),
      ]),
    );
    expect(close(unwrap(evaluate(g, feeds)), unwrap(compile(g, { backend, poison: true })).run(feeds))).toBeUndefined();
  });
});

describe('fusion', () => {
  const kernelsOf = (
    f: (xs: Record<string, Tensor>) => Tensor | Record<string, Tensor>,
    specs: Record<string, readonly number[]>,
  ) => fuse(simplify(unwrap(trace(f, specs)))).kernels;

  it('fuses a chain of 10 elementwise ops into one kernel', () => {
    expect(
      kernelsOf(({ x }) => Array.from({ length: 10 }).reduce<Tensor>((t, _, i) => (i % 2 ? tanh(t) : mul(t, 1.5)), x), {
        x: [4, 4],
      }),
    ).toHaveLength(1);
  });
  it('compiles an LSTM cell forward pass to 3 kernels (gates matmul + bias, c, h)', () => {
    expect(kernelsOf(lstm, lstmSpecs)).toHaveLength(3);
  });
  it('fuses a reduction with its prologue and epilogue: exp(sum(tanh(x)·2)) is one kernel', () => {
    expect(kernelsOf(({ x }) => exp(sum(mul(tanh(x), 2), 1)), { x: [3, 5] })).toHaveLength(1);
  });
  it('keeps one reduction per kernel: sum(x) + sum(y) is two kernels, the add fused after the second sum', () => {
    const ks = kernelsOf(({ x, y }) => add(sum(x, 1), sum(y, 1)), { x: [3, 5], y: [3, 4] });
    expect(ks).toHaveLength(2);
    expect(ks.every((k) => k.reduction !== undefined)).toBe(true);
  });
  it('materialize forces a boundary', () => {
    expect(kernelsOf(({ x }) => tanh(materialize(exp(x))), { x: [4] })).toHaveLength(2);
  });
  it('materialises a value used twice rather than computing it twice', () => {
    expect(
      kernelsOf(
        ({ x }) => {
          const e = exp(x);
          return { a: tanh(e), b: mul(e, 2) };
        },
        { x: [4] },
      ),
    ).toHaveLength(3);
  });
  it('repeats up to 3 adds and multiplies of buffers in each user rather than storing them (σ from a stored tanh)', () => {
    const users =
      (ops: number) =>
      ({ x }: Record<string, Tensor>) => {
        const t = materialize(tanh(x));
        const s = Array.from({ length: ops - 1 }).reduce<Tensor>((v) => add(v, t), mul(0.5, t));
        return { a: exp(s), b: tanh(s) };
      };
    expect(kernelsOf(users(3), { x: [4] })).toHaveLength(3); // tanh, a, b
    expect(kernelsOf(users(4), { x: [4] })).toHaveLength(4); // tanh, s, a, b
  });
});

describe('fusion for a GPU (GPU_FUSION: launches cost more than arithmetic)', () => {
  const kernelsOf = (
    f: (xs: Record<string, Tensor>) => Tensor | Record<string, Tensor>,
    specs: Record<string, readonly number[]>,
  ) => fuse(simplify(unwrap(trace(f, specs))), GPU_FUSION).kernels;

  it('computes an exp used twice again in each user: 2 kernels where the cpu stores it (3)', () => {
    const twice = ({ x }: Record<string, Tensor>) => {
      const e = exp(x);
      return { a: tanh(e), b: mul(e, 2) };
    };
    expect(kernelsOf(twice, { x: [4] })).toHaveLength(2);
  });
  it('computes a cheap value again for every copy a broadcast makes: 1 kernel where the cpu stores it (2)', () => {
    const f = ({ x, y }: Record<string, Tensor>) => add(y, tanh(mul(x, 2)));
    expect(kernelsOf(f, { x: [4], y: [3, 4] })).toHaveLength(1);
    expect(fuse(simplify(unwrap(trace(f, { x: [4], y: [3, 4] })))).kernels).toHaveLength(2);
  });
  it("never lets a kernel read more than 15 buffers (gpu.js's texture unit 15): a sum of 40 inputs, right on gpujs-cpu", () => {
    const specs = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x${i}`, [3]]));
    const g = unwrap(trace((xs) => (Object.values(xs) as Tensor[]).reduce((a, b) => add(a, mul(b, b))), specs));
    const kernels = fuse(simplify(g), GPU_FUSION).kernels;
    expect(Math.max(...kernels.map((k) => k.reads.length))).toBeLessThanOrEqual(15);
    expect(fuse(simplify(g)).kernels.map((k) => k.reads.length)).toEqual([40]); // the cpu: one kernel
    const feeds = Object.fromEntries(Object.keys(specs).map((k, i) => [k, Float64Array.of(i, -i, 0.5 * i)]));
    const out = unwrap(compile(g, { backend: 'gpujs-cpu' })).run(feeds);
    expect(close(unwrap(evaluate(g, feeds)), out)).toBeUndefined();
  });
  it('splits a concat of 40 buffers into concats of 8 (nestWideConcats), so no kernel reads past 15; right on gpujs-cpu', () => {
    const specs = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`x${i}`, [2, 3]]));
    const g = unwrap(trace((xs) => tanh(concat(Object.values(xs) as Tensor[], 0)), specs));
    const lowered = unwrap(lowerGraph(g, { backend: 'gpujs-cpu' }));
    expect(Math.max(...lowered.kernels.map((k) => k.reads.length))).toBeLessThanOrEqual(15);
    expect(lowered.kernels).toHaveLength(5); // four concats of 8 stored; the tanh reads them and the other 8
    const feeds = Object.fromEntries(
      Object.keys(specs).map((k, i) => [k, Float64Array.from({ length: 6 }, (_, j) => i - j)]),
    );
    expect(close(unwrap(evaluate(g, feeds)), unwrap(compile(g, { backend: 'gpujs-cpu' })).run(feeds))).toBeUndefined();
  });
  it('reduces a sum over 64×128 values axis by axis (reduceAxisByAxis): 64 loops of 128, then one of 64; right on gpujs-cpu', () => {
    const g = unwrap(trace(({ x }) => sum(mul(x, x)), { x: [64, 128] }));
    const lowered = unwrap(lowerGraph(g, { backend: 'gpujs-cpu' }));
    expect(lowered.kernels.map((k) => k.shape)).toEqual([[64], []]);
    const feeds = { x: Float64Array.from({ length: 64 * 128 }, (_, i) => Math.sin(i)) };
    expect(close(unwrap(evaluate(g, feeds)), unwrap(compile(g, { backend: 'gpujs-cpu' })).run(feeds))).toBeUndefined();
  });
  itNeeds(webgl)(
    'a concat of 64 buffers is right on WebGL too, with kernels run again while their outputs live',
    () => {
      const specs = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`x${i}`, [1, 4]]));
      const g = unwrap(trace((xs) => concat(Object.values(xs) as Tensor[], 0), specs));
      const feeds = Object.fromEntries(
        Object.keys(specs).map((k, i) => [k, Float64Array.from({ length: 4 }, (_, j) => 100 * i + j)]),
      );
      expect(close(unwrap(evaluate(g, feeds)), unwrap(compile(g, { backend: 'gpujs' })).run(feeds))).toBeUndefined();
    },
  );
  it("writes an LSTM step's c and h in one gpujs kernel, and Adam's m, v and θ of a parameter in one", () => {
    const valuesOf = (g: Graph, backend: BackendName) => {
      const l = unwrap(lowerGraph(g, { backend }));
      return { l, groups: l.kernels.map((k) => [k.root, ...k.siblings]) };
    };
    const cell = valuesOf(unwrap(trace(lstm, lstmSpecs)), 'gpujs');
    const [c2, h2] = ['c2', 'h2'].map((n) => cell.l.graph.outputs.get(n)!);
    expect(cell.groups.some((ids) => ids.includes(c2) && ids.includes(h2))).toBe(true);
    const step = unwrap(
      trainStep(({ w }, { x }) => sum(tanh(matmul(x, w))), { w: [4, 3] }, { x: [2, 4] }, adam({ lr: 1e-2 }), {
        clip: 10,
      }),
    );
    const update = valuesOf(step, 'gpujs');
    const ids = ['param.w', 'opt.m.w', 'opt.v.w'].map((n) => update.l.graph.outputs.get(n)!);
    expect(update.groups.filter((g) => ids.every((id) => g.includes(id)))).toHaveLength(1);
    // the cpu writes one value a kernel
    expect(valuesOf(step, 'cpu').groups.every((g) => g.length === 1)).toBe(true);
    // two products of one length, and two sums over the same axes, each share one loop: right in gpu.js
    const loops = unwrap(
      trace(
        ({ x, y, w }) => ({
          p: matmul(x, w),
          q: matmul(tanh(y), w),
          s: sum(mul(x, y), 1),
          m: add(sum(exp(x), 1), 1),
        }),
        { x: [3, 5], y: [3, 5], w: [5, 4] },
      ),
    );
    const merged = valuesOf(loops, 'gpujs-cpu');
    const [p, q, s, m] = ['p', 'q', 's', 'm'].map((n) => merged.l.graph.outputs.get(n)!);
    expect(merged.groups.filter((g) => g.length === 2).map((g) => [...g].sort((a, b) => a - b))).toEqual(
      [
        [p, q],
        [s, m],
      ].map((g) => g.sort((a, b) => a - b)),
    );
    const feeds = Object.fromEntries(
      Object.entries({ x: 15, y: 15, w: 20 }).map(([k, n]) => [
        k,
        Float64Array.from({ length: n }, (_, i) => Math.sin(i + n)),
      ]),
    );
    expect(
      close(unwrap(evaluate(loops, feeds)), unwrap(compile(loops, { backend: 'gpujs-cpu' })).run(feeds)),
    ).toBeUndefined();
  });
  it("pins the DRAW step's kernels: 983 on gpujs against 1,536 on the cpu at T=10; T=64 within 15 reads a kernel", () => {
    const lowered = (T: number, backend: BackendName) => {
      const config = { ...presets.mnistFast, T };
      const model = draw(config);
      const opt = adam({ lr: 1e-3 });
      const g = unwrap(
        trainStep(model.loss, model.paramShapes, dataSpecs(config, 10), opt, { clip: 10, paramCheck: true }),
      );
      return unwrap(lowerGraph(g, { backend })).kernels;
    };
    expect([lowered(10, 'gpujs').length, lowered(10, 'cpu').length]).toEqual([983, 1536]);
    const t64 = lowered(64, 'gpujs');
    expect(Math.max(...t64.map((k) => k.reads.length))).toBeLessThanOrEqual(15);
    expect(Math.max(...t64.map((k) => 1 + k.siblings.length))).toBeLessThanOrEqual(4);
    expect(t64.length).toBeLessThan(7000); // 9,465 on the cpu
  }, 120_000);
});

describe('program', () => {
  it('reuses buffers: an unrolled 32-step recurrence holds far fewer elements than one buffer per kernel', () => {
    const g = unwrap(
      trace(
        ({ x, w }) => {
          let h: Tensor = x;
          for (let t = 0; t < 32; t++) h = tanh(matmul(h, w));
          return sum(h);
        },
        { x: [4, 16], w: [16, 16] },
      ),
    );
    const p = unwrap(compile(g));
    expect(p.stats.buffers.totalElements * 8).toBeLessThan(p.stats.buffers.unpooledElements);
  });
  it('never lets two buffers live at once overlap in the arena, and every buffer fits in it (random kernel lists, seed 13)', () => {
    // kernel i writes node 2i+1 (and 2i+2 when it has a sibling; node 0 is an input) and reads earlier
    // nodes; some are graph outputs
    const arbKernels = fc.array(
      fc.record({
        n: fc.integer({ min: 1, max: 50 }),
        reads: fc.array(fc.nat(), { maxLength: 3 }),
        output: fc.boolean(),
        sibling: fc.boolean(),
      }),
      { minLength: 1, maxLength: 40 },
    );
    fc.assert(
      fc.property(arbKernels, (list) => {
        const written = (i: number) => (list[i].sibling ? [2 * i + 1, 2 * i + 2] : [2 * i + 1]);
        const kernels: Kernel[] = list.map((k, i) => ({
          root: 2 * i + 1,
          shape: [k.n],
          reads: [
            ...new Set(k.reads.map((r) => r % (2 * i + 1)).filter((r) => r === 0 || written((r - 1) >> 1).includes(r))),
          ],
          siblings: written(i).slice(1),
        }));
        const stepOf = (id: number) => (id - 1) >> 1;
        const outputs = new Map(
          list.flatMap((k, i) => (k.output ? written(i).map((id) => [`o${id}`, id] as const) : [])),
        );
        const plan = planBuffers({ outputs } as unknown as Graph, kernels);
        const lastRead = new Map<number, number>();
        kernels.forEach((k, step) => k.reads.forEach((r) => lastRead.set(r, step)));
        const isOut = new Set(outputs.values());
        // a node is live from its kernel's step to its last read (to the end for outputs)
        const live = (id: number, step: number) =>
          step >= stepOf(id) && (isOut.has(id) || step <= (lastRead.get(id) ?? stepOf(id)));
        const buffers = list.flatMap((k, i) => written(i).map((id) => ({ id, n: k.n })));
        const range = (b: { id: number; n: number }) =>
          [plan.offsetOf.get(b.id)!, plan.offsetOf.get(b.id)! + b.n] as const;
        buffers.forEach((b) => {
          expect(range(b)[0] % 4, 'aligned').toBe(0);
          expect(range(b)[1]).toBeLessThanOrEqual(plan.totalElements);
        });
        kernels.forEach((_, step) => {
          const ranges = buffers
            .filter((b) => live(b.id, step))
            .map(range)
            .sort((a, b) => a[0] - b[0]);
          ranges.slice(1).forEach((r, i) => expect(r[0], `step ${step}`).toBeGreaterThanOrEqual(ranges[i][1]));
        });
        expect(plan.totalElements).toBeGreaterThanOrEqual(plan.peakLiveElements);
      }),
      { numRuns: 200, seed: 13 },
    );
  });
  it('bounds its kernel caches: the least recently used entry goes first', () => {
    const c = new BoundedCache<string, number>(2);
    c.set('a', 1).set('b', 2);
    expect(c.get('a')).toBe(1); // a is now the most recent
    c.set('c', 3);
    expect([c.has('a'), c.has('b'), c.has('c'), c.size]).toEqual([true, false, true, 2]);
  });
  it('builds nothing twice: compiling an equal graph again hits the kernel cache', () => {
    const g = unwrap(trace(({ x }) => tanh(mul(exp(x), 3.25)), { x: [7, 3] }));
    const first = unwrap(compile(g));
    const second = unwrap(compile(unwrap(trace(({ x }) => tanh(mul(exp(x), 3.25)), { x: [7, 3] }))));
    expect(first.stats.kernels).toBe(1);
    expect(second.stats.built).toBe(0);
    expect(second.stats.cached).toBe(1);
  });
  it('rejects bad feeds with a clear error', () => {
    const p = unwrap(compile(unwrap(trace(({ x }) => exp(x), { x: [2, 2] }))));
    expect(() => p.run({ x: [1, 2] })).toThrow("input 'x': expected 4 values for shape [2,2], got 2");
  });
  it('rejects an unknown backend, naming the known ones', () => {
    const g = unwrap(trace(({ x }) => exp(x), { x: [2] }));
    const r = compile(g, { backend: 'tpu' as BackendName });
    expect(E.isLeft(r) && r.left.name).toBe('CompileError');
    expect(E.isLeft(r) && r.left.message).toBe('compile: unknown backend "tpu" (backends: cpu, gpujs, gpujs-cpu)');
  });
  it('rejects an invalid graph', () => {
    const g = unwrap(trace(({ x }) => exp(x), { x: [2] }));
    const bad = { ...g, nodes: g.nodes.set(1, { ...g.nodes.get(1)!, shape: [3] }) };
    const r = compile(bad);
    expect(E.isLeft(r) && r.left.message).toBe(
      'compile: invalid graph: node 1 (exp): recorded shape [3] but its rule gives [2]',
    );
  });
});

describe('generated source', () => {
  const sources = (f: (xs: Record<string, Tensor>) => Tensor, specs: Record<string, readonly number[]>) => {
    const g = simplify(unwrap(trace(f, specs)));
    const { kernels, mat } = fuse(g);
    return kernels.map((kernel) => renderCpuKernel({ nodes: g.nodes.toArray(), mat, kernel })).join('\n');
  };
  it('elementwise with a broadcast operand', () => {
    expect(sources(({ x, b }) => tanh(add(x, b)), { x: [2, 3], b: [3] })).toMatchSnapshot();
  });
  it('row sum with epilogue', () => {
    expect(sources(({ x }) => exp(sum(x, 1)), { x: [2, 3] })).toMatchSnapshot();
  });
  it('concat: loops split where the operand changes, no per-element condition', () => {
    const src = sources(({ x, y }) => mul(concat([tanh(x), concat([y, x], 1)], 1), 2), { x: [2, 3], y: [2, 1] });
    expect(src).not.toContain('?');
    expect(src).toMatchSnapshot();
  });
  it('matmul with concatenated operand and bias epilogue', () => {
    expect(
      sources(({ x, h, w, b }) => add(matmul(concat([x, h], 1), w), b), { x: [2, 2], h: [2, 1], w: [3, 5], b: [5] }),
    ).toMatchSnapshot();
  });
});
