// npm run bench [-- --json]: compiler benchmarks on every backend this machine can start. Prints a
// table and ratios against gpu.js's own CPU mode (the baseline, run in the same process), then one
// JSON line last (with --json, only that line). `npm run bench -- draw` is the DRAW training step on
// the cpu backend against TF.js (bench/draw.ts), `npm run bench -- gpu` the step on gpujs (bench/gpu.ts).
import * as E from 'fp-ts/lib/Either.js';
import {
  trace,
  grad,
  unwrap,
  matmul,
  add,
  mul,
  sum,
  tanh,
  sigmoid,
  concat,
  sliceAxis,
  type Tensor,
} from '../src/index.ts';
import { compile, type BackendName } from '../src/compiler/compile.ts';
import { getGpuContext } from '../src/compiler/backends/gpujs/context.ts';
import { seedRng, normal } from '../src/dsl/rng.ts';
import type { Graph } from '../src/compiler/graph.ts';
import { time, table } from './lib.ts';

const jsonOnly = process.argv.includes('--json');
const suite = { draw: './draw.ts', gpu: './gpu.ts' }[process.argv[2]];
if (suite) {
  await import(suite);
  process.exit(0);
}

const feedsFor = (g: Graph) => {
  let rng = seedRng(7);
  return Object.fromEntries(
    [...g.inputs].map(([name, id]) => {
      const [v, next] = normal(
        rng,
        g.nodes.get(id)!.shape.reduce((a, b) => a * b, 1),
      );
      rng = next;
      return [name, v.map((x) => x * 0.1)];
    }),
  );
};

const [B, I, H] = [100, 264, 256];
const lstmStep = (x: Tensor, h: Tensor, c: Tensor, w: Tensor, b: Tensor) => {
  const z = add(matmul(concat([x, h], 1), w), b);
  const gate = (k: number) => sliceAxis(z, 1, k * H, (k + 1) * H);
  const c2 = add(mul(sigmoid(gate(0)), c), mul(sigmoid(gate(1)), tanh(gate(2))));
  return { h: mul(sigmoid(gate(3)), tanh(c2)), c: c2 };
};
const lstmSpecs = { x: [B, I], h: [B, H], c: [B, H], w: [I + H, 4 * H], b: [4 * H] };
const cases: { name: string; graph: Graph; gflop: number }[] = [
  {
    name: 'matmul 100x520·520x1024',
    graph: unwrap(trace(({ a, b }) => matmul(a, b), { a: [100, 520], b: [520, 1024] })),
    gflop: (2 * 100 * 520 * 1024) / 1e9,
  },
  {
    name: 'LSTM cell fwd+bwd (B100 H256 I264)',
    graph: unwrap(
      grad(
        unwrap(
          trace(({ x, h, c, w, b }) => {
            const o = lstmStep(x, h, c, w, b);
            return sum(mul(o.h, o.c));
          }, lstmSpecs),
        ),
        'out',
        ['x', 'h', 'c', 'w', 'b'],
      ),
    ),
    gflop: (3 * 2 * B * (I + H) * 4 * H) / 1e9,
  },
];

const gpu = getGpuContext();
if (!gpu.ok) console.warn(`gpujs (WebGL) not benchmarked: ${gpu.reason}`);
const backends: BackendName[] = gpu.ok ? ['cpu', 'gpujs', 'gpujs-cpu'] : ['cpu', 'gpujs-cpu'];

const rows: Record<string, string | number>[] = [];
const json: Record<string, Record<string, number>> = {};
for (const backend of backends) {
  json[backend] = {};
  for (const c of cases) {
    const p = compile(c.graph, { backend });
    if (E.isLeft(p)) throw p.left;
    const feeds = feedsFor(c.graph);
    const t = time(() => p.right.run(feeds), { runs: backend === 'gpujs-cpu' ? 3 : 10 });
    rows.push({
      backend,
      mode: p.right.mode,
      case: c.name,
      'median ms': t.medianMs,
      'min ms': t.minMs,
      'max ms': t.maxMs,
      'GFLOP/s': c.gflop / (t.medianMs / 1e3),
    });
    json[backend][`${c.name.split(' ')[0]}_ms`] = +t.medianMs.toFixed(3);
    json[backend][`${c.name.split(' ')[0]}_gflops`] = +(c.gflop / (t.medianMs / 1e3)).toFixed(3);
  }
}

// compile time of a 64-step unrolled LSTM forward + gradient graph (trace and grad included)
const t0 = performance.now();
const unrolled = unwrap(
  grad(
    unwrap(
      trace(
        ({ x, w, b }) => {
          let s = { h: mul(sliceAxis(x, 1, 0, H), 0), c: mul(sliceAxis(x, 1, 0, H), 0) };
          for (let t = 0; t < 64; t++) s = lstmStep(x, s.h, s.c, w, b);
          return sum(s.h);
        },
        { x: [B, I], w: [I + H, 4 * H], b: [4 * H] },
      ),
    ),
    'out',
    ['w', 'b'],
  ),
);
const traced = performance.now() - t0;
const t1 = performance.now();
const compiled = unwrap(compile(unrolled, { backend: 'cpu' }));
const compileMs = performance.now() - t1;
json.cpu.compile_T64_lstm_ms = +(traced + compileMs).toFixed(1);

if (!jsonOnly) {
  console.log(table(rows));
  console.log(
    `compile of a T=64 unrolled LSTM forward+gradient graph: trace+grad ${traced.toFixed(0)} ms, compile ${compileMs.toFixed(0)} ms, ${compiled.stats.kernels} kernels, ${((compiled.stats.buffers.totalElements * 4) / 2 ** 20).toFixed(0)} MiB of buffers`,
  );
  const base = json['gpujs-cpu'];
  for (const backend of backends.filter((b) => b !== 'gpujs-cpu'))
    console.log(
      `${backend} vs gpu.js CPU mode: matmul ${(base.matmul_ms / json[backend].matmul_ms).toFixed(1)}x, LSTM ${(base.LSTM_ms / json[backend].LSTM_ms).toFixed(1)}x faster`,
    );
}
console.log(JSON.stringify(json));
