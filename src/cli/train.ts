// `draw train`: flags, data and files around the library's `train` (src/models/draw/train.ts):
// metrics.jsonl, checkpoints, the progress bar, Ctrl-C, and the pictures at the end.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import cliProgress from 'cli-progress';
import { draw } from '../models/draw/index.ts';
import { train as trainModel } from '../models/draw/train.ts';
import { type Flags, explicitConfig, UsageError } from './options.ts';
import { resolveSettings, writeRunConfig, RUN_CONFIG_FILE } from './run-config.ts';
import { ensureOutDir, refuseToReplaceRun, loadRun, saveRun, loadData, checkpointPath, runCheckpoint, optimizerFor, type RunMeta } from './session.ts';
import { writeSamples } from './sample.ts';
import { readMetrics, curveSummary, lastWallSeconds } from '../io/metrics.ts';

export const train = async (f: Flags): Promise<Record<string, unknown>> => {
  // Every flag, the data and (in trainModel, before onStart) the compiled programs are checked before
  // the disk is touched, so a mistake costs nothing: no folder made, no run replaced.
  const out = f.out ?? 'runs/draw';
  if (f.resume && f.overwrite) throw new UsageError('--resume continues the run in --out and --overwrite replaces it: pass one of them');
  if (f.resume && f.config) throw new UsageError('--resume continues the run in --out as its checkpoint says: drop --config');
  const resumed = f.resume ? loadRun(f.checkpoint ?? runCheckpoint(out), explicitConfig(f)) : undefined;
  if (resumed && (f.batch ?? f.lr ?? f.seed ?? f.clip ?? f.threads) !== undefined)
    throw new UsageError('--resume continues the run as it was: drop --batch, --lr, --seed, --clip and --threads');
  const settings = resolveSettings(f);
  const meta0: RunMeta = resumed?.meta ?? {
    format: 'draw-ts/1', config: settings.config, step: 0, seed: settings.seed, batch: settings.batch,
    lr: settings.lr, clip: settings.clip, binarisation: settings.binarisation, threads: settings.threads,
  };
  const { config, batch, seed } = meta0;
  const threads = meta0.threads ?? 1; // runs from before threads ran the one-graph step
  const { epochs, minutes, steps, evalEvery, checkpointEvery: ckptEvery, valImages, backend } = settings;
  const model = resumed?.model ?? draw(config);
  const data = loadData(config, meta0.binarisation, settings.data, settings.labels);
  // trainModel refuses this too; here the message can name the flag and the file
  if (data.train.n < batch)
    throw new UsageError(`${settings.data ? `--data ${settings.data}` : 'MNIST'} has ${data.train.n} training images, fewer than one batch of ${batch} (--batch)`);
  if (!resumed && !f.overwrite) refuseToReplaceRun(out);

  const ckpt = checkpointPath(out);
  const metricsPath = join(out, 'metrics.jsonl');
  // wall time of training (compiling excluded), continued from the run's last record when resuming
  let wallZero = 0;
  const wallSeconds = () => +((performance.now() - wallZero) / 1e3).toFixed(3);
  const log = (rec: Record<string, unknown>) => appendFileSync(metricsPath, `${JSON.stringify({ ...rec, wallSeconds: wallSeconds() })}\n`);
  const startStep = resumed?.state.step ?? 0;
  let endStep = Infinity;
  const bar = f.json ? undefined : new cliProgress.SingleBar({
    format: 'train |{bar}| {value}/{total} | loss {loss} | val {val} | {ips} img/s | ETA {eta_formatted}',
    etaBuffer: 20, hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  let lastVal: number | undefined;
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on('SIGINT', onSigint);
  let result;
  try {
    result = await trainModel(model, { train: data.train, validation: data.validation }, {
      batch, steps, epochs, minutes, optimizer: optimizerFor(meta0.lr), clip: meta0.clip, seed, resample: meta0.binarisation === 'resample', backend, threads,
      state: resumed?.state, evalEvery, valImages, checkpointEvery: ckptEvery, signal: abort.signal,
      // the folder is made once the programs compile, so no mistake found before then leaves one behind
      onStart: ({ toStep }) => {
        ensureOutDir(out);
        if (!resumed) {
          writeFileSync(metricsPath, '');
          writeRunConfig(out, settings);
        }
        endStep = toStep;
        const before = resumed ? E.getOrElseW(() => undefined)(E.map(lastWallSeconds)(readMetrics(metricsPath))) : undefined;
        wallZero = performance.now() - 1e3 * (before ?? 0);
        bar?.start(Number.isFinite(endStep) ? endStep : startStep + 1, startStep, { loss: '-', val: '-', ips: '-' });
      },
      onStep: (r) => {
        if (r.step % 10 === 0 || r.step === endStep) log({ ...r });
        bar?.update(r.step, { loss: r.loss.toFixed(2), val: lastVal?.toFixed(2) ?? '-', ips: r.imagesPerSecond.toFixed(0) });
      },
      onEval: (r) => {
        lastVal = r.validation.bound;
        log({ step: r.step, validation: r.validation, ...(r.final ? { final: true } : {}) });
      },
      onCheckpoint: (s) => saveRun(ckpt, { ...meta0, step: s.step }, model, s),
    });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
  if (E.isLeft(result)) throw result.left;
  const r = result.right;
  if (r.stopped === 'diverged') throw new UsageError(`${r.error!.message}; training stopped, the last good state (step ${r.state.step}) is in ${ckpt}`);
  const interrupted = r.stopped === 'aborted';
  const pictures = interrupted ? {} : writeSamples(model, r.state.params, data.test, out, { backend, count: 64, seed });
  if (interrupted) process.exitCode = 130;
  const done = r.state.step - startStep;
  const final = r.evals[r.evals.length - 1]?.validation;
  const curve = readMetrics(metricsPath);
  return {
    command: 'train', steps: done, step: r.state.step, stopped: interrupted ? 'interrupted' : r.stopped, wallSeconds: +r.wallSeconds.toFixed(2),
    secondsPerStep: +(r.wallSeconds / Math.max(1, done)).toFixed(4), imagesPerSecond: +((done * batch) / r.wallSeconds).toFixed(1),
    compileSeconds: +r.compileSeconds.toFixed(2), finalTrainLoss: r.history[r.history.length - 1]?.loss ?? NaN,
    validationBound: final?.bound, validationImages: final?.images,
    curve: E.isRight(curve) ? curveSummary(curve.right) : curve.left.message,
    checkpoint: ckpt, metrics: metricsPath, config: join(out, RUN_CONFIG_FILE), ...pictures, backend, mode: r.mode, kernels: r.kernels, threads: r.threads,
  };
};
