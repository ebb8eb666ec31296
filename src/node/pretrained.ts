// The pretrained DRAW models that ship with the package (pretrained/*.safetensors, written from training
// runs by scripts/ship-pretrained.ts): checkpoints in the CLI's format with the parameters only (no
// optimiser state), so `sample`, `eval`, `export` and the demo work before any training. `paper` is the
// paper's configuration (T=64, attention; the default), `fast` the CLI's default preset (T=10).
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { loadCheckpoint } from '../io/checkpoint.ts';
import { draw, checkConfig, type DrawConfig, type DrawModel } from '../models/draw/index.ts';
import { size } from '../dsl/shape.ts';

/** Where the shipped model lies: the package's pretrained/ folder (from src/node or dist/node alike). */
const shipped = (file: string) => fileURLToPath(new URL(`../../pretrained/${file}`, import.meta.url));

/** The shipped models by name. */
export const PRETRAINED = {
  paper: shipped('draw-paper.safetensors'),
  fast: shipped('draw-fast.safetensors'),
} as const;
export type PretrainedName = keyof typeof PRETRAINED;
export const DEFAULT_PRETRAINED: PretrainedName = 'paper';

/** `name` as a shipped model's name, or a Left naming the ones there are. */
export const pretrainedName = (name: string): E.Either<Error, PretrainedName> =>
  Object.hasOwn(PRETRAINED, name)
    ? E.right(name as PretrainedName)
    : E.left(new Error(`no pretrained model '${name}' (there are: ${Object.keys(PRETRAINED).join(', ')})`));

/** How the shipped model was made (its checkpoint's meta, as the training run wrote it, plus what was measured). */
export interface PretrainedMeta {
  readonly format: 'draw-ts/1';
  readonly config: DrawConfig;
  /** The steps of the run the file was written from (a warm-started run counts from 0). */
  readonly step: number;
  /** Every step behind the model, its warm starts' included (scripts/ship-pretrained.ts --note). */
  readonly totalSteps?: number;
  readonly seed: number;
  readonly [field: string]: unknown;
}

export interface Pretrained {
  readonly model: DrawModel;
  readonly params: Record<string, Float32Array>;
  readonly meta: PretrainedMeta;
}

/** A shipped model by name (default `paper`): a Left naming the file and what is wrong with it. */
export const loadPretrained = (name: PretrainedName = DEFAULT_PRETRAINED): E.Either<Error, Pretrained> =>
  pipe(
    pretrainedName(name),
    E.flatMap((n) => loadModelFile(PRETRAINED[n])),
  );

/** The model in a parameters-only (or training) checkpoint at `path`: a Left naming the file and what is wrong. */
export const loadModelFile = (path: string): E.Either<Error, Pretrained> => {
  const ck = loadCheckpoint(path);
  if (E.isLeft(ck)) return E.left(new Error(ck.left.message));
  const meta = ck.right.meta as PretrainedMeta;
  if (meta?.format !== 'draw-ts/1')
    return E.left(new Error(`${path}: not a draw-ts model (format ${JSON.stringify(meta?.format)})`));
  let model: DrawModel;
  try {
    model = draw(checkConfig(meta.config));
  } catch (e) {
    return E.left(new Error(`${path}: ${(e as Error).message}`));
  }
  const params: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(model.paramShapes)) {
    const t = ck.right.tensors[name];
    if (!t || t.data.length !== size(shape))
      return E.left(
        new Error(
          `${path}: parameter '${name}' is ${t ? `of ${t.data.length} values, not ${size(shape)}` : 'missing'}`,
        ),
      );
    params[name] = t.data;
  }
  return E.right({ model, params, meta });
};
