// `draw classify`: the attention classifier of the DRAW paper's §4.1 (src/models/ram) trained on
// cluttered translated MNIST (or any labelled --dataset), with train's checkpoints, metrics, progress
// bar, --resume and Ctrl-C (run-session.ts); `draw eval` on its checkpoint reports the test error.
// Its picture, glimpses.png, shows test images with each glimpse's box, one column per glimpse
// (as the paper's Figure 4).
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type { Tensor } from '../dsl/tensor.ts';
import { trace } from '../compiler/trace.ts';
import type { BackendName } from '../compiler/compile.ts';
import { loadCheckpoint } from '../io/checkpoint.ts';
import { encodeStrip, type Rgb } from '../io/png.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { runCurve } from '../io/metrics.ts';
import { gatherBatch, type LabelledImages } from '../data/images.ts';
import { valuesPerImage } from '../data/source.ts';
import { glimpseBox } from '../models/draw/glimpse.ts';
import {
  ram,
  ramPresets,
  checkRamConfig,
  classificationError,
  trainClassifier,
  type RamConfig,
  type RamModel,
  type Classification,
} from '../models/ram/index.ts';
import { initTrainState, restoreTrainState, type TrainState } from '../optim/index.ts';
import {
  type Flags,
  int,
  outFolder,
  positive,
  halfLifeField,
  backendOf,
  canvasesField,
  canvasesOf,
  datasetOf,
  refuseMixedStarts,
  threadsFor,
  type DatasetName,
  UsageError,
} from './options.ts';
import {
  checkpointPath,
  compileOrThrow,
  loadData,
  loadSplits,
  optimizerFor,
  refuseToReplaceRun,
  saveRun,
} from './session.ts';
import { runSession, sessionSummary } from './run-session.ts';

export const CLASSIFIER_FORMAT = 'draw-ts/classifier-1';

export interface ClassifierMeta {
  readonly format: typeof CLASSIFIER_FORMAT;
  readonly config: RamConfig;
  readonly dataset: DatasetName;
  readonly step: number;
  readonly seed: number;
  readonly batch: number;
  readonly lr: number;
  readonly lrHalfLife?: number;
  readonly clip: number;
  /** Threads of the data-parallel step (absent: 1). */
  readonly threads?: number;
  /** Training images per training digit (absent: 1). */
  readonly canvasesPerDigit?: number;
}

interface ClassifierRun {
  readonly meta: ClassifierMeta;
  readonly model: RamModel;
  readonly state: TrainState;
}

const GLIMPSE: Rgb = [40, 200, 60];
const SHOWN = 8;

/**
 * The config the flags ask for: the paper's cluttered-MNIST setting (or, with --init, that checkpoint's)
 * with --glimpses, --read-n, --hidden applied, sized to the data (10 digit classes).
 */
const configFrom = (f: Flags, data: LabelledImages, base: RamConfig = ramPresets.cluttered8): RamConfig => {
  const channels = valuesPerImage(data) / (data.rows * data.cols);
  return checkRamConfig({
    A: data.cols,
    B: data.rows,
    channels,
    classes: 10,
    T: int(f, 'glimpses') ?? base.T,
    N: int(f, 'read-n') ?? base.N,
    hidden: int(f, 'hidden') ?? base.hidden,
  });
};

/** A checkpoint written by `draw classify`, verified; `undefined` when it was written by another command. */
export const loadClassifierRun = (path: string): ClassifierRun | undefined => {
  const ck = loadCheckpoint(path);
  if (E.isLeft(ck)) throw new UsageError(ck.left.message);
  const meta = ck.right.meta as ClassifierMeta;
  if (meta?.format !== CLASSIFIER_FORMAT) return undefined;
  const model = ram(meta.config);
  const state = restoreTrainState(ck.right.tensors, meta.step, model.paramShapes, optimizerFor(meta));
  if (E.isLeft(state)) throw new UsageError(`checkpoint ${path}: ${state.left.message}`);
  return { meta, model, state: state.right };
};

/** glimpses.png: the first test images, one row each, one column per glimpse with its box. */
export const writeGlimpses = (
  model: RamModel,
  params: Readonly<Record<string, Float32Array>>,
  test: LabelledImages,
  out: string,
  backend: BackendName,
): string => {
  const c = model.config;
  const count = Math.min(SHOWN, test.n);
  const program = compileOrThrow(
    trace((xs: Readonly<Record<string, Tensor>>) => model.classify(xs, { x: xs.x, y: xs.y }), model.specs(count)),
    backend,
  );
  const x = gatherBatch(
    test,
    Int32Array.from({ length: count }, (_, i) => i),
  );
  const r = program.run({ ...params, x, y: new Float32Array(count * c.classes) });
  const png = encodeStrip(
    Array.from({ length: c.T }, () => x),
    {
      count,
      rows: c.B,
      cols: c.A,
      channels: c.channels,
      scale: c.A < 64 ? 3 : 1,
      boxes: Array.from({ length: c.T }, (_, t) =>
        Array.from({ length: count }, (_, n) => {
          const b = glimpseBox(r, 'read', c.N, t, n, count);
          return b && [{ ...b, color: GLIMPSE }];
        }),
      ),
    },
  );
  const path = join(out, 'glimpses.png');
  writeFileAtomic(path, png, 'image');
  return path;
};

/** --init's parameters must fit the new model: the glimpse count may change (no parameter depends on it), sizes may not. */
const refuseOtherShapes = (path: string | undefined, from: RamModel, to: RamModel): void => {
  const differs = (['channels', 'N', 'hidden'] as const).find((k) => from.config[k] !== to.config[k]);
  if (differs)
    throw new UsageError(
      `--init ${path} has ${differs} = ${from.config[differs]}, but this run's is ${to.config[differs]}`,
    );
};

const percent = (v: Classification) => `${(100 * v.error).toFixed(2)}%`;

export const classify = async (f: Flags, operands: readonly string[] = []): Promise<Record<string, unknown>> => {
  const out = outFolder(f, operands, 'runs/classify');
  const backend = backendOf(f);
  refuseMixedStarts(f);
  const resumed = f.resume ? loadClassifierRun(f.checkpoint ?? checkpointPath(out)) : undefined;
  if (f.resume && !resumed)
    throw new UsageError(`--resume: ${f.checkpoint ?? checkpointPath(out)} was not written by 'draw classify'`);
  if (
    resumed &&
    (f.batch ??
      f.lr ??
      f['lr-half-life'] ??
      f.seed ??
      f.clip ??
      f.glimpses ??
      f['read-n'] ??
      f.hidden ??
      f.dataset ??
      f.threads ??
      f['canvases-per-digit']) !== undefined
  )
    throw new UsageError(
      '--resume continues the run as it was: drop --batch, --lr, --lr-half-life, --seed, --clip, --glimpses, --read-n, --hidden, --dataset, --threads and --canvases-per-digit',
    );
  if (f.data !== undefined)
    throw new UsageError("--data is for 'train'; classify trains on --dataset (default cluttered)");
  const init = f.init === undefined ? undefined : loadClassifierRun(f.init);
  if (f.init !== undefined && !init) throw new UsageError(`--init: ${f.init} was not written by 'draw classify'`);
  const dataset = resumed?.meta.dataset ?? datasetOf(f, init?.meta.dataset ?? 'cluttered');
  if (dataset === 'two-digit')
    throw new UsageError(
      '--dataset two-digit has two labels per image; classify trains on cluttered, mnist or colour-mnist',
    );
  const t0 = performance.now();
  const spec = {
    binarisation: 'grey',
    dataset,
    canvasesPerDigit: resumed ? resumed.meta.canvasesPerDigit : canvasesOf(f, dataset),
  } as const;
  const data = resumed ? loadData(resumed.meta.config, spec) : loadSplits(spec);
  const dataSeconds = (performance.now() - t0) / 1e3;
  const meta0: ClassifierMeta = resumed?.meta ?? {
    format: CLASSIFIER_FORMAT,
    config: configFrom(f, data.train, init?.meta.config),
    dataset,
    step: 0,
    seed: int(f, 'seed', 0) ?? 1,
    batch: int(f, 'batch') ?? 100,
    lr: positive(f, 'lr') ?? 3e-3,
    ...halfLifeField(positive(f, 'lr-half-life')),
    clip: positive(f, 'clip') ?? 10,
    threads: threadsFor(int(f, 'threads'), backend, int(f, 'batch') ?? 100),
    ...canvasesField(spec.canvasesPerDigit),
  };
  const loop = {
    steps: int(f, 'steps'),
    epochs: int(f, 'epochs'),
    minutes: positive(f, 'minutes'),
    evalEvery: int(f, 'eval-every') ?? 500,
    valImages: int(f, 'val-images') ?? 1000,
    checkpointEvery: int(f, 'ckpt-every') ?? 500,
  };
  const model = resumed?.model ?? ram(meta0.config);
  if (init) refuseOtherShapes(f.init, init.model, model);
  if (!resumed && !f.overwrite) refuseToReplaceRun(out);

  const optimizer = optimizerFor(meta0);
  const session = {
    command: 'classify',
    out,
    resumed: !!resumed,
    json: !!f.json,
    startStep: resumed?.state.step ?? 0,
    shown: percent,
    save: (path: string, s: TrainState) => saveRun(path, { ...meta0, step: s.step }, model, s),
  };
  const r = await runSession(session, (hooks) =>
    trainClassifier(
      model,
      { train: data.train, validation: data.validation },
      {
        ...loop,
        batch: meta0.batch,
        optimizer,
        clip: meta0.clip,
        seed: meta0.seed,
        backend,
        threads: meta0.threads ?? 1,
        state: resumed?.state ?? (init && initTrainState(init.state.params, model.paramShapes, optimizer)),
        ...hooks,
      },
    ),
  );
  const glimpsesPng =
    r.stopped === 'aborted' ? undefined : writeGlimpses(model, r.state.params, data.test, out, backend);
  const final = r.evals[r.evals.length - 1]?.validation;
  return {
    ...sessionSummary(session, r, meta0.batch),
    dataset,
    ...canvasesField(meta0.canvasesPerDigit),
    dataSeconds: +dataSeconds.toFixed(2),
    glimpses: meta0.config.T,
    readN: meta0.config.N,
    validationError: final?.error,
    validationLoss: final?.loss,
    validationImages: final?.images,
    curve: runCurve(join(out, 'metrics.jsonl')),
    ...(init ? { init: f.init } : {}),
    checkpoint: checkpointPath(out),
    metrics: join(out, 'metrics.jsonl'),
    ...(glimpsesPng ? { glimpsesPng } : {}),
    backend,
    mode: r.mode,
    kernels: r.kernels,
    threads: r.threads,
  };
};

/** `draw eval` on a classifier's checkpoint: the error rate on the test split of its data set. */
export const evaluateClassifier = (f: Flags, run: ClassifierRun): Record<string, unknown> => {
  const batch = int(f, 'batch') ?? 100;
  const data = loadData(run.meta.config, { binarisation: 'grey', dataset: run.meta.dataset });
  const program = compileOrThrow(run.model.lossGraph(batch), backendOf(f));
  const started = performance.now();
  const r = classificationError(
    program,
    run.state.params,
    run.model.config,
    data.test,
    batch,
    int(f, 'images') ?? data.test.n,
  );
  return {
    command: 'eval',
    checkpoint: f.checkpoint,
    dataset: run.meta.dataset,
    step: run.state.step,
    testError: r.error,
    testLoss: r.loss,
    images: r.images,
    seconds: +((performance.now() - started) / 1e3).toFixed(2),
  };
};
