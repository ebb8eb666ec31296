// `draw train`: the training loop around one compiled step graph (loss, gradient, clipping, Adam).
// Every random draw is a function of (seed, step), so a resumed run continues bit-exactly.
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import { draw } from '../models/draw/index.ts';
import { dataSpecs } from '../models/draw/model.ts';
import { trainStep, stepFeeds, advance, NonFiniteError, type TrainState } from '../optim/index.ts';
import { shuffledBatches, gatherBatch, binariseBatch } from '../data/mnist.ts';
import { seedRng, fillNormal } from '../dsl/rng.ts';
import { type Flags, configFrom, explicitConfig, int, positive, backendOf, binarisationOf, UsageError } from './options.ts';
import {
  ensureOutDir, refuseToReplaceRun, loadRun, freshState, saveRun, compileOrThrow, loadData, checkpointPath, optimizerFor, type RunMeta,
} from './session.ts';
import { bound } from './bound.ts';
import { writeSamples } from './sample.ts';

/** Stream of a (seed, step, purpose) triple: independent draws that need no stored state. */
export const streamFor = (seed: number, step: number, purpose: number) => seedRng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b) ^ purpose) | 0);

export const train = async (f: Flags): Promise<Record<string, unknown>> => {
  // Every flag, the data and the compiled programs are checked before the disk is touched, so a
  // mistake costs nothing: no folder made, no run replaced.
  const out = f.out ?? 'runs/draw';
  const backend = backendOf(f);
  if (f.resume && f.overwrite) throw new UsageError('--resume continues the run in --out and --overwrite replaces it: pass one of them');
  const resumed = f.resume ? loadRun(f.checkpoint ?? checkpointPath(out), explicitConfig(f)) : undefined;
  if (resumed && (f.batch ?? f.lr ?? f.seed ?? f.clip) !== undefined) throw new UsageError('--resume continues the run as it was: drop --batch, --lr, --seed and --clip');
  const meta0: RunMeta = resumed?.meta ?? {
    format: 'draw-ts/1', config: configFrom(f), step: 0, seed: int(f, 'seed', 0) ?? 1, batch: int(f, 'batch') ?? 100,
    lr: positive(f, 'lr') ?? 3e-3, clip: positive(f, 'clip') ?? 10, binarisation: binarisationOf(f),
  };
  const { config, batch, seed } = meta0;
  const epochs = int(f, 'epochs');
  const minutes = positive(f, 'minutes');
  const evalEvery = int(f, 'eval-every') ?? 500;
  const ckptEvery = int(f, 'ckpt-every') ?? 500;
  const valImages = int(f, 'val-images') ?? 1000;
  const model = resumed?.model ?? draw(config);
  const data = loadData(config, meta0.binarisation, f.data, f.labels);
  if (data.train.n < batch)
    throw new UsageError(`${f.data ? `--data ${f.data}` : 'MNIST'} has ${data.train.n} training images, fewer than one batch of ${batch} (--batch)`);
  const perEpoch = Math.floor(data.train.n / batch);
  const steps = int(f, 'steps') ?? (epochs ? epochs * perEpoch : minutes ? Number.MAX_SAFE_INTEGER : 1000);
  const deadline = minutes ? Date.now() + minutes * 60_000 : Infinity;
  if (!resumed && !f.overwrite) refuseToReplaceRun(out);

  const compileStart = performance.now();
  const stepProgram = compileOrThrow(trainStep(model.loss, model.paramShapes, dataSpecs(config, batch), optimizerFor(meta0.lr), { clip: meta0.clip }), backend);
  const evalProgram = compileOrThrow(model.lossGraph(batch), backend);
  const compileSeconds = (performance.now() - compileStart) / 1e3;

  ensureOutDir(out);
  const ckpt = checkpointPath(out);
  const metricsPath = join(out, 'metrics.jsonl');
  const log = (rec: Record<string, unknown>) => appendFileSync(metricsPath, `${JSON.stringify(rec)}\n`);
  if (!resumed) writeFileSync(metricsPath, '');

  let state: TrainState = resumed?.state ?? freshState(model, seed, meta0.lr);
  const endStep = resumed ? state.step + steps : steps;
  const x = new Float32Array(batch * config.A * config.B * config.channels);
  const eps = new Float32Array(config.T * batch * config.zSize);
  const save = (s: TrainState) => saveRun(ckpt, { ...meta0, step: s.step }, model, s);
  const validate = (s: TrainState) => bound(evalProgram, s.params, config, data.validation, batch, valImages);

  let interrupted = false;
  const onSigint = () => (interrupted = true);
  process.on('SIGINT', onSigint);
  const bar = f.json ? undefined : new cliProgress.SingleBar({
    format: 'train |{bar}| {value}/{total} | loss {loss} | val {val} | {ips} img/s | ETA {eta_formatted}',
    etaBuffer: 20, hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  bar?.start(endStep < Number.MAX_SAFE_INTEGER ? endStep : state.step + 1, state.step, { loss: '-', val: '-', ips: '-' });

  const started = performance.now();
  const startStep = state.step;
  let lastLoss = NaN;
  let lastVal: number | undefined;
  let stopped: string | undefined;
  let orders: Int32Array[] = [];
  let orderEpoch = -1;
  try {
    while (state.step < endStep) {
      await new Promise((resolve) => setImmediate(resolve)); // lets a Ctrl-C reach its handler
      if (interrupted) { stopped = 'interrupted'; break; }
      if (Date.now() > deadline) { stopped = 'time budget reached'; break; }
      const epoch = Math.floor(state.step / perEpoch);
      if (epoch !== orderEpoch) {
        orders = shuffledBatches(data.train.n, batch, streamFor(seed, epoch, 1))[0];
        orderEpoch = epoch;
      }
      gatherBatch(data.train, orders[state.step % perEpoch], x);
      if (meta0.binarisation === 'resample') binariseBatch(x, streamFor(seed, state.step, 3), x);
      fillNormal(streamFor(seed, state.step, 2), eps);
      const outputs = stepProgram.run(stepFeeds(state, { x, eps }));
      state = advance(state, outputs); // throws NonFiniteError before the good state is replaced
      lastLoss = outputs.loss[0];
      const done = state.step - startStep;
      const ips = (done * batch) / ((performance.now() - started) / 1e3);
      if (state.step % 10 === 0 || state.step === endStep) log({ step: state.step, loss: lastLoss, gradNorm: outputs.gradNorm[0], imagesPerSecond: ips });
      if (state.step % evalEvery === 0) {
        const v = validate(state);
        lastVal = v.bound;
        log({ step: state.step, validation: v });
      }
      if (state.step % ckptEvery === 0) save(state);
      bar?.update(state.step, { loss: lastLoss.toFixed(2), val: lastVal?.toFixed(2) ?? '-', ips: ips.toFixed(0) });
    }
  } catch (e) {
    bar?.stop();
    if (e instanceof NonFiniteError) {
      save(state);
      throw new UsageError(`${e.message}; training stopped, the last good state (step ${state.step}) is in ${ckpt}`);
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  bar?.stop();
  save(state);
  const wall = (performance.now() - started) / 1e3;
  const v = validate(state);
  log({ step: state.step, validation: v, final: true });
  const pictures = interrupted ? {} : writeSamples(model, state.params, data.test, out, { backend, count: 64, seed });
  if (interrupted) process.exitCode = 130;
  return {
    command: 'train', steps: state.step - startStep, step: state.step, stopped: stopped ?? 'done', wallSeconds: +wall.toFixed(2),
    secondsPerStep: +(wall / Math.max(1, state.step - startStep)).toFixed(4), imagesPerSecond: +(((state.step - startStep) * batch) / wall).toFixed(1),
    compileSeconds: +compileSeconds.toFixed(2), finalTrainLoss: lastLoss, validationBound: v.bound, validationImages: v.images,
    checkpoint: ckpt, metrics: metricsPath, ...pictures, backend, mode: stepProgram.mode, kernels: stepProgram.stats.kernels,
  };
};
