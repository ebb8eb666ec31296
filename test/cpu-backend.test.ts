import { describe, expect, it } from 'vitest';
import { trace, evaluate, unwrap, add, fill, matmul, mul, sum, tanh, transpose, type Tensor } from '../src/index.ts';
import { compile, lowerGraph } from '../src/compiler/compile.ts';
import { contractionSize } from '../src/compiler/backends/cpu/render.ts';
import { kernelClass } from '../src/compiler/fuse.ts';
import type { Graph } from '../src/compiler/graph.ts';

const feedsOf = (g: Graph) =>
  Object.fromEntries(
    [...g.inputs].map(([name, id], j) => [
      name,
      Float64Array.from({ length: g.nodes.get(id)!.shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.7 + j)),
    ]),
  );

const matmulKernels = (g: Graph) => {
  const l = unwrap(lowerGraph(g));
  return l.kernels
    .filter((k) => kernelClass(l.nodes, k) === 'matmul')
    .map((kernel) => contractionSize({ nodes: l.nodes, mat: l.mat, kernel }));
};

const agrees = (g: Graph) => {
  const ref = unwrap(evaluate(g, feedsOf(g)));
  const out = unwrap(compile(g, { poison: true })).run(feedsOf(g));
  for (const k of Object.keys(ref)) ref[k].forEach((v, i) => expect(out[k][i]).toBeCloseTo(v, 3));
};

describe('cpu backend: sums of products as one product', () => {
  // Σ_t X_tᵀ·D_t, as backprop through an unrolled RNN leaves a weight gradient
  const specs = { x0: [4, 5], x1: [4, 5], x2: [4, 5], d0: [4, 3], d1: [4, 3], d2: [4, 3] };
  const xs = (v: Record<string, Tensor>) => [0, 1, 2].map((t) => matmul(transpose(tanh(v[`x${t}`])), v[`d${t}`]));

  it('turns a chain of three into one contraction over the concatenated K, same values', () => {
    const g = unwrap(
      trace(
        (v) =>
          mul(
            xs(v).reduce((a, b) => add(a, b)),
            2,
          ),
        specs,
      ),
    );
    expect(matmulKernels(g)).toEqual([{ batch: 1, M: 5, K: 12, N: 3 }]);
    agrees(g);
  });

  it('gathers a long chain into groups of at most 16 products, summed', () => {
    const long = Object.fromEntries(
      Array.from({ length: 20 }, (_, t) => [
        [`x${t}`, [4, 5]],
        [`d${t}`, [4, 3]],
      ]).flat(),
    );
    const g = unwrap(
      trace(
        (v) =>
          Array.from({ length: 20 }, (_, t) => matmul(transpose(v[`x${t}`]), v[`d${t}`])).reduce<Tensor>(
            (a, b) => add(a, b),
            fill([5, 3], 0),
          ),
        long,
      ),
    );
    expect(
      matmulKernels(g)
        .map((s) => s.K)
        .sort((a, b) => a - b),
    ).toEqual([16, 64]);
    agrees(g);
  });

  it('leaves a partial sum that is used elsewhere alone (no work done twice)', () => {
    const g = unwrap(
      trace((v) => {
        const [p0, p1, p2] = xs(v);
        const partial = add(p0, p1);
        return { total: add(partial, p2), partial };
      }, specs),
    );
    expect(
      matmulKernels(g)
        .map((s) => s.K)
        .sort(),
    ).toEqual([4, 8]);
    agrees(g);
  });
});

describe('cpu backend: weights packed once per run', () => {
  it('products sharing a weight (as is and transposed) stay right when the weight changes between runs', () => {
    const g = unwrap(
      trace(
        ({ x1, x2, w }) => ({
          y1: matmul(x1, w),
          y2: matmul(tanh(x2), w),
          y3: matmul(matmul(x1, w), transpose(w)),
        }),
        { x1: [3, 5], x2: [3, 5], w: [5, 9] },
      ),
    );
    const program = unwrap(compile(g, { poison: true }));
    for (const shift of [0, 1, 2]) {
      const feeds = Object.fromEntries(
        Object.entries(feedsOf(g)).map(([k, v]) => [k, v.map((x) => x + (k === 'w' ? shift : 0))]),
      );
      const ref = unwrap(evaluate(g, feeds));
      const out = program.run(feeds);
      for (const k of Object.keys(ref)) ref[k].forEach((v, i) => expect(out[k][i]).toBeCloseTo(v, 2));
    }
  });
});

describe('cpu backend: reductions over leading axes', () => {
  it('walk the input in memory order with one float64 accumulator per kept element: the reference, rounded once', () => {
    const g = unwrap(
      trace(({ x, y }) => ({ rows: sum(mul(x, y), 0), middle: sum(x, 1), blocks: sum(x, [1, 2]) }), {
        x: [37, 6, 9],
        y: [37, 6, 9],
      }),
    );
    // float32 inputs: products are exact in float64, so both sides add the same numbers in the same order
    const feeds = Object.fromEntries(Object.entries(feedsOf(g)).map(([k, v]) => [k, Float32Array.from(v)]));
    const ref = unwrap(evaluate(g, feeds));
    const out = unwrap(compile(g, { poison: true })).run(feeds);
    for (const k of Object.keys(ref)) expect(Array.from(out[k]), k).toEqual(Array.from(ref[k], Math.fround));
  });
});

describe('cpu backend: memory', () => {
  it('refuses a program whose buffers exceed one WebAssembly memory (4 GiB) with a clear error, allocating nothing', () => {
    const r = compile(unwrap(trace(({ x }) => tanh(x), { x: [2 ** 30 + 8] })));
    expect(r._tag === 'Left' && r.left.message).toBe(
      "compile: the program's buffers (4.0 GiB) do not fit in one WebAssembly memory (4 GiB)",
    );
  });
});
