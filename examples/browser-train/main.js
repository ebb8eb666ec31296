// Trains a small DRAW in the page with the library's train(). The digits come from digits.bin
// (n × 28 × 28 bytes, 0 or 255), which `npx tsx examples/browser-train/digits.ts` writes.
// Query parameters: steps (default 20), batch (default: every image in one batch), lr (default 0.01),
// model=fast for the CLI's default DRAW (T=10, LSTM 256; else a small one: T=4, LSTM 64, z 10), T=N its steps,
// backend=cpu (default: generated JavaScript and WebAssembly) or gpujs (gpu.js kernels in WebGL2, the
// training state kept on the GPU between steps; gpu.js is imported only then),
// threads=N (cpu) for data-parallel steps over N - 1 Web Workers (Vite bundles the library's program worker).
// The outcome is left on window.trainResult and in body[data-state] (done or error) for a test to read.
import * as E from 'fp-ts/lib/Either.js';
import { draw, presets, train, useGpuJs, webWorkerPort } from 'draw-ts';
import ProgramWorker from 'draw-ts/worker?worker';

const query = new URLSearchParams(location.search);
const status = (state, text) => {
  document.body.dataset.state = state;
  document.getElementById('status').textContent = text;
};
const log = (line) => {
  document.getElementById('log').textContent += `${line}\n`;
};

/** The GPU behind WebGL2 as the browser names it, or null where the page gets no WebGL2 context. */
const webgl2Renderer = () => {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return null;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  return gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER);
};

/** Readies the backend the query names: its name, threads and the renderer (gpujs), or throws one line. */
const backendFor = async (name, threads) => {
  if (name === 'cpu') return { backend: 'cpu', threads, renderer: null };
  if (name !== 'gpujs') throw new Error(`backend=${name}: expected cpu or gpujs`);
  if (threads !== 1) throw new Error(`threads=${threads}: the gpujs backend trains on one thread (the GPU's)`);
  const renderer = webgl2Renderer();
  if (renderer === null)
    throw new Error('this browser gives the page no WebGL2, which the gpujs backend needs: open it with ?backend=cpu');
  useGpuJs(await import('gpu.js'));
  return { backend: 'gpujs', threads, renderer };
};

// train()'s mode for gpujs names the kernel class gpu.js ran, checked after every run
const KERNEL_CLASS = { webgl2: 'WebGL2Kernel', webgl: 'WebGLKernel' };

try {
  const response = await fetch(new URL('./digits.bin', location.href));
  if (!response.ok) throw new Error(`digits.bin: ${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const n = bytes.length / 784;
  const images = Float32Array.from(bytes, (b) => b / 255);
  const steps = Number(query.get('steps') ?? 20);
  const batch = Number(query.get('batch') ?? n);
  const { backend, threads, renderer } = await backendFor(
    query.get('backend') ?? 'cpu',
    Number(query.get('threads') ?? 1),
  );
  const config =
    query.get('model') === 'fast'
      ? presets.mnistFast
      : { ...presets.mnistFast, T: 4, encSize: 64, decSize: 64, zSize: 10 };
  const model = draw({ ...config, T: Number(query.get('T') ?? config.T) });
  status(
    'training',
    `training on ${backend}${renderer ? ` (${renderer})` : ''}: ${n} digits, batch ${batch}, ${steps} steps, ${threads} thread(s)`,
  );
  let kernels = 0;
  const stepEnds = []; // from the end of the compile (onStart), then each step's end
  const r = await train(
    model,
    { train: { images, n, rows: 28, cols: 28 } },
    {
      steps,
      batch,
      lr: Number(query.get('lr') ?? 0.01),
      backend,
      threads,
      spawnWorker: () => webWorkerPort(new ProgramWorker()),
      onStart: (s) => {
        stepEnds.push(performance.now());
        kernels = s.kernels;
        log(`compiled ${s.kernels} kernels in ${s.compileSeconds.toFixed(2)} s`);
      },
      onStep: (s) => {
        stepEnds.push(performance.now());
        log(`step ${s.step}  loss ${s.loss.toFixed(2)}  ${(stepEnds.at(-1) - stepEnds.at(-2)).toFixed(0)} ms`);
      },
    },
  );
  if (E.isLeft(r)) throw r.left;
  const { history, compileSeconds, mode, stopped } = r.right;
  // the first step also builds kernels (gpu.js compiles its shaders on first use) and warms the JIT:
  // the step time is the median of the others
  const later = stepEnds
    .slice(2)
    .map((t, i) => t - stepEnds[i + 1])
    .sort((a, b) => a - b);
  const firstStepMs = stepEnds[1] - stepEnds[0];
  const stepMs = later.length ? later[later.length >> 1] : firstStepMs;
  window.trainResult = {
    losses: history.map((h) => h.loss),
    stepMs,
    firstStepMs,
    compileSeconds,
    mode,
    kernelClass: KERNEL_CLASS[mode] ?? null,
    renderer,
    kernels,
    stopped,
    batch,
    threads: r.right.threads,
  };
  status(
    'done',
    `done (${stopped}) on ${mode}${KERNEL_CLASS[mode] ? ` (gpu.js ${KERNEL_CLASS[mode]})` : ''}: loss ${history[0].loss.toFixed(2)} → ${history.at(-1).loss.toFixed(2)}, ${stepMs.toFixed(0)} ms a step (the first ${firstStepMs.toFixed(0)} ms), ${kernels} kernels a step`,
  );
} catch (e) {
  window.trainResult = { error: String(e?.stack ?? e) };
  status('error', `error: ${e?.message ?? e}`);
}
