// Command-line flags: one table, parsed with node:util's parseArgs (strict, so an unknown flag is an
// error naming it), then turned into a DRAW config and run settings.
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { presets, checkConfig, type DrawConfig } from '../models/draw/index.ts';
import { backendNames, type BackendName } from '../compiler/compile.ts';
import type { Binarisation } from '../data/images.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** The CLI's preset names; `fast` is the default (see README for what each trains). */
export const presetNames = {
  fast: presets.mnistFast,
  small: { ...presets.mnistFast, encSize: 128, decSize: 128, zSize: 20 },
  paper: presets.mnistPaper,
  'no-attention': presets.mnistNoAttention,
  'no-attention-fast': { ...presets.mnistNoAttention, T: 10 },
  /** Two-digit MNIST, 60×60: 16 glimpses, read 4×4 and write 6×6 (a digit is about a third of the canvas). */
  'two-digit': { ...presets.mnistFast, A: 60, B: 60, T: 16, readN: 4, writeN: 6 },
  /** Coloured MNIST, 28×28×3: the fast preset with 3 channels (the same filters read and write each channel). */
  colour: { ...presets.mnistFast, channels: 3 },
} as const satisfies Record<string, DrawConfig>;
export type PresetName = keyof typeof presetNames;

/** The data sets `--dataset` names, and the DRAW preset each trains with unless --preset says otherwise. */
export const datasetNames = {
  mnist: 'fast',
  cluttered: undefined,
  'two-digit': 'two-digit',
  'colour-mnist': 'colour',
} as const satisfies Record<string, PresetName | undefined>;
export type DatasetName = keyof typeof datasetNames;

export const datasetOf = (f: Flags, fallback: DatasetName = 'mnist'): DatasetName => {
  const d = f.dataset ?? fallback;
  if (!(d in datasetNames))
    throw new UsageError(`unknown dataset '${d}' (datasets: ${Object.keys(datasetNames).join(', ')})`);
  if (f.data !== undefined && d !== 'mnist')
    throw new UsageError(
      `--data trains on an IDX file of your own; --dataset ${d} is synthesised from MNIST: pass one of them`,
    );
  return d as DatasetName;
};

const flags = {
  preset: { type: 'string' },
  T: { type: 'string' },
  enc: { type: 'string' },
  dec: { type: 'string' },
  z: { type: 'string' },
  'read-n': { type: 'string' },
  'write-n': { type: 'string' },
  attention: { type: 'string' },
  batch: { type: 'string' },
  lr: { type: 'string' },
  'lr-half-life': { type: 'string' },
  clip: { type: 'string' },
  steps: { type: 'string' },
  epochs: { type: 'string' },
  minutes: { type: 'string' },
  threads: { type: 'string' },
  seed: { type: 'string' },
  backend: { type: 'string' },
  out: { type: 'string' },
  checkpoint: { type: 'string' },
  pretrained: { type: 'boolean' },
  resume: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  json: { type: 'boolean' },
  'eval-every': { type: 'string' },
  'ckpt-every': { type: 'string' },
  'val-images': { type: 'string' },
  images: { type: 'string' },
  count: { type: 'string' },
  binarisation: { type: 'string' },
  data: { type: 'string' },
  labels: { type: 'string' },
  config: { type: 'string' },
  samples: { type: 'string' },
  gif: { type: 'string' },
  help: { type: 'boolean' },
  dataset: { type: 'string' },
  glimpses: { type: 'string' },
  hidden: { type: 'string' },
  init: { type: 'string' },
  temperature: { type: 'string' },
  'canvases-per-digit': { type: 'string' },
} as const;

export type Flags = { [K in keyof typeof flags]?: (typeof flags)[K]['type'] extends 'boolean' ? boolean : string };

export const parseFlags = (
  argv: readonly string[],
): { command: string | undefined; flags: Flags; operands: string[] } => {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: flags,
      allowPositionals: true,
      strict: true,
    });
    // plot takes an operand, its run folder; so do train and classify with --resume (the run to continue),
    // and eval, sample and export with --pretrained (the shipped model's name)
    const operands = positionals.slice(1);
    const allowed =
      positionals[0] === 'plot' ||
      (values.resume && ['train', 'classify'].includes(positionals[0])) ||
      (values.pretrained && ['eval', 'sample', 'export'].includes(positionals[0]))
        ? 1
        : 0;
    if (operands.length > allowed) throw new UsageError(`unexpected argument '${operands[allowed]}'`);
    return { command: positionals[0], flags: values as Flags, operands };
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
};

const num = (
  flag: string,
  v: string | undefined,
  integer: boolean,
  min: number,
  above: boolean,
): number | undefined => {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isSafeInteger(n)) || (above ? n <= min : n < min))
    throw new UsageError(
      `--${flag} must be ${integer ? 'an integer' : 'a number'} ${above ? '>' : '≥'} ${min}, got '${v}'`,
    );
  return n;
};
/** --resume continues the run in --out; --overwrite and --init start a new one: a command takes one of them. */
export const refuseMixedStarts = (f: Flags): void => {
  if (f.resume && f.overwrite)
    throw new UsageError('--resume continues the run in --out and --overwrite replaces it: pass one of them');
  if (f.resume && f.init)
    throw new UsageError(
      "--resume continues the run in --out and --init starts a new one from a checkpoint's parameters: pass one of them",
    );
};

/** The run folder: --out, or the folder `train --resume DIR` names; both at once must agree. */
export const outFolder = (f: Flags, operands: readonly string[], fallback: string): string => {
  const [named] = operands;
  if (named !== undefined && f.out !== undefined && named !== f.out)
    throw new UsageError(`--resume ${named} and --out ${f.out} name two run folders: pass one of them`);
  return named ?? f.out ?? fallback;
};

export const int = (f: Flags, flag: keyof Flags, min = 1): number | undefined =>
  num(flag, f[flag] as string | undefined, true, min, false);
/** A number > 0: learning rates, clipping thresholds, time budgets. */
export const positive = (f: Flags, flag: keyof Flags): number | undefined =>
  num(flag, f[flag] as string | undefined, false, 0, true);

/** --canvases-per-digit K: a synthetic data set's training images per training digit (absent: 1); MNIST and --data have one image per digit. */
export const canvasesOf = (f: Flags, dataset: DatasetName): number | undefined => {
  const k = int(f, 'canvases-per-digit');
  if (k !== undefined && dataset === 'mnist')
    throw new UsageError(
      `--canvases-per-digit applies to the data sets synthesised from MNIST (--dataset cluttered, two-digit, colour-mnist), not to ${f.data === undefined ? 'MNIST' : `--data ${f.data}`}`,
    );
  return k;
};

/** Canvases per digit as a meta field, absent when it is 1 (so runs without it read the same). */
export const canvasesField = (k: number | undefined): { canvasesPerDigit?: number } =>
  k === undefined || k === 1 ? {} : { canvasesPerDigit: k };

/** A learning-rate half-life as a meta field, absent when there is none (a run's meta says nothing of a schedule it lacks). */
export const halfLifeField = (h: number | undefined): { lrHalfLife?: number } =>
  h === undefined ? {} : { lrHalfLife: h };

export const presetOf = (name: string | undefined, fallback: PresetName = 'fast'): DrawConfig => {
  const key = name ?? fallback;
  if (!(key in presetNames))
    throw new UsageError(`unknown preset '${key}' (presets: ${Object.keys(presetNames).join(', ')})`);
  return presetNames[key as PresetName];
};

/** The DRAW preset a data set trains with by default; the classifier's data set has none. */
export const drawPresetOf = (d: DatasetName): PresetName => {
  const preset = datasetNames[d];
  if (preset === undefined)
    throw new UsageError(
      `--dataset ${d} is for 'classify', the attention classifier; DRAW trains on ${Object.keys(datasetNames)
        .filter((k) => datasetNames[k as DatasetName])
        .join(', ')}`,
    );
  return preset;
};

/** The config the flags ask for: a preset with any size flags applied. */
export const configFrom = (f: Flags, base: DrawConfig = presetOf(f.preset, drawPresetOf(datasetOf(f)))): DrawConfig => {
  const attention =
    f.attention === undefined ? undefined : f.attention === 'on' ? true : f.attention === 'off' ? false : undefined;
  if (f.attention !== undefined && attention === undefined)
    throw new UsageError(`--attention must be 'on' or 'off', got '${f.attention}'`);
  return checkConfig({
    ...base,
    T: int(f, 'T') ?? base.T,
    encSize: int(f, 'enc') ?? base.encSize,
    decSize: int(f, 'dec') ?? base.decSize,
    zSize: int(f, 'z') ?? base.zSize,
    readN: int(f, 'read-n') ?? base.readN,
    writeN: int(f, 'write-n') ?? base.writeN,
    readAttention: attention ?? base.readAttention,
    writeAttention: attention ?? base.writeAttention,
  });
};

/** Config fields the flags set explicitly, which must agree with a checkpoint's config. */
export const explicitConfig = (f: Flags): Partial<DrawConfig> => {
  if (
    f.preset === undefined &&
    ['T', 'enc', 'dec', 'z', 'read-n', 'write-n', 'attention'].every((k) => f[k as keyof Flags] === undefined)
  )
    return {};
  const c = configFrom(f);
  const explicit: Partial<Record<keyof DrawConfig, unknown>> = {};
  const set = (k: keyof DrawConfig) => (explicit[k] = c[k]);
  if (f.preset !== undefined) (Object.keys(c) as (keyof DrawConfig)[]).forEach(set);
  const byFlag: [keyof Flags, (keyof DrawConfig)[]][] = [
    ['T', ['T']],
    ['enc', ['encSize']],
    ['dec', ['decSize']],
    ['z', ['zSize']],
    ['read-n', ['readN']],
    ['write-n', ['writeN']],
    ['attention', ['readAttention', 'writeAttention']],
  ];
  byFlag.forEach(([flag, keys]) => f[flag] !== undefined && keys.forEach(set));
  return explicit as Partial<DrawConfig>;
};

export const backendOf = (f: Flags): BackendName => {
  const b = f.backend ?? 'cpu';
  if (!(backendNames as string[]).includes(b))
    throw new UsageError(`unknown backend '${b}' (backends: ${backendNames.join(', ')})`);
  return b as BackendName;
};

/** The step's threads, checked: by default the machine's cores (at most the batch) on the cpu backend, else 1. */
export const threadsFor = (asked: number | undefined, backend: BackendName, batch: number): number => {
  if (asked !== undefined && asked > 1 && backend !== 'cpu')
    throw new UsageError(`--threads ${asked}: data-parallel steps run on the cpu backend only, not ${backend}`);
  if (asked !== undefined && asked > batch)
    throw new UsageError(
      `--threads ${asked} is more than the batch of ${batch} (--batch): each thread takes a share of it`,
    );
  return asked ?? (backend === 'cpu' ? Math.min(availableParallelism(), batch) : 1);
};

/** Cluttered and coloured MNIST keep grey values; MNIST and two-digit MNIST are binarised as --binarisation says. */
export const binarisationOf = (f: Flags, dataset: DatasetName = 'mnist'): Binarisation => {
  if (dataset === 'cluttered' || dataset === 'colour-mnist') {
    if (f.binarisation !== undefined && f.binarisation !== 'grey')
      throw new UsageError(`--dataset ${dataset} keeps grey values: --binarisation ${f.binarisation} does not apply`);
    return 'grey';
  }
  const b = f.binarisation ?? 'sample';
  if (!['sample', 'threshold', 'resample', 'grey'].includes(b))
    throw new UsageError(`unknown binarisation '${b}' (sample, threshold, resample, grey)`);
  return b as Binarisation;
};

export const usage = `usage: draw-ts <command> [flags]      (in a checkout of this repository: npm run draw -- <command> [flags])

commands
  train    train DRAW on binarised MNIST (or --data IDX), write checkpoints, metrics and samples
  eval     test-set variational bound in nats (--checkpoint FILE), importance-sampled NLL (--samples K)
  sample   PNG grids of generated digits, their drawing steps, and reconstructions with glimpses
  export   the generator as standalone gpu.js kernels + weights + runtime (--checkpoint FILE --out DIR)
  plot     RUN_DIR: its metrics.jsonl as curves.png and curves.html (training loss, validation bound and
           its parts, gradient norm against step; a classify run: validation error and cross-entropy;
           --out DIR to write them elsewhere)
  classify train the attention classifier (paper §4.1) on cluttered MNIST; eval on its checkpoint gives the test error

flags
  --dataset mnist|two-digit|colour-mnist (train; default mnist) | cluttered|mnist|colour-mnist (classify; default cluttered)
  --preset fast|small|paper|no-attention|no-attention-fast|two-digit|colour
           (default fast: T=10, LSTM 256, z 100, read 2, write 5; --dataset two-digit: two-digit, colour-mnist: colour)
  --glimpses N (8) --read-n N (12) --hidden N (256)   classify: glimpses, glimpse size, LSTM size
  --T N --enc N --dec N --z N --read-n N --write-n N --attention on|off
  --batch N (100) --lr X (3e-3) --clip X (10) --steps N (1000) | --epochs N | --minutes M
  --lr-half-life STEPS   the learning rate halves every STEPS steps (exponential decay; default constant)
  --seed N (1) --backend cpu|gpujs|gpujs-cpu --out DIR (runs/draw; classify: runs/classify) --checkpoint FILE
  --pretrained [paper|fast]   eval, sample, export: a DRAW model that ships with draw-ts instead of --checkpoint
                 (paper, the default: the paper's T=64 with attention; fast: the default preset, T=10)
  --threads N (cpu backend; default: this machine's cores, at most the batch; 1 runs the one-graph step)
  --resume [DIR] (continue the run in DIR or --out) | --overwrite (replace it; without either, a run there is kept)
  --config FILE   train: start from a run's config.json (every run folder has one); flags given override it
  --init FILE     train, classify: a new run from that checkpoint's parameters (its model, data set and binarisation
                  unless flags say otherwise; classify: --glimpses may change), with a fresh optimiser, schedule and step count
  --canvases-per-digit K   train, classify on a synthesised data set: K training images per training digit,
                  each with its own places, clutter, partner digit or tint (default 1: the same images every epoch)
  --eval-every N --ckpt-every N --val-images N --binarisation sample|threshold|resample|grey
  --data IMAGES.idx[.gz] [--labels LABELS.idx[.gz]]   train on any IDX image file
  --images N (eval: test images, default all) --count N (sample: images, default 64)
  --temperature X (sample: the prior's noise scaled by X, default 1; below 1 trades variety for cleaner images)
  --gif FILE (sample: also an animated GIF of the grid being drawn, step by step, with the write glimpse)
  --samples K (eval: also the importance-weighted NLL from K posterior samples per image, with its standard
              error; --batch is then rows per run: batch/K images of K samples)
  --batch N (export: images per kernel run, default 16; --out default: the checkpoint's folder/export)
  --json   print one JSON object as the last line`;
