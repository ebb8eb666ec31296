// The contract between compile's pipeline and a backend: what a backend is given (the lowered graph,
// each kernel) and what it returns (a Program). compile.ts and every backend import this file; it
// imports neither, so there is no cycle between them.
import type * as E from 'fp-ts/lib/Either.js';
import type { Node } from '../../dsl/tensor.ts';
import type { FusionPolicy, Kernel } from '../fuse.ts';
import type { BufferPlan } from '../schedule.ts';
import type { Feeds } from '../evaluate.ts';
import type { Graph } from '../graph.ts';
import { envVar } from '../../util.ts';

export type BackendName = 'cpu' | 'gpujs' | 'gpujs-cpu';

export interface KernelSpec {
  readonly nodes: readonly Node[];
  readonly mat: Uint8Array;
  readonly kernel: Kernel;
}

export interface CompileOptions {
  readonly backend?: BackendName;
  /** Run `simplify` first (default true). */
  readonly simplify?: boolean;
  /** Fill every buffer with NaN before each run, so a test catches an element no kernel wrote. */
  readonly poison?: boolean;
  /** Time every kernel (cpu backend); read the totals with `program.profile()`. */
  readonly profile?: boolean;
}

export interface ProgramStats {
  readonly kernels: number;
  /** Kernels built for this program (JS functions, WebAssembly rendered), and those found already built in this process. */
  readonly built: number;
  readonly cached: number;
  readonly buffers: BufferPlan;
  /** Kernels that run as WebAssembly (cpu backend: elementwise kernels; the others call its sgemm from JS). */
  readonly webAssembly?: number;
}

export interface Program {
  readonly backend: BackendName;
  /** What actually runs, e.g. 'js' or 'headlessgl'. */
  readonly mode: string;
  readonly graph: Graph;
  readonly stats: ProgramStats;
  /**
   * Runs the program. Outputs are the program's own buffers, valid until the next run (so a
   * training loop allocates nothing); copy what must outlive it.
   */
  run(feeds: Feeds): Record<string, Float32Array>;
  /**
   * gpujs: runs whose `carry` inputs (input name → the output that is its next value) stay on the
   * device from `initial` on: only what a run is asked to read comes back to the host.
   */
  resident?(carry: Readonly<Record<string, string>>, initial: Feeds): ResidentRun;
  /** With `profile`: milliseconds and calls per kernel class since compile. */
  profile(): Record<string, { ms: number; calls: number }>;
  /** With `profile` (cpu backend): milliseconds per kernel since compile, in the order of lowerGraph's kernels. */
  kernelMs?(): Float64Array;
  dispose(): void;
}

/** A program run with state kept where it runs (see `Program.resident`). */
export interface ResidentRun {
  /** Runs on the state and `feeds` (the other inputs); returns the outputs named in `read`, on the host. */
  run(feeds: Feeds, read: readonly string[]): Record<string, Float32Array>;
  /** The last run's carried outputs become the state; until then a failed run leaves it as it was. */
  accept(): void;
  /** The state by input name, on the host. */
  state(): Record<string, Float32Array>;
  dispose(): void;
}

export class CompileError extends Error {
  override name = 'CompileError';
}

/** Everything a backend needs: the graph after the passes, its kernels and the buffer plan. */
export interface Lowering {
  readonly graph: Graph;
  readonly nodes: readonly Node[];
  readonly kernels: readonly Kernel[];
  readonly mat: Uint8Array;
  readonly plan: BufferPlan;
  readonly check: (feeds: Feeds) => void;
  readonly options: CompileOptions;
}

export interface Backend {
  /** A graph pass of this backend's own, run after `simplify` and before fusion. */
  prepare?(g: Graph): Graph;
  /** When fusion repeats a value in its users rather than storing it (default: fuse.ts's CPU_FUSION). */
  readonly fusion?: FusionPolicy;
  lower(l: Lowering): E.Either<CompileError, Program>;
}

export const debugKernels = (): boolean => envVar('DRAW_DEBUG_KERNELS') === '1';
