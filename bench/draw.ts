// npm run bench -- draw [--json] [--T 10,64] [--steps N]: the compiled DRAW training step (forward,
// gradient, clipping and Adam) at batch 100 with the paper's sizes (LSTM 256, z 100, read 2×2,
// write 5×5, attention): median and spread per step after warm-up, share of time per kernel class,
// achieved GFLOP/s on the matmuls, peak RSS and compile time; one JSON line last.
import { draw, presets } from '../src/models/draw/index.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import { trainStep, adam, initTrainState, stepFeeds, advance } from '../src/optim/index.ts';
import { compile } from '../src/compiler/compile.ts';
import { lowerGraph } from '../src/compiler/compile.ts';
import { contractionSize } from '../src/compiler/backends/cpu.ts';
import { kernelClass } from '../src/compiler/fuse.ts';
import { unwrap } from '../src/util.ts';
import { seedRng, fillNormal, fillUniform } from '../src/dsl/rng.ts';
import { time, table } from './lib.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const jsonOnly = process.argv.includes('--json');
const Ts = (arg('--T') ?? '10,64').split(',').map(Number);
const runs = Number(arg('--steps') ?? 5);
const batch = 100;
const result: Record<string, number> = {};
const rows: Record<string, string | number>[] = [];
const shares: string[] = [];

for (const T of Ts) {
  const config = { ...presets.mnistFast, T };
  const model = draw(config);
  const opt = adam({ lr: 1e-3 });
  const t0 = performance.now();
  const graph = unwrap(trainStep(model.loss, model.paramShapes, dataSpecs(config, batch), opt, { clip: 10 }));
  const program = unwrap(compile(graph, { profile: true }));
  const compileMs = performance.now() - t0;
  // matmul FLOPs of one step, from the lowered kernels
  const l = unwrap(lowerGraph(graph));
  const matmuls = l.kernels.filter((k) => kernelClass(l.nodes, k) === 'matmul');
  const flops = matmuls
    .reduce((acc, kernel) => {
      const { batch: b, M, K, N } = contractionSize({ nodes: l.nodes, mat: l.mat, kernel });
      return acc + 2 * b * M * K * N;
    }, 0);
  let state = initTrainState(model.init(1), model.paramShapes, opt);
  const x = new Float32Array(batch * 784);
  fillUniform(seedRng(1), x);
  for (let i = 0; i < x.length; i++) x[i] = x[i] < 0.13 ? 1 : 0;
  const eps = new Float32Array(T * batch * config.zSize);
  fillNormal(seedRng(2), eps);
  const step = () => {
    state = advance(state, program.run(stepFeeds(state, { x, eps })));
  };
  step(); // warm-up outside the profile
  Object.values(program.profile()).forEach((p) => ((p.ms = 0), (p.calls = 0)));
  const t = time(step, { warmup: 1, runs, budgetMs: 120_000 });
  const prof = program.profile();
  const total = Object.values(prof).reduce((a, p) => a + p.ms, 0);
  shares.push(`T=${T}: ${Object.entries(prof).sort((a, b) => b[1].ms - a[1].ms).map(([k, p]) => `${k} ${((100 * p.ms) / total).toFixed(0)}%`).join(', ')}`);
  const matmulMs = (prof.matmul?.ms ?? 0) / (prof.matmul?.calls ?? 1) * matmuls.length;
  const rss = process.memoryUsage().rss;
  rows.push({ T, 'median ms': t.medianMs, 'min ms': t.minMs, 'max ms': t.maxMs, kernels: program.stats.kernels,
    'matmul GFLOP/s': flops / 1e9 / (matmulMs / 1e3), 'compile s': compileMs / 1e3, 'RSS MiB': rss / 2 ** 20 });
  result[`T${T}_step_ms`] = +t.medianMs.toFixed(1);
  result[`T${T}_compile_s`] = +(compileMs / 1e3).toFixed(2);
  result[`T${T}_peak_rss_mib`] = Math.round(rss / 2 ** 20);
  result[`T${T}_matmul_gflops`] = +(flops / 1e9 / (matmulMs / 1e3)).toFixed(2);
}
if (!jsonOnly) {
  console.log(table(rows));
  shares.forEach((s) => console.log(`time per kernel class, ${s}`));
  console.log('reference (measured on this machine class, see DEVELOPERS notes): TensorFlow.js WASM 860 ms (T=10), 5200 ms (T=64)');
  Ts.forEach((T) => result[`T${T}_step_ms`] && console.log(`T=${T}: ${((T === 10 ? 860 : T === 64 ? 5200 : NaN) / result[`T${T}_step_ms`]).toFixed(2)}x the TF.js WASM figure`));
}
console.log(JSON.stringify(result));
