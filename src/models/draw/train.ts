// `train(model, data, options)`: DRAW trained by the shared loop (../train-loop.ts), usable from Node
// and from a browser page alike: the data are plain Float32Arrays (or synthetic sources), the caller
// hears of progress through callbacks and stops a run with an AbortSignal, and nothing here touches
// a file. Each step draws its posterior noise, and with `resample` its binary pixels, from streams of
// (seed, step), so a continued run is bit-exact.
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { compile } from '../../compiler/compile.ts';
import { fillNormal, streamFor } from '../../dsl/rng.ts';
import { gatherBatch, binariseBatch, type Images } from '../../data/images.ts';
import {
  STREAM,
  TrainError,
  trainLoop,
  type EvalRecord as LoopEvalRecord,
  type LoopData,
  type LoopOptions,
  type LoopResult,
  type Trainable,
} from '../train-loop.ts';
import { dataSpecs, dataBatchAxes } from './model.ts';
import { imageSize } from './config.ts';
import type { DrawModel } from './draw.ts';
import { bound, type Bound } from './bound.ts';

export { TrainError };
export type { StartRecord, StepRecord, StopReason } from '../train-loop.ts';
export type TrainData = LoopData<Images>;
export type EvalRecord = LoopEvalRecord<Bound>;
export type TrainResult = LoopResult<Bound>;

export interface TrainOptions extends LoopOptions<Bound> {
  /** Draw fresh binary pixels from grey images for every batch (the 'resample' binarisation). */
  readonly resample?: boolean;
}

/** DRAW as the loop sees it: batches feed images `x` and posterior noise `eps`; evaluation is the variational bound. */
export const drawTrainable = (model: DrawModel, resample = false): Trainable<Images, Bound> => {
  const c = model.config;
  return {
    paramShapes: model.paramShapes,
    init: model.init,
    loss: (p, d) => model.loss(p, { x: d.x, eps: d.eps }),
    dataSpecs: (batch) => dataSpecs(c, batch),
    dataBatchAxes,
    imageValues: imageSize(c),
    imageShape: `${c.B}×${c.A}${c.channels > 1 ? `×${c.channels}` : ''}`,
    batcher: (batch) => {
      const x = new Float32Array(batch * imageSize(c));
      const eps = new Float32Array(c.T * batch * c.zSize);
      return (d, indices, seed, step) => {
        gatherBatch(d, indices, x);
        if (resample) binariseBatch(x, streamFor(seed, step, STREAM.pixels), x);
        fillNormal(streamFor(seed, step, STREAM.noise), eps);
        return { x, eps };
      };
    },
    evaluator: (batch, backend) =>
      pipe(
        model.lossGraph(batch),
        E.flatMap((g) => compile(g, { backend })),
        E.map((program) => (params, d, limit) => bound(program, params, c, d, batch, limit)),
      ),
  };
};

/** Trains `model` on `data`; a Left when the run cannot start, otherwise how it ended. */
export const train = (
  model: DrawModel,
  data: TrainData,
  options: TrainOptions = {},
): Promise<E.Either<Error, TrainResult>> => trainLoop(drawTrainable(model, options.resample ?? false), data, options);
