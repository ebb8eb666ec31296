// Trains a small DRAW in the page with the library's train() on the cpu backend. The digits come from
// digits.bin (n × 28 × 28 bytes, 0 or 255), which `npx tsx examples/browser-train/digits.ts` writes.
// Query parameters: steps (default 20), batch (default: every image in one batch), lr (default 0.01),
// model=fast for the CLI's default DRAW (T=10, LSTM 256; else a small one: T=4, LSTM 64, z 10),
// threads=N for data-parallel steps over N - 1 Web Workers (Vite bundles the library's program worker).
// The outcome is left on window.trainResult and in body[data-state] (done or error) for a test to read.
import * as E from 'fp-ts/lib/Either.js';
import { draw, presets, train, webWorkerPort } from 'draw-ts';
import ProgramWorker from 'draw-ts/worker?worker';

const query = new URLSearchParams(location.search);
const status = (state, text) => {
  document.body.dataset.state = state;
  document.getElementById('status').textContent = text;
};
const log = (line) => {
  document.getElementById('log').textContent += `${line}\n`;
};

try {
  const response = await fetch(new URL('./digits.bin', location.href));
  if (!response.ok) throw new Error(`digits.bin: ${response.status} ${response.statusText}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  const n = bytes.length / 784;
  const images = Float32Array.from(bytes, (b) => b / 255);
  const steps = Number(query.get('steps') ?? 20);
  const batch = Number(query.get('batch') ?? n);
  const threads = Number(query.get('threads') ?? 1);
  const model = draw(
    query.get('model') === 'fast'
      ? presets.mnistFast
      : { ...presets.mnistFast, T: 4, encSize: 64, decSize: 64, zSize: 10 },
  );
  status('training', `training: ${n} digits, batch ${batch}, ${steps} steps, ${threads} thread(s)`);
  const r = await train(
    model,
    { train: { images, n, rows: 28, cols: 28 } },
    {
      steps,
      batch,
      lr: Number(query.get('lr') ?? 0.01),
      backend: 'cpu',
      threads,
      spawnWorker: () => webWorkerPort(new ProgramWorker()),
      onStart: (s) => log(`compiled ${s.kernels} kernels in ${s.compileSeconds.toFixed(2)} s`),
      onStep: (s) => log(`step ${s.step}  loss ${s.loss.toFixed(2)}  ${s.imagesPerSecond.toFixed(0)} images/s`),
    },
  );
  if (E.isLeft(r)) throw r.left;
  const { history, wallSeconds, compileSeconds, mode, stopped } = r.right;
  const stepMs = (1000 * (wallSeconds - compileSeconds)) / history.length;
  window.trainResult = {
    losses: history.map((h) => h.loss),
    stepMs,
    compileSeconds,
    mode,
    stopped,
    batch,
    threads: r.right.threads,
  };
  status(
    'done',
    `done (${stopped}): loss ${history[0].loss.toFixed(2)} → ${history.at(-1).loss.toFixed(2)}, ${stepMs.toFixed(0)} ms a step`,
  );
} catch (e) {
  window.trainResult = { error: String(e?.stack ?? e) };
  status('error', `error: ${e?.message ?? e}`);
}
