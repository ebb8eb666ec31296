// A run's settings as a file: `train` writes `config.json` into every new run folder, and
// `train --config FILE` starts a run from one; flags given explicitly override the file's values.
// A bad file or field is a UsageError naming the file and the field (one line, exit 2).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { checkConfig, type DrawConfig } from '../models/draw/index.ts';
import { backendNames, type BackendName } from '../compiler/compile.ts';
import type { Binarisation } from '../data/images.ts';
import {
  type Flags,
  type DatasetName,
  UsageError,
  backendOf,
  binarisationOf,
  canvasesField,
  canvasesOf,
  configFrom,
  datasetNames,
  datasetOf,
  drawPresetOf,
  int,
  positive,
  presetOf,
  threadsFor,
} from './options.ts';

export const RUN_CONFIG_FILE = 'config.json';
export const RUN_CONFIG_FORMAT = 'draw-ts/run-config/1';

/** Everything that decides what a new run computes (the output folder aside). */
export interface RunSettings {
  readonly config: DrawConfig;
  readonly seed: number;
  readonly batch: number;
  readonly lr: number;
  /** Steps over which the learning rate halves; absent: constant. */
  readonly lrHalfLife?: number;
  readonly clip: number;
  readonly binarisation: Binarisation;
  /** What it trains on: MNIST, or a data set synthesised from it (--dataset). */
  readonly dataset: DatasetName;
  /** A synthesised data set's training images per training digit (--canvases-per-digit; absent: 1). */
  readonly canvasesPerDigit?: number;
  /** Steps, epochs and minutes as given; none given is the library's default (1,000 steps). */
  readonly steps?: number;
  readonly epochs?: number;
  readonly minutes?: number;
  readonly evalEvery: number;
  readonly checkpointEvery: number;
  readonly valImages: number;
  readonly backend: BackendName;
  /** Threads of the data-parallel step (cpu backend; default: the machine's cores, at most the batch). */
  readonly threads: number;
  /** An IDX image file (and its labels) instead of MNIST, as given on the command line. */
  readonly data?: string;
  readonly labels?: string;
  /** A checkpoint whose parameters the run starts from (--init); its model is the run's. */
  readonly init?: string;
}

const DEFAULTS = {
  seed: 1,
  batch: 100,
  lr: 3e-3,
  clip: 10,
  evalEvery: 500,
  checkpointEvery: 500,
  valImages: 1000,
  backend: 'cpu',
} as const;

/** One field of the file: its value if valid, else undefined; `want` says what it must be. */
interface Field {
  readonly want: string;
  readonly parse: (v: unknown) => unknown;
}
const isInt = (v: unknown, min: number) => (Number.isSafeInteger(v) && (v as number) >= min ? v : undefined);
const posInt: Field = { want: 'an integer ≥ 1', parse: (v) => isInt(v, 1) };
const natural: Field = { want: 'an integer ≥ 0', parse: (v) => isInt(v, 0) };
const posNum: Field = {
  want: 'a number > 0',
  parse: (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined),
};
const bool: Field = { want: 'true or false', parse: (v) => (typeof v === 'boolean' ? v : undefined) };
const text: Field = { want: 'a string', parse: (v) => (typeof v === 'string' ? v : undefined) };
const oneOf = (names: readonly string[]): Field => ({
  want: `one of ${names.join(', ')}`,
  parse: (v) => (names.includes(v as string) ? v : undefined),
});
/** null stands for "not given" (steps, epochs, minutes, data files). */
const orNull = (f: Field): Field => ({ want: `${f.want} or null`, parse: (v) => (v === null ? null : f.parse(v)) });

const modelFields: Record<keyof DrawConfig, Field> = {
  A: posInt,
  B: posInt,
  channels: posInt,
  T: posInt,
  encSize: posInt,
  decSize: posInt,
  zSize: posInt,
  readN: posInt,
  writeN: posInt,
  readAttention: bool,
  writeAttention: bool,
};
const SCHEMA: Record<string, Field | Record<string, Field>> = {
  format: oneOf([RUN_CONFIG_FORMAT]),
  model: modelFields,
  optimizer: { name: oneOf(['adam']), lr: posNum, lrHalfLife: orNull(posNum), clip: posNum },
  data: {
    dataset: oneOf(Object.keys(datasetNames)),
    binarisation: oneOf(['sample', 'threshold', 'resample', 'grey']),
    images: orNull(text),
    labels: orNull(text),
    canvasesPerDigit: posInt,
  },
  training: {
    batch: posInt,
    steps: orNull(posInt),
    epochs: orNull(posInt),
    minutes: orNull(posNum),
    evalEvery: posInt,
    checkpointEvery: posInt,
    validationImages: posInt,
    threads: posInt,
  },
  seed: natural,
  init: orNull(text),
  backend: oneOf(backendNames),
  versions: { 'draw-ts': text, node: text },
};

type FileValues = Record<string, Record<string, unknown> | unknown>;

/** Every field of the file checked against SCHEMA; unknown fields are refused (a typo would otherwise be ignored). */
const checkFile = (path: string, raw: unknown): FileValues => {
  const bad = (field: string, why: string) => new UsageError(`config ${path}: ${field} ${why}`);
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(raw)) throw new UsageError(`config ${path}: not a JSON object`);
  const check = (field: string, f: Field, v: unknown) => {
    const parsed = f.parse(v);
    if (parsed === undefined) throw bad(`field '${field}'`, `must be ${f.want}, got ${JSON.stringify(v) ?? String(v)}`);
    return parsed;
  };
  if (raw.format === undefined) throw bad("field 'format'", `is missing (expected "${RUN_CONFIG_FORMAT}")`);
  return Object.fromEntries(
    Object.entries(raw).map(([k, v]) => {
      const spec = SCHEMA[k];
      if (spec === undefined) throw bad(`has an unknown field '${k}'`, `(fields: ${Object.keys(SCHEMA).join(', ')})`);
      if ('parse' in spec) return [k, check(k, spec as Field, v)];
      if (!isObject(v)) throw bad(`field '${k}'`, `must be an object, got ${JSON.stringify(v)}`);
      const fields = spec as Record<string, Field>;
      return [
        k,
        Object.fromEntries(
          Object.entries(v).map(([sub, sv]) => {
            if (!(sub in fields))
              throw bad(`has an unknown field '${k}.${sub}'`, `(fields: ${Object.keys(fields).join(', ')})`);
            return [sub, check(`${k}.${sub}`, fields[sub], sv)];
          }),
        ),
      ];
    }),
  );
};

/** The settings a config file holds (fields it lacks are absent). */
export const readRunConfig = (path: string): Partial<RunSettings> => {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new UsageError(`--config ${path}: no such file`);
    if (err.code !== undefined) throw new UsageError(`--config ${path}: cannot be read (${err.code})`);
    throw new UsageError(`config ${path}: not JSON (${err.message.replace(/\s+/g, ' ')})`);
  }
  const v = checkFile(path, raw) as Record<string, Record<string, unknown> | undefined> & {
    seed?: number;
    backend?: BackendName;
    init?: string | null;
  };
  const given = <T>(x: T | null | undefined): T | undefined => (x === null ? undefined : x);
  const model = v.model ? ({ ...presetOf(undefined), ...v.model } as DrawConfig) : undefined;
  const settings: Partial<Record<keyof RunSettings, unknown>> = {
    config: model && checkConfig(model),
    seed: v.seed,
    backend: v.backend,
    init: given(v.init),
    lr: v.optimizer?.lr,
    lrHalfLife: given(v.optimizer?.lrHalfLife),
    clip: v.optimizer?.clip,
    binarisation: v.data?.binarisation,
    dataset: v.data?.dataset,
    data: given(v.data?.images),
    labels: given(v.data?.labels),
    canvasesPerDigit: v.data?.canvasesPerDigit,
    batch: v.training?.batch,
    steps: given(v.training?.steps),
    epochs: given(v.training?.epochs),
    minutes: given(v.training?.minutes),
    evalEvery: v.training?.evalEvery,
    checkpointEvery: v.training?.checkpointEvery,
    valImages: v.training?.validationImages,
    threads: v.training?.threads,
  };
  return Object.fromEntries(Object.entries(settings).filter(([, x]) => x !== undefined)) as Partial<RunSettings>;
};

/** What a run started with --init takes from its checkpoint unless flags say otherwise. */
export interface InitSource {
  readonly config: DrawConfig;
  readonly dataset?: DatasetName;
  readonly binarisation: Binarisation;
}

/**
 * The settings of a new run: flags given explicitly, else the config file's (`--config`), else the defaults.
 * With --init (flag or file), `initSource` reads that checkpoint: its model is the run's unless flags or the file
 * change the glimpse count T (one that asks for other parameter shapes is refused), and its data set and
 * binarisation are the defaults.
 */
export const resolveSettings = (f: Flags, initSource: (path: string) => InitSource): RunSettings => {
  const file = f.config === undefined ? {} : readRunConfig(f.config);
  const init = f.init ?? file.init;
  const from = init === undefined ? undefined : initSource(init);
  if (from && file.config && !sameShapes(file.config, from.config))
    throw new UsageError(`config ${f.config}: its model differs from that of the --init checkpoint ${init}`);
  const dataset =
    f.dataset !== undefined || f.data !== undefined ? datasetOf(f) : (file.dataset ?? from?.dataset ?? datasetOf(f));
  // with --init, a preset or file that asked for other parameter shapes was refused above: they may only change T
  const base =
    f.preset !== undefined
      ? presetOf(f.preset)
      : (file.config ?? from?.config ?? presetOf(undefined, drawPresetOf(dataset)));
  const flags: Partial<Record<keyof RunSettings, unknown>> = {
    config: configFrom(f, base),
    init,
    seed: int(f, 'seed', 0),
    batch: int(f, 'batch'),
    lr: positive(f, 'lr'),
    lrHalfLife: positive(f, 'lr-half-life'),
    clip: positive(f, 'clip'),
    steps: int(f, 'steps'),
    epochs: int(f, 'epochs'),
    minutes: positive(f, 'minutes'),
    evalEvery: int(f, 'eval-every'),
    checkpointEvery: int(f, 'ckpt-every'),
    valImages: int(f, 'val-images'),
    backend: f.backend && backendOf(f),
    data: f.data,
    labels: f.labels,
    threads: int(f, 'threads'),
  };
  const explicit = Object.fromEntries(Object.entries(flags).filter(([, x]) => x !== undefined));
  // a duration given on the command line replaces the file's, whichever of steps/epochs/minutes it is
  const duration = ['steps', 'epochs', 'minutes'].some((k) => k in explicit)
    ? { steps: undefined, epochs: undefined, minutes: undefined }
    : {};
  const merged = { ...DEFAULTS, ...file, ...duration, ...explicit } as Omit<RunSettings, 'threads'> & {
    threads?: number;
  };
  // a data set's own binarisation (grey for coloured MNIST) unless the flag, or the file for the same data set, names one
  const fromFile = (file.dataset ?? 'mnist') === dataset ? file.binarisation : undefined;
  const fromInit = (from?.dataset ?? 'mnist') === dataset ? from?.binarisation : undefined;
  const binarisation = binarisationOf({ binarisation: f.binarisation ?? fromFile ?? fromInit }, dataset);
  // canvases per digit: the flag, or the file's for the same data set
  const canvasesPerDigit =
    canvasesOf(f, dataset) ?? ((file.dataset ?? 'mnist') === dataset ? file.canvasesPerDigit : undefined);
  return {
    ...merged,
    dataset,
    binarisation,
    ...canvasesField(canvasesPerDigit),
    threads: threadsFor(merged.threads, merged.backend, merged.batch),
  };
};

/** Configs whose parameters have the same shapes: every field but T (the glimpse count shapes no parameter). */
const sameShapes = (a: DrawConfig, b: DrawConfig): boolean =>
  (Object.keys(a) as (keyof DrawConfig)[]).every((k) => k === 'T' || a[k] === b[k]);

const versionOfDrawTs = (): string => {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
};

/** The file's JSON for `s`: what `readRunConfig` reads back to the same settings. */
export const runConfigJson = (s: RunSettings): string =>
  JSON.stringify(
    {
      format: RUN_CONFIG_FORMAT,
      model: s.config,
      optimizer: { name: 'adam', lr: s.lr, lrHalfLife: s.lrHalfLife ?? null, clip: s.clip },
      data: {
        dataset: s.dataset,
        binarisation: s.binarisation,
        images: s.data ?? null,
        labels: s.labels ?? null,
        canvasesPerDigit: s.canvasesPerDigit ?? 1,
      },
      training: {
        batch: s.batch,
        steps: s.steps ?? null,
        epochs: s.epochs ?? null,
        minutes: s.minutes ?? null,
        evalEvery: s.evalEvery,
        checkpointEvery: s.checkpointEvery,
        validationImages: s.valImages,
        threads: s.threads,
      },
      seed: s.seed,
      init: s.init ?? null,
      backend: s.backend,
      versions: { 'draw-ts': versionOfDrawTs(), node: process.version },
    },
    null,
    2,
  );

/** Writes `out/config.json` atomically; returns its path. */
export const writeRunConfig = (out: string, s: RunSettings): string => {
  const path = join(out, RUN_CONFIG_FILE);
  writeFileAtomic(path, Buffer.from(`${runConfigJson(s)}\n`), 'run config');
  return path;
};
