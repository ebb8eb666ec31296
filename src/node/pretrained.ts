// The pretrained DRAW that ships with the package (pretrained/draw-fast.safetensors, written from a
// training run by scripts/ship-pretrained.ts): a checkpoint in the CLI's format with the parameters
// only (no optimiser state), so `sample`, `eval`, `export` and the demo work before any training.
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { loadCheckpoint } from '../io/checkpoint.ts';
import { draw, checkConfig, type DrawConfig, type DrawModel } from '../models/draw/index.ts';
import { size } from '../dsl/shape.ts';

/** Where the shipped model lies: the package's pretrained/ folder (from src/node or dist/node alike). */
export const PRETRAINED_FILE = fileURLToPath(new URL('../../pretrained/draw-fast.safetensors', import.meta.url));

/** How the shipped model was made (its checkpoint's meta, as the training run wrote it, plus what was measured). */
export interface PretrainedMeta {
  readonly format: 'draw-ts/1';
  readonly config: DrawConfig;
  readonly step: number;
  readonly seed: number;
  readonly [field: string]: unknown;
}

export interface Pretrained {
  readonly model: DrawModel;
  readonly params: Record<string, Float32Array>;
  readonly meta: PretrainedMeta;
}

/** The shipped model (or the one at `path`): a Left naming the file and what is wrong with it. */
export const loadPretrained = (path: string = PRETRAINED_FILE): E.Either<Error, Pretrained> => {
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
