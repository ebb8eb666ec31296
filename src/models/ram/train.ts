// Training and evaluating the attention classifier with the shared loop (../train-loop.ts): a batch
// feeds images `x` and one-hot labels `y`, nothing random beyond the batch order; an evaluation is
// the error rate and mean cross-entropy over the validation images.
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { compile, type Program } from '../../compiler/compile.ts';
import { gatherBatch, gatherLabels, type LabelledImages } from '../../data/images.ts';
import {
  TrainError,
  trainLoop,
  type EvalRecord,
  type LoopData,
  type LoopOptions,
  type LoopResult,
  type Trainable,
} from '../train-loop.ts';
import { ramDataSpecs, type RamModel } from './model.ts';
import type { RamConfig } from './config.ts';

export interface Classification {
  /** Fraction of images whose largest logit is not their label. */
  readonly error: number;
  /** Mean cross-entropy, nats per image. */
  readonly loss: number;
  readonly images: number;
}

/** One-hot rows of `labels` into `out` [labels.length, classes]. */
const oneHot = (labels: Uint8Array, classes: number, out: Float32Array): Float32Array => {
  out.fill(0);
  labels.forEach((l, i) => (out[i * classes + l] = 1));
  return out;
};

/** Error rate and cross-entropy of the first `limit` images under a compiled loss graph (`nll`, `logits`); a last short batch is padded and only its real images counted. */
export const classificationError = (
  program: Program,
  params: Readonly<Record<string, Float32Array>>,
  c: RamConfig,
  data: LabelledImages,
  batch: number,
  limit = data.n,
  onBatch?: (done: number) => void,
): Classification => {
  const n = Math.min(limit, data.n);
  if (!(n > 0))
    throw new RangeError(
      `classification error: no images to evaluate (the data set has ${data.n}, the limit is ${limit})`,
    );
  const specs = ramDataSpecs(c, batch);
  const x = new Float32Array(specs.x[0] * specs.x[1]);
  const y = new Float32Array(batch * c.classes);
  const idx = new Int32Array(batch);
  let wrong = 0;
  let loss = 0;
  for (let start = 0; start < n; start += batch) {
    const real = Math.min(batch, n - start);
    for (let i = 0; i < batch; i++) idx[i] = start + (i < real ? i : 0);
    gatherBatch(data, idx, x);
    const labels = gatherLabels(data, idx);
    const out = program.run({ ...params, x, y: oneHot(labels, c.classes, y) });
    for (let i = 0; i < real; i++) {
      const row = Array.from(out.logits.slice(i * c.classes, (i + 1) * c.classes));
      if (row.indexOf(Math.max(...row)) !== labels[i]) wrong++;
      loss += out.nll[i];
    }
    onBatch?.(start + real);
  }
  return { error: wrong / n, loss: loss / n, images: n };
};

/** The classifier as the loop sees it. */
export const ramTrainable = (model: RamModel): Trainable<LabelledImages, Classification> => {
  const c = model.config;
  return {
    paramShapes: model.paramShapes,
    init: model.init,
    loss: (p, d) => model.loss(p, { x: d.x, y: d.y }),
    dataSpecs: (batch) => ramDataSpecs(c, batch),
    imageValues: c.channels * c.B * c.A,
    imageShape: `${c.B}×${c.A}${c.channels > 1 ? `×${c.channels}` : ''}`,
    checkData: (name, d) => {
      if (d.labels.length !== d.n)
        throw new TrainError(`train: ${name} has ${d.labels.length} labels for ${d.n} images`);
      const bad = d.labels.findIndex((l) => l >= c.classes);
      if (bad >= 0)
        throw new TrainError(
          `train: ${name} has label ${d.labels[bad]} at image ${bad}, the model has ${c.classes} classes`,
        );
    },
    batcher: (batch) => {
      const specs = ramDataSpecs(c, batch);
      const x = new Float32Array(specs.x[0] * specs.x[1]);
      const y = new Float32Array(batch * c.classes);
      return (d, indices) => ({ x: gatherBatch(d, indices, x), y: oneHot(gatherLabels(d, indices), c.classes, y) });
    },
    evaluator: (batch, backend) =>
      pipe(
        model.lossGraph(batch),
        E.flatMap((g) => compile(g, { backend })),
        E.map((program) => (params, d, limit) => classificationError(program, params, c, d, batch, limit)),
      ),
  };
};

export type ClassifierData = LoopData<LabelledImages>;
export type ClassifierOptions = LoopOptions<Classification>;
export type ClassifierResult = LoopResult<Classification>;
export type ClassifierEval = EvalRecord<Classification>;

/** Trains the classifier on labelled images; a Left when the run cannot start, otherwise how it ended. */
export const trainClassifier = (
  model: RamModel,
  data: ClassifierData,
  options: ClassifierOptions = {},
): Promise<E.Either<Error, ClassifierResult>> => trainLoop(ramTrainable(model), data, options);
