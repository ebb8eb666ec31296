// npm run bench -- gpu [--json] [--T 10] [--steps N] [--batch N] [--browser] [--page-gl swiftshader|gpu]:
// the DRAW training step (default preset: LSTM 256, z 100, read 2, write 5, batch 100) on the gpujs
// backend with its state resident on the device, against the cpu backend on one thread in the same
// process (interleaved round by round), and where the time goes on WebGL: kernels (launches) a step,
// time per launch, time per kernel class (a profiled run: gl.finish after every kernel), the bytes the
// kernels read and write and the products' FLOPs. It prints the GL renderer: on headless-gl under
// Xvfb that is Mesa's llvmpipe (software), so these rows are not GPU figures. --browser also trains
// in Chromium (examples/browser-train, built with Vite from this checkout's source) on SwiftShader,
// or with --page-gl gpu through ANGLE on the GPU's Vulkan driver. One JSON line last.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getGpuContext } from '../src/compiler/backends/gpujs/context.ts';
import { requireNextToGpuJs } from '../src/compiler/backends/gpujs/load.ts';
import { compile, lowerGraph, type Lowering } from '../src/compiler/compile.ts';
import { draw, presets } from '../src/models/draw/index.ts';
import { dataSpecs } from '../src/models/draw/model.ts';
import { adam, initTrainState, residentStepper, type Stepper } from '../src/optim/index.ts';
import { stepRunner } from '../src/optim/data-parallel.ts';
import { trainStep } from '../src/optim/train-step.ts';
import { size } from '../src/dsl/shape.ts';
import { unwrap } from '../src/util.ts';
import { trace } from '../src/compiler/trace.ts';
import { add, materialize } from '../src/dsl/ops.ts';
import type { Tensor } from '../src/dsl/tensor.ts';
import { arg, interleaved, table, time } from './lib.ts';
import { classify, flopsOf, syntheticBatch } from './draw-step.ts';

const jsonOnly = process.argv.includes('--json');
const T = Number(arg('--T') ?? 10);
const rounds = Number(arg('--steps') ?? 3);
const batch = Number(arg('--batch') ?? 100);
const pageGl = arg('--page-gl') === 'gpu' ? 'gpu' : 'swiftshader';
const say = (line: string) => jsonOnly || console.log(line);

const ctx = getGpuContext();
if (!ctx.ok) {
  console.error(`error: gpujs (WebGL) cannot start here: ${ctx.reason}`);
  process.exit(2);
}

/** The GL driver headless-gl runs on, as it names itself. */
const headlessRenderer = (): string => {
  const createGl = requireNextToGpuJs('gl') as (w: number, h: number) => WebGLRenderingContext;
  const gl = createGl(1, 1);
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const name = info
    ? `${gl.getParameter(info.UNMASKED_VENDOR_WEBGL)} ${gl.getParameter(info.UNMASKED_RENDERER_WEBGL)}`
    : `${gl.getParameter(gl.VENDOR)} ${gl.getParameter(gl.RENDERER)}`;
  (gl.getExtension('STACKGL_destroy_context') as { destroy(): void } | null)?.destroy();
  return name;
};

/** Bytes a step's kernels read (each kernel its inputs once) and write (each of its values), float32. */
const bytesMoved = (l: Lowering) => {
  let read = 0;
  let written = 0;
  for (const k of l.kernels) {
    written += 4 * size(k.shape) * (1 + k.siblings.length);
    for (const r of new Set(k.reads)) read += 4 * size(l.nodes[r].shape);
  }
  return { read, written };
};

const config = { ...presets.mnistFast, T };
const model = draw(config);
const opt = adam({ lr: 1e-3 });
const specs = dataSpecs(config, batch);
const graph = unwrap(trainStep(model.loss, model.paramShapes, specs, opt, { clip: 10, paramCheck: true }));
const l = unwrap(lowerGraph(graph, { backend: 'gpujs' })); // as the gpujs program lowers it
const classes = classify(l);
const flops = l.kernels.reduce((a, k) => a + flopsOf(l, k), 0);
const bytes = bytesMoved(l);
const initial = () => initTrainState(model.init(1), model.paramShapes, opt);
const data = syntheticBatch(config, batch);

const residentOn = (profile: boolean): { stepper: Stepper; kernelMs?: () => Float64Array; compileMs: number } => {
  const t0 = performance.now();
  const program = unwrap(compile(graph, { backend: 'gpujs', profile }));
  const compileMs = performance.now() - t0;
  return { stepper: residentStepper(program.resident!, initial()), kernelMs: program.kernelMs, compileMs };
};

// the timed run: no waits between kernels, only the loss, gradient norm and check come back
const gpu = residentOn(false);
const t1 = performance.now();
await gpu.stepper.next(data); // builds every shader
const firstStepMs = performance.now() - t1;
const cpuRunner = await stepRunner(model.loss, model.paramShapes, specs, opt, { clip: 10 });
const cpu = cpuRunner.stepper(initial());
const [gpuStep, cpuStep] = await interleaved([() => gpu.stepper.next(data), () => cpu.next(data)], {
  warmup: 1,
  rounds,
});

// one profiled step: every kernel waited for, its time kept by the bench's class
// (its shaders were built by the timed run: the cache is shared)
const profiled = residentOn(true);
await profiled.stepper.next(data);
const byClass: Record<string, { ms: number; launches: number }> = {};
profiled.kernelMs!().forEach((ms, i) => {
  const e = (byClass[classes[i]] ??= { ms: 0, launches: 0 });
  e.ms += ms;
  e.launches++;
});
const profiledMs = Object.values(byClass).reduce((a, e) => a + e.ms, 0);

// the floor under every launch: a chain of kernels that each add 1 to 16 values, stored one after another
const CHAIN = 200;
const chain = unwrap(
  trace(({ x }) => Array.from({ length: CHAIN }).reduce<Tensor>((t) => materialize(add(t, 1)), x), { x: [16] }),
);
const chainProgram = unwrap(compile(chain, { backend: 'gpujs' }));
const x16 = new Float32Array(16);
const launchFloor = time(() => chainProgram.run({ x: x16 }), { warmup: 2, runs: 5 });
chainProgram.dispose();

const renderer = headlessRenderer();
const kernels = l.kernels.length;
const result: Record<string, number | string> = {
  T,
  batch,
  renderer,
  kernel_class: ctx.kernelClass,
  kernels_per_step: kernels,
  cpu_kernels_per_step: cpuRunner.kernels,
  gpujs_step_ms: +gpuStep.medianMs.toFixed(1),
  gpujs_first_step_ms: +firstStepMs.toFixed(0),
  gpujs_compile_ms: +gpu.compileMs.toFixed(0),
  cpu1_step_ms: +cpuStep.medianMs.toFixed(1),
  gpujs_vs_cpu1: +(cpuStep.medianMs / gpuStep.medianMs).toFixed(3),
  ms_per_launch: +(gpuStep.medianMs / kernels).toFixed(3),
  empty_launch_ms: +(launchFloor.medianMs / chainProgram.stats.kernels).toFixed(3),
  profiled_step_ms: +profiledMs.toFixed(1),
  gflop_per_step: +(flops / 1e9).toFixed(3),
  mib_read_per_step: +(bytes.read / 2 ** 20).toFixed(1),
  mib_written_per_step: +(bytes.written / 2 ** 20).toFixed(1),
};
for (const [c, e] of Object.entries(byClass)) {
  result[`${c}_ms`] = +e.ms.toFixed(1);
  result[`${c}_launches`] = e.launches;
}
gpu.stepper.dispose();
profiled.stepper.dispose();

say(`headless-gl renderer: ${renderer}; gpu.js ${ctx.kernelClass}`);
say(
  table([
    { backend: 'gpujs (resident)', 'median ms': gpuStep.medianMs, 'min ms': gpuStep.minMs, 'max ms': gpuStep.maxMs },
    { backend: 'cpu, 1 thread', 'median ms': cpuStep.medianMs, 'min ms': cpuStep.minMs, 'max ms': cpuStep.maxMs },
  ]),
);
say(
  `T=${T} batch ${batch}: ${kernels} kernels a step (the cpu backend: ${cpuRunner.kernels}), ${result.ms_per_launch} ms a launch (step / kernels); first step ${firstStepMs.toFixed(0)} ms (shaders built); cpu / gpujs = ${result.gpujs_vs_cpu1}`,
);
say(
  `a launch of a 16-value kernel alone (a chain of ${chainProgram.stats.kernels}): ${result.empty_launch_ms} ms: the step's launches at that cost ${((kernels * launchFloor.medianMs) / chainProgram.stats.kernels).toFixed(0)} ms`,
);
say(
  `a step moves ${result.mib_read_per_step} MiB in and ${result.mib_written_per_step} MiB out of its kernels and its products do ${result.gflop_per_step} GFLOP`,
);
say(
  table(
    Object.entries(byClass)
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([c, e]) => ({
        class: c,
        launches: e.launches,
        'ms a step': e.ms,
        share: `${((100 * e.ms) / profiledMs).toFixed(0)}%`,
        'ms a launch': e.ms / e.launches,
      })),
  ),
);
say(`profiled (gl.finish after every kernel): ${profiledMs.toFixed(0)} ms a step`);

if (process.argv.includes('--browser')) {
  // the example page, bundled from this checkout's source (the package test builds it from the tarball)
  const { build } = await import('vite');
  const { trainInBrowser } = await import('../test/browser.ts');
  const { digitBytes } = await import('../examples/browser-train/digits.ts');
  const page = mkdtempSync(join(tmpdir(), 'draw-gpu-bench-'));
  mkdirSync(join(page, 'public'));
  writeFileSync(join(page, 'public', 'digits.bin'), digitBytes(batch));
  await build({
    root: resolve('examples/browser-train'),
    publicDir: join(page, 'public'),
    logLevel: 'silent',
    resolve: {
      alias: [
        { find: /^draw-ts\/worker/, replacement: resolve('src/parallel/program-worker.ts') },
        { find: /^draw-ts$/, replacement: resolve('src/index.ts') },
      ],
    },
    build: { outDir: join(page, 'dist'), target: 'es2022' },
  });
  const query = `?model=fast&T=${T}&steps=${rounds + 1}&lr=0.001&batch=${batch}`;
  const rows = [];
  for (const backend of ['gpujs', 'cpu']) {
    const r = await trainInBrowser(join(page, 'dist'), `${query}&backend=${backend}`, {
      gl: pageGl,
      timeoutMs: 600_000,
    });
    if (r.error) throw new Error(`browser (${backend}): ${r.error}`);
    rows.push({
      page: backend,
      mode: String(r.mode),
      renderer: String(r.renderer ?? '-'),
      kernels: Number(r.kernels),
      'first step ms': Number(r.firstStepMs),
      'median ms': Number(r.stepMs),
    });
    result[`browser_${backend}_step_ms`] = +Number(r.stepMs).toFixed(1);
    result[`browser_${backend}_kernels`] = Number(r.kernels);
    if (backend === 'gpujs') result.browser_renderer = String(r.renderer);
  }
  say(table(rows));
}
console.log(JSON.stringify(result));
