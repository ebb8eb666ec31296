// `draw train`: flags, data and files around the library's `train` (src/models/draw/train.ts):
// metrics.jsonl, checkpoints, the progress bar, Ctrl-C (run-session.ts), config.json (run-config.ts),
// and the pictures at the end.
import { join } from 'node:path';
import { draw, type Bound } from '../models/draw/index.ts';
import { train as trainModel } from '../models/draw/train.ts';
import {
  type Flags,
  outFolder,
  canvasesField,
  explicitConfig,
  halfLifeField,
  refuseMixedStarts,
  UsageError,
} from './options.ts';
import { resolveSettings, writeRunConfig, RUN_CONFIG_FILE } from './run-config.ts';
import {
  checkpointPath,
  refuseToReplaceRun,
  loadRun,
  loadInitRun,
  saveRun,
  loadData,
  runCheckpoint,
  optimizerFor,
  type LoadedRun,
  type RunMeta,
} from './session.ts';
import { initTrainState } from '../optim/index.ts';
import { runSession, sessionSummary } from './run-session.ts';
import { writeSamples } from './sample.ts';
import { runCurve } from '../io/metrics.ts';

export const train = async (f: Flags, operands: readonly string[] = []): Promise<Record<string, unknown>> => {
  // Every flag, the data and (in trainModel, before onStart) the compiled programs are checked before
  // the disk is touched, so a mistake costs nothing: no folder made, no run replaced.
  const out = outFolder(f, operands, 'runs/draw');
  refuseMixedStarts(f);
  if (f.resume && f.config)
    throw new UsageError('--resume continues the run in --out as its checkpoint says: drop --config');
  const resumed = f.resume ? loadRun(f.checkpoint ?? runCheckpoint(out), explicitConfig(f)) : undefined;
  if (
    resumed &&
    (f.batch ?? f.lr ?? f['lr-half-life'] ?? f.seed ?? f.clip ?? f.threads ?? f['canvases-per-digit']) !== undefined
  )
    throw new UsageError(
      '--resume continues the run as it was: drop --batch, --lr, --lr-half-life, --seed, --clip, --threads and --canvases-per-digit',
    );
  if (resumed && f.dataset !== undefined && f.dataset !== (resumed.meta.dataset ?? 'mnist'))
    throw new UsageError(
      `--resume continues the run on its own data set (${resumed.meta.dataset ?? 'mnist'}): drop --dataset ${f.dataset}`,
    );
  let init: LoadedRun | undefined; // --init's checkpoint, read once: its meta for the settings, its parameters to start from
  const settings = resolveSettings(
    resumed ? { ...f, dataset: resumed.meta.dataset } : f,
    (path) => (init = loadInitRun(path, explicitConfig(f))).meta,
  );
  const meta0: RunMeta = resumed?.meta ?? {
    format: 'draw-ts/1',
    config: settings.config,
    step: 0,
    seed: settings.seed,
    batch: settings.batch,
    lr: settings.lr,
    ...halfLifeField(settings.lrHalfLife),
    clip: settings.clip,
    binarisation: settings.binarisation,
    threads: settings.threads,
    ...(settings.dataset === 'mnist' ? {} : { dataset: settings.dataset }),
    ...canvasesField(settings.canvasesPerDigit),
  };
  const { config, batch, seed } = meta0;
  const dataset = meta0.dataset ?? 'mnist';
  const threads = meta0.threads ?? 1; // runs from before threads ran the one-graph step
  const { epochs, minutes, steps, evalEvery, checkpointEvery, valImages, backend } = settings;
  const model = resumed?.model ?? draw(config);
  const data = loadData(config, {
    binarisation: meta0.binarisation,
    images: settings.data,
    labels: settings.labels,
    dataset,
    canvasesPerDigit: meta0.canvasesPerDigit,
  });
  // trainModel refuses this too; here the message can name the flag and the file
  if (data.train.n < batch)
    throw new UsageError(
      `${settings.data ? `--data ${settings.data}` : 'MNIST'} has ${data.train.n} training images, fewer than one batch of ${batch} (--batch)`,
    );
  if (!resumed && !f.overwrite) refuseToReplaceRun(out);

  const optimizer = optimizerFor(meta0);
  const session = {
    command: 'train',
    out,
    resumed: !!resumed,
    json: !!f.json,
    startStep: resumed?.state.step ?? 0,
    shown: (v: Bound) => v.bound.toFixed(2),
    save: (path: string, s: Parameters<typeof saveRun>[3]) => saveRun(path, { ...meta0, step: s.step }, model, s),
    onNewRun: () => void writeRunConfig(out, settings),
  };
  const r = await runSession(session, (hooks) =>
    trainModel(
      model,
      { train: data.train, validation: data.validation },
      {
        steps,
        epochs,
        minutes,
        evalEvery,
        valImages,
        checkpointEvery,
        batch,
        optimizer,
        clip: meta0.clip,
        seed,
        resample: meta0.binarisation === 'resample',
        backend,
        threads,
        state: resumed?.state ?? (init && initTrainState(init.state.params, model.paramShapes, optimizer)),
        ...hooks,
      },
    ),
  );
  const pictures =
    r.stopped === 'aborted' ? {} : writeSamples(model, r.state.params, data.test, out, { backend, count: 64, seed });
  const final = r.evals[r.evals.length - 1]?.validation;
  const metricsPath = join(out, 'metrics.jsonl');
  return {
    ...sessionSummary(session, r, batch),
    ...(dataset === 'mnist' ? {} : { dataset }),
    ...canvasesField(meta0.canvasesPerDigit),
    validationBound: final?.bound,
    validationImages: final?.images,
    curve: runCurve(metricsPath),
    ...(settings.init === undefined ? {} : { init: settings.init }),
    checkpoint: checkpointPath(out),
    metrics: metricsPath,
    config: join(out, RUN_CONFIG_FILE),
    ...pictures,
    backend,
    mode: r.mode,
    kernels: r.kernels,
    threads: r.threads,
  };
};
