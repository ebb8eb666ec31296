// What the commands share: the output folder, checkpoints (config + parameters + optimiser state +
// step + seed), compiled programs and the data.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { CHECKPOINT_FILE, loadCheckpoint, saveCheckpoint } from '../io/checkpoint.ts';
import { draw, type DrawConfig, type DrawModel } from '../models/draw/index.ts';
import { compile, type BackendName, type Program } from '../compiler/compile.ts';
import type { Graph } from '../compiler/graph.ts';
import { adam, checkpointTensors, restoreTrainState, type TrainState } from '../optim/index.ts';
import { loadMnist, loadIdxDataset } from '../data/mnist.ts';
import { sliceDataset, type Binarisation, type LabelledImages } from '../data/images.ts';
import { loadSynthetic } from '../data/synthetic-mnist.ts';
import { valuesPerImage } from '../data/source.ts';
import { makeWritableFolder } from '../io/folder.ts';
import { UsageError, type DatasetName, type Flags, explicitConfig } from './options.ts';
import {
  DEFAULT_PRETRAINED,
  PRETRAINED,
  loadModelFile,
  pretrainedName,
  type PretrainedName,
} from '../node/pretrained.ts';

export interface RunMeta {
  readonly format: 'draw-ts/1';
  readonly config: DrawConfig;
  readonly step: number;
  /** Every random draw of a run is a function of (seed, step): this is the whole RNG state. */
  readonly seed: number;
  readonly batch: number;
  readonly lr: number;
  /** Steps over which the learning rate halves (--lr-half-life; absent: constant). */
  readonly lrHalfLife?: number;
  readonly clip: number;
  readonly binarisation: Binarisation;
  /** Threads of the data-parallel step (absent in runs from before it: 1). A resumed run keeps its count, so it stays bit-exact. */
  readonly threads?: number;
  /** What it trained on (absent in runs from before --dataset: MNIST, or --data). */
  readonly dataset?: DatasetName;
  /** Training images per training digit of a synthetic data set (absent: 1). */
  readonly canvasesPerDigit?: number;
}

/** Makes the output folder; call it once every flag has been checked, so a mistake leaves no folder behind. */
export const ensureOutDir = (dir: string): string => {
  const made = makeWritableFolder(dir);
  if (E.isLeft(made)) throw new UsageError(made.left.message);
  return dir;
};

/** A new run must not replace one already in `out` unless the user said so (--overwrite) or continues it (--resume). */
export const refuseToReplaceRun = (out: string): void => {
  const held = [checkpointPath(out), join(out, LEGACY_CHECKPOINT_FILE), join(out, 'metrics.jsonl')].filter(
    (p) => existsSync(p) && statSync(p).size > 0,
  );
  if (held.length)
    throw new UsageError(
      `'${out}' already holds a run (${held.map((p) => p.slice(out.length).replace(/^[\\/]/, '')).join(', ')}): --resume continues it, --overwrite replaces it, or choose another --out`,
    );
};

/** The learning rate a run's meta records: constant, or halving every `lrHalfLife` steps. */
export interface RateMeta {
  readonly lr: number;
  readonly lrHalfLife?: number;
}

export const optimizerFor = ({ lr, lrHalfLife }: RateMeta) => adam({ lr, lrHalfLife });

export const saveRun = (
  path: string,
  meta: RateMeta & { readonly step: number },
  model: Pick<DrawModel, 'paramShapes'>,
  state: TrainState,
): void => saveCheckpoint(path, { meta, tensors: checkpointTensors(state, model.paramShapes, optimizerFor(meta)) });

export interface LoadedRun {
  readonly meta: RunMeta;
  readonly model: DrawModel;
  readonly state: TrainState;
}

/** Refuses a model whose config differs from a field the flags set explicitly (`what` names the model). */
const checkAsked = (what: string, config: DrawConfig, expect: Partial<DrawConfig>): void => {
  const clash = (Object.keys(expect) as (keyof DrawConfig)[]).find((k) => expect[k] !== config[k]);
  if (clash) throw new UsageError(`${what} has ${clash} = ${config[clash]}, but the flags ask for ${expect[clash]}`);
};

/** Loads and verifies a checkpoint; `expect` holds config fields the caller's flags set explicitly. */
export const loadRun = (path: string | undefined, expect: Partial<DrawConfig> = {}): LoadedRun => {
  if (!path) throw new UsageError('--checkpoint FILE is required');
  const ck = loadCheckpoint(path);
  if (E.isLeft(ck)) throw new UsageError(ck.left.message);
  const meta = ck.right.meta as RunMeta;
  if (meta?.format !== 'draw-ts/1')
    throw new UsageError(`checkpoint ${path} was not written by 'draw train' (format ${JSON.stringify(meta?.format)})`);
  checkAsked(`checkpoint ${path}`, meta.config, expect);
  const model = draw(meta.config);
  const state = restoreTrainState(ck.right.tensors, meta.step, model.paramShapes, optimizerFor(meta));
  if (E.isLeft(state)) throw new UsageError(`checkpoint ${path}: ${state.left.message}`);
  return { meta, model, state: state.right };
};

/**
 * The parameters `--init FILE` starts a new run from: a training checkpoint or a parameters-only model file
 * (the shipped one, say). Only the fields that decide parameter shapes must agree with the flags: the glimpse
 * count T shapes no parameter, so a warm start may change it (a T=10 model starting a T=64 run).
 */
export const loadInitRun = (path: string, expect: Partial<DrawConfig>): LoadedRun => {
  const p = loadModelFile(path);
  if (E.isLeft(p)) throw new UsageError(`--init ${p.left.message}`);
  const { T: _glimpses, ...shapes } = expect;
  const meta = p.right.meta as unknown as RunMeta;
  checkAsked(`--init checkpoint ${path}`, meta.config, shapes);
  return { meta, model: p.right.model, state: { step: meta.step, params: p.right.params, opt: {} } };
};

/** Which shipped model `--pretrained [NAME]` names (default paper); undefined without --pretrained. */
export const pretrainedOf = (f: Flags, operands: readonly string[]): PretrainedName | undefined => {
  if (!f.pretrained) return undefined;
  const name = pretrainedName(operands[0] ?? DEFAULT_PRETRAINED);
  if (E.isLeft(name)) throw new UsageError(`--pretrained: ${name.left.message}`);
  return name.right;
};

/** The model `--checkpoint FILE` names, or with `--pretrained [NAME]` one that ships with the package (parameters only). */
export const loadModelRun = (f: Flags, operands: readonly string[] = []): LoadedRun => {
  const name = pretrainedOf(f, operands);
  if (name === undefined) return loadRun(f.checkpoint, explicitConfig(f));
  if (f.checkpoint !== undefined)
    throw new UsageError('--pretrained uses a model that ships with draw-ts: drop --checkpoint, or --pretrained');
  const p = loadModelFile(PRETRAINED[name]);
  if (E.isLeft(p)) throw new UsageError(`the pretrained model '${name}': ${p.left.message}`);
  const meta = p.right.meta as unknown as RunMeta;
  checkAsked(`the pretrained model '${name}'`, meta.config, explicitConfig(f));
  return { meta, model: p.right.model, state: { step: meta.step, params: p.right.params, opt: {} } };
};

/** What names the model a command used: the checkpoint's path, or the pretrained file. */
export const modelSource = (f: Flags, operands: readonly string[] = []): string | undefined => {
  const name = pretrainedOf(f, operands);
  return name === undefined ? f.checkpoint : PRETRAINED[name];
};

export const compileOrThrow = (g: E.Either<Error, Graph>, backend: BackendName): Program => {
  if (E.isLeft(g)) throw g.left;
  const p = compile(g.right, { backend });
  if (E.isLeft(p)) throw p.left;
  return p.right;
};

export interface Data {
  readonly train: LabelledImages;
  readonly validation: LabelledImages;
  readonly test: LabelledImages;
}

/** Where a run's images come from: MNIST, a data set synthesised from it, or an IDX file of the user's. */
export interface DataSpec {
  readonly binarisation: Binarisation;
  readonly dataset?: DatasetName;
  /** An IDX image file (and its labels) instead of MNIST (--data, --labels). */
  readonly images?: string;
  readonly labels?: string;
  /** Synthetic data sets: training images per training digit (--canvases-per-digit; default 1). */
  readonly canvasesPerDigit?: number;
}

const splitsOf = ({ binarisation, images, labels, dataset = 'mnist', canvasesPerDigit }: DataSpec): Data => {
  if (!images && labels) throw new UsageError('--labels goes with --data: the labels of that image file');
  if (dataset !== 'mnist')
    return loadSynthetic(dataset === 'colour-mnist' ? 'colour' : dataset, { binarisation, canvasesPerDigit });
  if (!images) return loadMnist({ binarisation });
  if (!existsSync(images)) throw new UsageError(`--data: no such file '${images}'`);
  const all = loadIdxDataset(images, labels, { binarisation });
  const held = Math.min(10_000, Math.floor(all.n / 6));
  const train = sliceDataset(all, 0, all.n - held);
  const rest = sliceDataset(all, all.n - held, all.n);
  return { train, validation: rest, test: rest };
};

/** MNIST's 50k/10k/10k, a data set synthesised from those splits (--dataset), or any IDX file split like MNIST (last 10k, or a sixth, held out), with at least one image in every split. */
export const loadSplits = (spec: DataSpec): Data => nonEmpty(splitsOf(spec), sourceOf(spec));

const nonEmpty = (data: Data, source: string): Data => {
  const empty = (['train', 'validation', 'test'] as const).find((k) => data[k].n === 0);
  if (empty)
    throw new UsageError(
      `${source} has ${data.train.n + data.test.n} images, too few to hold out a ${empty} split (a sixth, at least 1)`,
    );
  return data;
};

const sourceOf = ({ images, dataset = 'mnist' }: DataSpec) =>
  images ? `--data ${images}` : dataset === 'mnist' ? 'MNIST' : `--dataset ${dataset}`;

/** loadSplits, checked against the model: images of its size. */
export const loadData = (config: Pick<DrawConfig, 'A' | 'B' | 'channels'>, spec: DataSpec): Data => {
  const data = splitsOf(spec);
  const { rows, cols } = data.train;
  const channels = valuesPerImage(data.train) / (rows * cols);
  if (valuesPerImage(data.train) !== config.A * config.B * config.channels)
    throw new UsageError(
      `${sourceOf(spec)} has ${rows}×${cols}${channels > 1 ? `×${channels}` : ''} images, the model expects ${config.B}×${config.A}${config.channels > 1 ? `×${config.channels}` : ''}`,
    );
  return nonEmpty(data, sourceOf(spec));
};

/** Where `train` writes the checkpoint of the run in `out`. */
export const checkpointPath = (out: string): string => join(out, CHECKPOINT_FILE);

/** What builds before safetensors named it; `--resume` still continues such a run (and writes CHECKPOINT_FILE). */
const LEGACY_CHECKPOINT_FILE = 'checkpoint.bin';

/** The checkpoint a run in `out` holds: the safetensors file, else an older build's, else where it would be. */
export const runCheckpoint = (out: string): string =>
  [checkpointPath(out), join(out, LEGACY_CHECKPOINT_FILE)].find((p) => existsSync(p)) ?? checkpointPath(out);
