// npm run bench -- draw [--json] [--T 10,64] [--steps N] [--threads 1,2]: the compiled DRAW training step (forward,
// gradient, clipping and Adam) at batch 100 with the paper's sizes (LSTM 256, z 100, read 2×2,
// write 5×5, attention): median and spread per step after warm-up, share of time per kernel class
// (matmul, filterbank, elementwise, optimiser, reduction), achieved GFLOP/s of the products, peak
// RSS, the time to trace and differentiate the step and to compile it; then the step on each thread
// count of --threads (default 1 and this machine's cores; data-parallel over workers past 1) and
// the baseline, the same step in TensorFlow.js on its WebAssembly backend (bench/tfjs-draw.ts: our
// initial parameters and batch, one thread; its products and their gradients with explicit transposes,
// and beside it as tfjs differentiates them, with transpose flags), interleaved round by round; one
// JSON line last.
import { availableParallelism } from 'node:os';
import { stepRunner } from '../src/optim/data-parallel.ts';
import { dataBatchAxes } from '../src/models/draw/model.ts';
import { draw, presets } from '../src/models/draw/index.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import { trainStep, adam, initTrainState, stepFeeds, advance } from '../src/optim/index.ts';
import { compile, lowerGraph } from '../src/compiler/compile.ts';
import { unwrap } from '../src/util.ts';
import { time, table, interleaved, arg, type Timing } from './lib.ts';
import { classify, flopsOf, syntheticBatch } from './draw-step.ts';
import { initTfjsWasm, tfjsDraw } from './tfjs-draw.ts';

const jsonOnly = process.argv.includes('--json');
const Ts = (arg('--T') ?? '10,64').split(',').map(Number);
const runs = Number(arg('--steps') ?? 5);
const threadCounts = [...new Set((arg('--threads') ?? `1,${availableParallelism()}`).split(',').map(Number))];
const threadRows: Record<string, string | number>[] = [];
// the thread count `draw train` uses by default (src/cli/train.ts): the cores, at most the batch;
// the headline ratio against TF.js is ours at that count, or at the largest measured if it was not asked for
const batch = 100;
const defaultThreads = Math.min(availableParallelism(), batch);
const headlineThreads = threadCounts.includes(defaultThreads) ? defaultThreads : Math.max(...threadCounts);
const wasm = await initTfjsWasm();
const result: Record<string, number> = {};
const rows: Record<string, string | number>[] = [];
const shares: string[] = [];
const tfjsRanges: string[] = [];

for (const T of Ts) {
  const config = { ...presets.mnistFast, T };
  const model = draw(config);
  const opt = adam({ lr: 1e-3 });
  const t0 = performance.now();
  const graph = unwrap(trainStep(model.loss, model.paramShapes, dataSpecs(config, batch), opt, { clip: 10 }));
  // tracing and differentiating build the graph; compile lowers it (simplify, fuse, plan, codegen)
  const t1 = performance.now();
  const program = unwrap(compile(graph, { profile: true }));
  const compileMs = performance.now() - t1;
  const traceMs = t1 - t0;
  // the same lowering the program was built from: kernel classes and FLOPs, in kernel order
  const l = unwrap(lowerGraph(graph));
  const classes = classify(l);
  let state = initTrainState(model.init(1), model.paramShapes, opt);
  const { x, eps } = syntheticBatch(config, batch);
  const step = () => {
    state = advance(state, program.run(stepFeeds(state, { x, eps })));
  };
  step(); // warm-up outside the profile
  program.kernelMs!().fill(0);
  const t = time(step, { warmup: 1, runs, budgetMs: 120_000 });
  const perKernel = program.kernelMs!();
  const steps = t.runs + 1; // the profile also saw the timer's warm-up step
  const byClass: Record<string, { ms: number; flops: number }> = {};
  classes.forEach((c, i) => {
    const e = (byClass[c] ??= { ms: 0, flops: 0 });
    e.ms += perKernel[i] / steps;
    e.flops += flopsOf(l, l.kernels[i]);
  });
  const total = Object.values(byClass).reduce((a, e) => a + e.ms, 0);
  shares.push(
    `T=${T}: ${Object.entries(byClass)
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([k, e]) => `${k} ${((100 * e.ms) / total).toFixed(0)}% (${e.ms.toFixed(0)} ms)`)
      .join(', ')}`,
  );
  const gflops = (c: string) => (byClass[c] ? byClass[c].flops / 1e6 / byClass[c].ms : 0);
  const rss = process.memoryUsage().rss;
  rows.push({
    T,
    'median ms': t.medianMs,
    'min ms': t.minMs,
    'max ms': t.maxMs,
    kernels: program.stats.kernels,
    'matmul GFLOP/s': gflops('matmul'),
    'filterbank GFLOP/s': gflops('filterbank'),
    'trace+grad s': traceMs / 1e3,
    'compile s': compileMs / 1e3,
    'RSS MiB': rss / 2 ** 20,
  });
  result[`T${T}_step_ms`] = +t.medianMs.toFixed(1);
  result[`T${T}_trace_grad_s`] = +(traceMs / 1e3).toFixed(2);
  result[`T${T}_compile_s`] = +(compileMs / 1e3).toFixed(2);
  result[`T${T}_peak_rss_mib`] = Math.round(rss / 2 ** 20);
  result[`T${T}_matmul_gflops`] = +gflops('matmul').toFixed(2);
  result[`T${T}_kernels_per_step`] = program.stats.kernels;
  result.kernels_per_step ??= program.stats.kernels; // the first T's (T=10 by default)
  program.dispose();

  // the step as train() runs it, on each thread count, interleaved
  const runners = [];
  for (const threads of threadCounts)
    runners.push(
      await stepRunner(model.loss, model.paramShapes, dataSpecs(config, batch), opt, {
        clip: 10,
        threads,
        batchAxes: dataBatchAxes,
      }),
    );
  const start = state;
  // the baseline from our initial parameters: it advances its own state, ours reruns `start`; the
  // work per step is the same either way
  const baselines = (['explicit-transposes', 'autodiff'] as const).map((products) =>
    tfjsDraw(config, model.init(1), model.paramShapes, batch, { lr: 1e-3, clip: 10, products }),
  );
  // 8 warm-up rounds: a worker compiles its kernels afresh, and V8 optimises them (the WebAssembly ones
  // from their first tier up) over the first 6–8 steps (bench/NOTES.md); each runner's state after a
  // step lands in a spare, as the training loop's does, so no round allocates
  const spares = runners.map(() => initTrainState(model.init(1), model.paramShapes, opt));
  const [tfjs, tfjsAutodiff, ...timings] = await interleaved(
    [
      ...baselines.map((b) => async () => b.step(x, eps)),
      ...runners.map((r, i) => async () => advance(start, await r.run(start, { x, eps }), spares[i])),
    ],
    { warmup: 8, rounds: runs },
  );
  timings.forEach((t, i) => {
    threadRows.push({
      T,
      threads: threadCounts[i],
      'median ms': t.medianMs,
      'min ms': t.minMs,
      'max ms': t.maxMs,
      [`speed-up vs ${threadCounts[0]} thread(s)`]: timings[0].medianMs / t.medianMs,
      'TF.js WASM ms': tfjs.medianMs,
      'TF.js / ours': tfjs.medianMs / t.medianMs,
      'TF.js autodiff ms': tfjsAutodiff.medianMs,
      'TF.js autodiff / ours': tfjsAutodiff.medianMs / t.medianMs,
    });
    result[`T${T}_step_ms_threads${threadCounts[i]}`] = +t.medianMs.toFixed(1);
  });
  const range = (t: Timing) => `${t.medianMs.toFixed(0)} ms (${t.minMs.toFixed(0)}–${t.maxMs.toFixed(0)})`;
  tfjsRanges.push(`T=${T} ${range(tfjs)}, with tfjs's own product gradients ${range(tfjsAutodiff)}`);
  result[`T${T}_tfjs_wasm_ms`] = +tfjs.medianMs.toFixed(1);
  result[`T${T}_vs_tfjs_wasm`] = +(tfjs.medianMs / timings[threadCounts.indexOf(headlineThreads)].medianMs).toFixed(2);
  result[`T${T}_tfjs_wasm_autodiff_ms`] = +tfjsAutodiff.medianMs.toFixed(1);
  result[`T${T}_vs_tfjs_wasm_autodiff`] = +(
    tfjsAutodiff.medianMs / timings[threadCounts.indexOf(headlineThreads)].medianMs
  ).toFixed(2);
  baselines.forEach((b) => b.dispose());
  runners.forEach((r) => r.dispose());
}
result.threads = headlineThreads;
if (!jsonOnly) {
  console.log(table(rows));
  console.log(table(threadRows));
  shares.forEach((s) => console.log(`time per kernel class, ${s}`));
  console.log(
    `baseline: TensorFlow.js ${wasm.tfjs} WASM backend (${wasm.binary}, SIMD ${wasm.simd ? 'on' : 'off'}, ${wasm.threads} thread), same step, same process, products with explicit transposes: ${tfjsRanges.join('; ')}`,
  );
  Ts.forEach((T) =>
    console.log(`T=${T}: TF.js WASM step / ours at ${headlineThreads} thread(s) = ${result[`T${T}_vs_tfjs_wasm`]}`),
  );
}
console.log(JSON.stringify(result));
