// Data-parallel training steps: the batch is cut into one shard per thread, every thread computes the
// loss and gradient of its shard with the same compiled gradient graph (shard 0 on the calling
// thread, the others in workers), and one update graph takes every shard's gradient, combines them
// and runs clipping and the optimiser. One synchronisation per step, not one per kernel. The
// combination is a fixed-order sum (weighted by the shards' sizes), so a run is deterministic for a
// given number of threads (and bit-exact on resume); it differs from the one-thread step by float
// rounding only.
// It assumes what every model here has: a loss that is the mean over the batch of per-example terms
// (no batch statistics), so the batch's loss and gradient are the shards' weighted by their sizes.
import * as E from 'fp-ts/lib/Either.js';
import type { Shape } from '../dsl/shape.ts';
import type { Specs } from '../compiler/trace.ts';
import type { Feeds } from '../compiler/evaluate.ts';
import { gradName } from '../compiler/grad.ts';
import { compile, type CompileOptions, type Program } from '../compiler/compile.ts';
import { remoteProgram, spawnProgramWorker, type RemoteProgram } from '../parallel/remote-program.ts';
import type { SpawnWorker } from '../parallel/port.ts';
import type { Optimizer } from './optimizer.ts';
import {
  gradientStep,
  updateStep,
  trainStep,
  shardGradName,
  LOSS,
  PARAM_CHECK,
  STEP,
  type LossFn,
  type TrainStepOptions,
} from './train-step.ts';
import { stepFeeds, type Outputs, type TrainState } from './host.ts';
import { hostStepper, residentStepper, type Stepper } from './stepper.ts';

/** Runs training steps: one fused graph on this thread, or data-parallel over workers. */
export interface StepRunner {
  readonly threads: number;
  readonly mode: string;
  /** Kernels one step runs on the calling thread (the gradient of its shard and the update, when parallel). */
  readonly kernels: number;
  run(state: TrainState, data: Readonly<Record<string, Float32Array>>): Promise<Outputs>;
  /** Steps from `initial` on: on the host, or where the program keeps its state (gpujs), reading back only what the loop needs. */
  stepper(initial: TrainState): Stepper;
  dispose(): void;
}

export interface StepOptions extends TrainStepOptions {
  readonly backend?: CompileOptions['backend'];
  /** Threads in all, the calling one included (default 1: the one-graph step). */
  readonly threads?: number;
  /** Where the batch axis of each data input is (default 0). */
  readonly batchAxes?: Readonly<Record<string, number>>;
  /** Starts a worker (default: a Node worker_threads worker; in a page, a Web Worker through webWorkerPort). */
  readonly spawnWorker?: SpawnWorker;
}

const unwrapped = <A>(e: E.Either<Error, A>): A => {
  if (E.isLeft(e)) throw e.left;
  return e.right;
};

/** The one-graph step on this thread: loss, gradient, clipping and update fused together. */
const localStep = (program: Program): StepRunner => {
  const run = async (state: TrainState, data: Readonly<Record<string, Float32Array>>) =>
    program.run(stepFeeds(state, data));
  const steppers: Stepper[] = [];
  return {
    threads: 1,
    mode: program.mode,
    kernels: program.stats.kernels,
    run,
    stepper: (initial) => {
      const s =
        program.resident && program.graph.outputs.has(PARAM_CHECK)
          ? residentStepper(program.resident, initial)
          : hostStepper(run, initial);
      steppers.push(s);
      return s;
    },
    dispose: () => {
      steppers.forEach((s) => s.dispose());
      program.dispose();
    },
  };
};

/** Shard sizes of `batch` over `threads`: as equal as can be, larger ones first. */
export const shardSizes = (batch: number, threads: number): number[] =>
  Array.from({ length: threads }, (_, k) => Math.floor(batch / threads) + (k < batch % threads ? 1 : 0));

/** Rows [from, from + n) along `axis` of a row-major tensor of `shape`. */
export const shardOf = (data: Float32Array, shape: Shape, axis: number, from: number, n: number): Float32Array => {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(outer * n * inner);
  for (let o = 0; o < outer; o++)
    out.set(data.subarray((o * shape[axis] + from) * inner, (o * shape[axis] + from + n) * inner), o * n * inner);
  return out;
};

/** The data specs with the batch axis of every input set to `n`. */
const withBatch = (
  dataSpecs: Readonly<Record<string, Shape>>,
  axes: Readonly<Record<string, number>>,
  n: number,
): Record<string, Shape> =>
  Object.fromEntries(Object.entries(dataSpecs).map(([k, s]) => [k, s.map((d, i) => (i === (axes[k] ?? 0) ? n : d))]));

/**
 * The step runner for `threads` (1: today's one-graph step). Data inputs are cut along their batch
 * axis; the batch must hold at least one row per thread.
 */
export const stepRunner = async <P extends Specs, D extends Specs>(
  lossFn: LossFn<P, D>,
  paramSpecs: P,
  dataSpecs: D,
  optimizer: Optimizer,
  opts: StepOptions = {},
): Promise<StepRunner> => {
  const threads = opts.threads ?? 1;
  const compileOptions = { backend: opts.backend };
  if (threads === 1)
    return localStep(
      unwrapped(
        E.flatMap(
          // gpujs keeps the state on the device, so the step checks its new parameters in the graph
          trainStep(lossFn, paramSpecs, dataSpecs, optimizer, { ...opts, paramCheck: opts.backend === 'gpujs' }),
          (g) => compile(g, compileOptions),
        ),
      ),
    );
  if ((opts.backend ?? 'cpu') !== 'cpu')
    throw new Error(`data-parallel step: threads > 1 run on the cpu backend only, not ${opts.backend}`);
  const axes = opts.batchAxes ?? {};
  const batch = (() => {
    const sizes = new Set(Object.entries(dataSpecs).map(([k, s]) => s[axes[k] ?? 0]));
    if (sizes.size !== 1)
      throw new Error(`data-parallel step: the data inputs disagree on the batch size (${[...sizes].join(', ')})`);
    return [...sizes][0];
  })();
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= batch))
    throw new Error(`data-parallel step: threads must be an integer from 1 to the batch size ${batch}, got ${threads}`);
  const shards = shardSizes(batch, threads);
  const gradientFor = (n: number) => unwrapped(gradientStep(lossFn, paramSpecs, withBatch(dataSpecs, axes, n) as D));
  const local = unwrapped(compile(gradientFor(shards[0]), compileOptions));
  const weights = shards.map((n) => n / batch);
  const update = unwrapped(
    E.flatMap(updateStep(paramSpecs, optimizer, opts, weights), (g) => compile(g, compileOptions)),
  );
  const spawn = opts.spawnWorker ?? spawnProgramWorker;
  const remote: RemoteProgram[] = [];
  try {
    // workers compile in parallel, each its shard's size
    remote.push(
      ...(await Promise.all(shards.slice(1).map((n) => remoteProgram(gradientFor(n), compileOptions, spawn)))),
    );
  } catch (e) {
    remote.forEach((r) => r.dispose());
    throw e;
  }
  const pnames = Object.keys(paramSpecs);
  const gradients = (k: number, out: Readonly<Record<string, Float32Array>>) =>
    Object.fromEntries(pnames.map((p) => [shardGradName(p, k), out[gradName(p)]]));
  const run = async (state: TrainState, data: Readonly<Record<string, Float32Array>>): Promise<Outputs> => {
    const starts = shards.map((_, k) => shards.slice(0, k).reduce((a, b) => a + b, 0));
    const shard = (k: number): Record<string, Float32Array> =>
      Object.fromEntries(
        Object.entries(data).map(([name, v]) => [
          name,
          shardOf(v, dataSpecs[name], axes[name] ?? 0, starts[k], shards[k]),
        ]),
      );
    const pending = remote.map((r, i) => r.run({ ...state.params, ...shard(i + 1) }));
    // this thread's shard while the workers run theirs; the update reads its gradient from the
    // program's buffers (the next run of `local` is after the update's)
    const outs = [local.run({ ...state.params, ...shard(0) } as Feeds), ...(await Promise.all(pending))];
    const loss = outs.reduce((sum, out, k) => sum + weights[k] * out[LOSS][0], 0);
    const out = update.run({
      ...state.params,
      ...state.opt,
      [STEP]: [state.step + 1],
      ...Object.assign({}, ...outs.map((o, k) => gradients(k, o))),
    });
    return { ...out, [LOSS]: Float32Array.of(loss) };
  };
  return {
    threads,
    mode: local.mode,
    kernels: local.stats.kernels + update.stats.kernels,
    run,
    stepper: (initial) => hostStepper(run, initial),
    dispose: () => {
      remote.forEach((r) => r.dispose());
      local.dispose();
      update.dispose();
    },
  };
};
