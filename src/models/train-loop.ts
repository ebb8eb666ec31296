// The training loop every model here shares: one compiled step graph (loss, gradient, clipping,
// optimiser update; or its data-parallel split over threads) fed batch after batch, with callbacks,
// an AbortSignal, a time budget, periodic evaluation and checkpoints, usable from Node and from a browser page alike (no files). What differs
// between models is a `Trainable`: its parameters, its loss, what a batch feeds besides the images
// (DRAW: posterior noise; a classifier: labels) and how it is evaluated. Every random draw is a
// function of (seed, step), so a run continued from a saved state draws what the uninterrupted run
// would have drawn: bit-exact resume.
import * as E from 'fp-ts/lib/Either.js';
import type { BackendName } from '../compiler/compile.ts';
import type { Shape } from '../dsl/shape.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { streamFor } from '../dsl/rng.ts';
import { shuffledBatches, type Images } from '../data/images.ts';
import { valuesPerImage } from '../data/source.ts';
import { adam, initTrainState, NonFiniteError, type Optimizer, type TrainState } from '../optim/index.ts';
import { stepRunner } from '../optim/data-parallel.ts';
import type { SpawnWorker } from '../parallel/port.ts';

/** Why a run could not start: an option or the data do not fit the model. */
export class TrainError extends Error {
  override name = 'TrainError';
}

/** Stream purposes of streamFor(seed, step or epoch, purpose): the loop's batch order, and those a model's batches draw. */
export const STREAM = { order: 1, noise: 2, pixels: 3 } as const;

/** What the loop needs of a model. `D` is its data (images, perhaps with labels), `V` what an evaluation reports. */
export interface Trainable<D extends Images, V> {
  readonly paramShapes: Readonly<Record<string, Shape>>;
  init(seed: number): Record<string, Float32Array>;
  /** The scalar to minimise, of the parameters and a batch's data (named as in `dataSpecs`). */
  readonly loss: (p: Readonly<Record<string, Tensor>>, data: Readonly<Record<string, Tensor>>) => Tensor;
  dataSpecs(batch: number): Record<string, Shape>;
  /** Where the batch axis of each data input is, where it is not 0 (data-parallel steps cut the batch along it). */
  readonly dataBatchAxes?: Readonly<Record<string, number>>;
  /** Values per image the model reads, and that size in words (`28×28`, `28×28×3`) for messages. */
  readonly imageValues: number;
  readonly imageShape: string;
  /** Throws TrainError if `d` lacks what the model needs beyond image size (e.g. labels). */
  checkData?(name: string, d: D): void;
  /** A filler of one step's data feeds (buffers made once): the images at `indices` and whatever else the step draws. */
  batcher(batch: number): (d: D, indices: Int32Array, seed: number, step: number) => Record<string, Float32Array>;
  /** The evaluation, compiled for `batch` images at a time: a Left when it does not compile. */
  evaluator(
    batch: number,
    backend: BackendName | undefined,
  ): E.Either<Error, (params: Readonly<Record<string, Float32Array>>, d: D, limit: number) => V>;
}

export interface LoopData<D> {
  readonly train: D;
  /** Where the model is evaluated (every `evalEvery` steps and at the end). */
  readonly validation?: D;
}

export interface LoopOptions<V> {
  /** Images per step (default 100). */
  readonly batch?: number;
  /** Steps to run from the starting state (default 1000, or `epochs` worth, or unbounded under `minutes`). */
  readonly steps?: number;
  readonly epochs?: number;
  /** A wall-clock budget: the run stops after the step that passes it. */
  readonly minutes?: number;
  /** Default: Adam with `lr` (default 3e-3). */
  readonly optimizer?: Optimizer;
  readonly lr?: number;
  /** Global-norm gradient clipping threshold (default 10). */
  readonly clip?: number;
  /** Seeds the initial parameters, the batch order and the model's draws (default 1). */
  readonly seed?: number;
  readonly backend?: BackendName;
  /**
   * Threads in all (default 1): with more, each step's batch is cut into one shard per thread, the
   * shards' gradients computed in parallel (workers) and combined. Deterministic for a given count.
   */
  readonly threads?: number;
  /** Starts a worker for `threads` > 1 (default: Node's worker_threads; in a page, see webWorkerPort). */
  readonly spawnWorker?: SpawnWorker;
  /** Continue from this state (e.g. a checkpoint's); otherwise start from the model's `init(seed)`. */
  readonly state?: TrainState;
  readonly evalEvery?: number;
  /** Validation images per evaluation (default 1000, or all there are). */
  readonly valImages?: number;
  /** How often `onCheckpoint` hears of the state (default 500 steps); it always does at the end. */
  readonly checkpointEvery?: number;
  readonly signal?: AbortSignal;
  /** After compiling, before the first step: the moment to prepare output (a throw here ends the run as a Left). */
  readonly onStart?: (r: StartRecord) => void;
  readonly onStep?: (r: StepRecord) => void;
  readonly onEval?: (r: EvalRecord<V>) => void;
  readonly onCheckpoint?: (state: TrainState) => void;
}

export interface StartRecord {
  readonly compileSeconds: number;
  readonly kernels: number;
  /** The run goes from step `fromStep` to at most `toStep` (Infinity under a time budget alone). */
  readonly fromStep: number;
  readonly toStep: number;
  /** Threads the step runs on. */
  readonly threads: number;
}

export interface StepRecord {
  readonly step: number;
  readonly loss: number;
  readonly gradNorm: number;
  readonly imagesPerSecond: number;
}

export interface EvalRecord<V> {
  readonly step: number;
  readonly validation: V;
  /** The evaluation after the last step. */
  readonly final: boolean;
}

export type StopReason = 'done' | 'aborted' | 'time budget reached' | 'diverged';

export interface LoopResult<V> {
  /** The last good state: after the last step, or before the step that diverged. */
  readonly state: TrainState;
  readonly stopped: StopReason;
  /** With 'diverged': which step, and which value, went non-finite. */
  readonly error?: NonFiniteError;
  readonly history: readonly StepRecord[];
  readonly evals: readonly EvalRecord<V>[];
  readonly compileSeconds: number;
  readonly wallSeconds: number;
  /** The step program's backend mode and kernel count (on the calling thread), and the threads it ran on. */
  readonly mode: string;
  readonly kernels: number;
  readonly threads: number;
}

/** Lets an abort (or a Ctrl-C handler) run between steps; setImmediate where there is one, it is cheaper than a timer. */
const betweenSteps = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

const positiveInt = (name: string, v: number | undefined): number | undefined => {
  if (v !== undefined && !(Number.isSafeInteger(v) && v > 0))
    throw new TrainError(`train: ${name} must be a positive integer, got ${v}`);
  return v;
};
const positiveReal = (name: string, v: number | undefined): number | undefined => {
  if (v !== undefined && !(Number.isFinite(v) && v > 0))
    throw new TrainError(`train: ${name} must be a positive number, got ${v}`);
  return v;
};

const checkImages = <D extends Images>(
  model: Trainable<D, unknown>,
  name: string,
  d: D,
  atLeast: number,
  why: string,
): void => {
  const channels = valuesPerImage(d) / (d.rows * d.cols);
  if (valuesPerImage(d) !== model.imageValues)
    throw new TrainError(
      `train: ${name} images are ${d.rows}×${d.cols}${channels > 1 ? `×${channels}` : ''}, the model expects ${model.imageShape}`,
    );
  if ('images' in d && d.images.length !== d.n * d.rows * d.cols)
    throw new TrainError(
      `train: ${name} has ${d.images.length} values, ${d.n} images of ${d.rows}×${d.cols} need ${d.n * d.rows * d.cols}`,
    );
  if (d.n < atLeast) throw new TrainError(`train: ${name} has ${d.n} images, fewer than ${why}`);
  model.checkData?.(name, d);
};

/** Trains `model` on `data`; a Left when the run cannot start, otherwise how it ended. */
export const trainLoop = async <D extends Images, V>(
  model: Trainable<D, V>,
  data: LoopData<D>,
  options: LoopOptions<V> = {},
): Promise<E.Either<Error, LoopResult<V>>> => {
  try {
    return E.right(await run(model, data, options));
  } catch (e) {
    return E.left(e instanceof Error ? e : new Error(String(e)));
  }
};

const run = async <D extends Images, V>(
  model: Trainable<D, V>,
  data: LoopData<D>,
  o: LoopOptions<V>,
): Promise<LoopResult<V>> => {
  const batch = positiveInt('batch', o.batch) ?? 100;
  const seed = o.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new TrainError(`train: seed must be an integer, got ${seed}`);
  const epochs = positiveInt('epochs', o.epochs);
  const minutes = positiveReal('minutes', o.minutes);
  const evalEvery = positiveInt('evalEvery', o.evalEvery) ?? 500;
  const checkpointEvery = positiveInt('checkpointEvery', o.checkpointEvery) ?? 500;
  const valImages = positiveInt('valImages', o.valImages) ?? 1000;
  const optimizer = o.optimizer ?? adam({ lr: positiveReal('lr', o.lr) ?? 3e-3 });
  const clip = positiveReal('clip', o.clip) ?? 10;
  checkImages(model, 'the training data', data.train, batch, `one batch of ${batch}`);
  if (data.validation) checkImages(model, 'the validation data', data.validation, 1, 'one');
  const perEpoch = Math.floor(data.train.n / batch);
  const steps =
    positiveInt('steps', o.steps) ?? (epochs ? epochs * perEpoch : minutes ? Number.MAX_SAFE_INTEGER : 1000);

  const threads = positiveInt('threads', o.threads) ?? 1;
  if (threads > batch)
    throw new TrainError(
      `train: threads (${threads}) must not exceed the batch (${batch}): each thread takes a share of it`,
    );
  const compileStart = performance.now();
  const runner = await stepRunner(model.loss, model.paramShapes, model.dataSpecs(batch), optimizer, {
    clip,
    threads,
    backend: o.backend,
    batchAxes: model.dataBatchAxes,
    spawnWorker: o.spawnWorker,
  });
  try {
    const evaluator =
      data.validation &&
      E.getOrElseW((e: Error) => {
        throw e;
      })(model.evaluator(batch, o.backend));
    const compileSeconds = (performance.now() - compileStart) / 1e3;
    const stepper = runner.stepper(o.state ?? initTrainState(model.init(seed), model.paramShapes, optimizer));
    const startStep = stepper.step;
    const endStep = Math.min(Number.MAX_SAFE_INTEGER, startStep + steps);
    o.onStart?.({
      compileSeconds,
      kernels: runner.kernels,
      fromStep: startStep,
      toStep: endStep === Number.MAX_SAFE_INTEGER ? Infinity : endStep,
      threads,
    });
    const deadline = minutes ? Date.now() + minutes * 60_000 : Infinity;
    const feedsFor = model.batcher(batch);
    const history: StepRecord[] = [];
    const evals: EvalRecord<V>[] = [];
    const evaluate = (final: boolean) => {
      if (!evaluator || !data.validation) return;
      const r = {
        step: stepper.step,
        validation: evaluator(stepper.state().params, data.validation, valImages),
        final,
      };
      evals.push(r);
      o.onEval?.(r);
    };

    const started = performance.now();
    let stopped: StopReason = 'done';
    let error: NonFiniteError | undefined;
    let order: Int32Array[] = [];
    let orderEpoch = -1;
    while (stepper.step < endStep) {
      await betweenSteps();
      if (o.signal?.aborted) {
        stopped = 'aborted';
        break;
      }
      if (Date.now() > deadline) {
        stopped = 'time budget reached';
        break;
      }
      const step = stepper.step;
      const epoch = Math.floor(step / perEpoch);
      if (epoch !== orderEpoch) {
        order = shuffledBatches(data.train.n, batch, streamFor(seed, epoch, STREAM.order))[0];
        orderEpoch = epoch;
      }
      let result: { loss: number; gradNorm: number };
      try {
        result = await stepper.next(feedsFor(data.train, order[step % perEpoch], seed, step));
      } catch (e) {
        if (!(e instanceof NonFiniteError)) throw e;
        [stopped, error] = ['diverged', e];
        break;
      }
      const record = {
        step: stepper.step,
        ...result,
        imagesPerSecond: ((stepper.step - startStep) * batch) / ((performance.now() - started) / 1e3),
      };
      history.push(record);
      o.onStep?.(record);
      if (stepper.step === endStep) break; // the final evaluation and checkpoint follow
      if (stepper.step % evalEvery === 0) evaluate(false);
      if (stepper.step % checkpointEvery === 0) o.onCheckpoint?.(stepper.state());
    }
    const wallSeconds = (performance.now() - started) / 1e3;
    const state = stepper.state();
    o.onCheckpoint?.(state);
    if (stopped !== 'diverged') evaluate(true);
    return {
      state,
      stopped,
      error,
      history,
      evals,
      compileSeconds,
      wallSeconds,
      mode: runner.mode,
      kernels: runner.kernels,
      threads,
    };
  } finally {
    runner.dispose(); // the workers too, however the run ends
  }
};
