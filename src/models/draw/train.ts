// `train(model, data, options)`: the training loop around one compiled step graph (loss, gradient,
// clipping, optimiser update), usable from Node and from a browser page alike: the data are plain
// Float32Arrays, the caller hears of progress through callbacks and stops a run with an AbortSignal,
// and nothing here touches a file. Every random draw is a function of (seed, step), so a run
// continued from a saved state draws what the uninterrupted run would have drawn: bit-exact resume.
import * as E from 'fp-ts/lib/Either.js';
import { compile, type BackendName, type Program } from '../../compiler/compile.ts';
import type { Graph } from '../../compiler/graph.ts';
import { fillNormal, streamFor } from '../../dsl/rng.ts';
import { shuffledBatches, gatherBatch, binariseBatch, type Images } from '../../data/images.ts';
import { adam, advance, initTrainState, NonFiniteError, type Optimizer, type TrainState } from '../../optim/index.ts';
import { stepRunner } from '../../optim/data-parallel.ts';
import type { SpawnWorker } from '../../parallel/port.ts';
import { dataSpecs, dataBatchAxes } from './model.ts';
import type { DrawModel } from './draw.ts';
import { bound, type Bound } from './bound.ts';

/** Why a run could not start: an option or the data do not fit the model. */
export class TrainError extends Error {
  override name = 'TrainError';
}

export interface TrainData {
  readonly train: Images;
  /** Where the validation bound is measured (every `evalEvery` steps and at the end). */
  readonly validation?: Images;
}

export interface TrainOptions {
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
  /** Seeds the initial parameters, the batch order and the noise (default 1). */
  readonly seed?: number;
  /** Draw fresh binary pixels from grey images for every batch (the 'resample' binarisation). */
  readonly resample?: boolean;
  readonly backend?: BackendName;
  /**
   * Threads in all (default 1): with more, each step's batch is cut into one shard per thread, the
   * shards' gradients computed in parallel (workers) and combined. Deterministic for a given count.
   */
  readonly threads?: number;
  /** Starts a worker for `threads` > 1 (default: Node's worker_threads; in a page, see webWorkerPort). */
  readonly spawnWorker?: SpawnWorker;
  /** Continue from this state (e.g. a checkpoint's); otherwise start from `model.init(seed)`. */
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
  readonly onEval?: (r: EvalRecord) => void;
  readonly onCheckpoint?: (state: TrainState) => void;
}

export interface StartRecord {
  readonly compileSeconds: number;
  readonly kernels: number;
  /** The run goes from step `fromStep` to at most `toStep` (Infinity under a time budget alone). */
  readonly fromStep: number;
  readonly toStep: number;
}

export interface StepRecord {
  readonly step: number;
  readonly loss: number;
  readonly gradNorm: number;
  readonly imagesPerSecond: number;
}

export interface EvalRecord {
  readonly step: number;
  readonly validation: Bound;
  /** The evaluation after the last step. */
  readonly final: boolean;
}

export type StopReason = 'done' | 'aborted' | 'time budget reached' | 'diverged';

export interface TrainResult {
  /** The last good state: after the last step, or before the step that diverged. */
  readonly state: TrainState;
  readonly stopped: StopReason;
  /** With 'diverged': which step, and which value, went non-finite. */
  readonly error?: NonFiniteError;
  readonly history: readonly StepRecord[];
  readonly evals: readonly EvalRecord[];
  readonly compileSeconds: number;
  readonly wallSeconds: number;
  /** The step program's backend mode and kernel count (on the calling thread), and the threads it ran on. */
  readonly mode: string;
  readonly kernels: number;
  readonly threads: number;
}

const RNG = { order: 1, noise: 2, pixels: 3 } as const;

/** Lets an abort (or a Ctrl-C handler) run between steps; setImmediate where there is one, it is cheaper than a timer. */
const betweenSteps = (): Promise<void> =>
  new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

const positiveInt = (name: string, v: number | undefined): number | undefined => {
  if (v !== undefined && !(Number.isSafeInteger(v) && v > 0)) throw new TrainError(`train: ${name} must be a positive integer, got ${v}`);
  return v;
};
const positiveReal = (name: string, v: number | undefined): number | undefined => {
  if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new TrainError(`train: ${name} must be a positive number, got ${v}`);
  return v;
};

const checkImages = (model: DrawModel, name: string, d: Images, atLeast: number, why: string): void => {
  const c = model.config;
  if (d.rows * d.cols !== c.A * c.B * c.channels)
    throw new TrainError(`train: ${name} images are ${d.rows}×${d.cols}, the model expects ${c.B}×${c.A}${c.channels > 1 ? `×${c.channels}` : ''}`);
  if (d.images.length !== d.n * d.rows * d.cols)
    throw new TrainError(`train: ${name} has ${d.images.length} values, ${d.n} images of ${d.rows}×${d.cols} need ${d.n * d.rows * d.cols}`);
  if (d.n < atLeast) throw new TrainError(`train: ${name} has ${d.n} images, fewer than ${why}`);
};

const compiled = (g: E.Either<Error, Graph>, backend: BackendName | undefined): Program => {
  const p = E.flatMap(g, (graph) => compile(graph, { backend }));
  if (E.isLeft(p)) throw p.left;
  return p.right;
};

/** Trains `model` on `data`; a Left when the run cannot start, otherwise how it ended. */
export const train = async (model: DrawModel, data: TrainData, options: TrainOptions = {}): Promise<E.Either<Error, TrainResult>> => {
  try {
    return E.right(await run(model, data, options));
  } catch (e) {
    return E.left(e instanceof Error ? e : new Error(String(e)));
  }
};

const run = async (model: DrawModel, data: TrainData, o: TrainOptions): Promise<TrainResult> => {
  const c = model.config;
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
  const steps = positiveInt('steps', o.steps) ?? (epochs ? epochs * perEpoch : minutes ? Number.MAX_SAFE_INTEGER : 1000);

  const compileStart = performance.now();
  const threads = positiveInt('threads', o.threads) ?? 1;
  if (threads > batch) throw new TrainError(`train: threads (${threads}) must not exceed the batch (${batch}): each thread takes a share of it`);
  const runner = await stepRunner(model.loss, model.paramShapes, dataSpecs(c, batch), optimizer,
    { clip, threads, backend: o.backend, batchAxes: dataBatchAxes, spawnWorker: o.spawnWorker });
  try {
    const evalProgram = data.validation && compiled(model.lossGraph(batch), o.backend);
    const compileSeconds = (performance.now() - compileStart) / 1e3;
    let state = o.state ?? initTrainState(model.init(seed), model.paramShapes, optimizer);
    const startStep = state.step;
    const endStep = Math.min(Number.MAX_SAFE_INTEGER, startStep + steps);
    o.onStart?.({ compileSeconds, kernels: runner.kernels, fromStep: startStep, toStep: endStep === Number.MAX_SAFE_INTEGER ? Infinity : endStep });
    const deadline = minutes ? Date.now() + minutes * 60_000 : Infinity;
    const x = new Float32Array(batch * c.A * c.B * c.channels);
    const eps = new Float32Array(c.T * batch * c.zSize);
    const history: StepRecord[] = [];
    const evals: EvalRecord[] = [];
    const evaluate = (final: boolean) => {
      if (!evalProgram || !data.validation) return;
      const r = { step: state.step, validation: bound(evalProgram, state.params, c, data.validation, batch, valImages), final };
      evals.push(r);
      o.onEval?.(r);
    };

    const started = performance.now();
    let stopped: StopReason = 'done';
    let error: NonFiniteError | undefined;
    let order: Int32Array[] = [];
    let orderEpoch = -1;
    while (state.step < endStep) {
      await betweenSteps();
      if (o.signal?.aborted) { stopped = 'aborted'; break; }
      if (Date.now() > deadline) { stopped = 'time budget reached'; break; }
      const epoch = Math.floor(state.step / perEpoch);
      if (epoch !== orderEpoch) {
        order = shuffledBatches(data.train.n, batch, streamFor(seed, epoch, RNG.order))[0];
        orderEpoch = epoch;
      }
      gatherBatch(data.train, order[state.step % perEpoch], x);
      if (o.resample) binariseBatch(x, streamFor(seed, state.step, RNG.pixels), x);
      fillNormal(streamFor(seed, state.step, RNG.noise), eps);
      const outputs = await runner.run(state, { x, eps });
      try {
        state = advance(state, outputs); // throws before the last good state is replaced
      } catch (e) {
        if (!(e instanceof NonFiniteError)) throw e;
        [stopped, error] = ['diverged', e];
        break;
      }
      const record = {
        step: state.step, loss: outputs.loss[0], gradNorm: outputs.gradNorm[0],
        imagesPerSecond: ((state.step - startStep) * batch) / ((performance.now() - started) / 1e3),
      };
      history.push(record);
      o.onStep?.(record);
      if (state.step === endStep) break; // the final evaluation and checkpoint follow
      if (state.step % evalEvery === 0) evaluate(false);
      if (state.step % checkpointEvery === 0) o.onCheckpoint?.(state);
    }
    const wallSeconds = (performance.now() - started) / 1e3;
    o.onCheckpoint?.(state);
    if (stopped !== 'diverged') evaluate(true);
    return { state, stopped, error, history, evals, compileSeconds, wallSeconds, mode: runner.mode, kernels: runner.kernels, threads };
  } finally {
    runner.dispose(); // the workers too, however the run ends
  }
};
