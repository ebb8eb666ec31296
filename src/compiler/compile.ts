// compile: graph → Program. The pipeline is a chain of small passes (simplify, fuse, plan buffers),
// then a backend lowers each kernel. Kernels are cached by their rendered source, which is their
// structural hash with shapes included: compiling an equal graph twice builds nothing twice.
import * as E from 'fp-ts/lib/Either.js';
import { simplify } from './passes.ts';
import { fuse, type Kernel } from './fuse.ts';
import { planBuffers, type BufferPlan } from './schedule.ts';
import { checkFeeds, type Feeds } from './evaluate.ts';
import { verify, type Graph } from './graph.ts';
import type { Node } from '../dsl/tensor.ts';
import { cpuBackend } from './backends/cpu-program.ts';
import { gpujsBackend } from './backends/gpujs-program.ts';

/** The backends, keyed by name: the one list `compile` accepts and its errors name. */
const backends = {
  cpu: () => cpuBackend,
  gpujs: () => gpujsBackend('gpu'),
  'gpujs-cpu': () => gpujsBackend('cpu'),
} as const satisfies Record<string, () => Backend>;

export type BackendName = keyof typeof backends;
export const backendNames = Object.keys(backends) as BackendName[];

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
  /** Kernels built for this program, and those found in the cache. */
  readonly built: number;
  readonly cached: number;
  readonly buffers: BufferPlan;
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
  /** With `profile`: milliseconds and calls per kernel class since compile. */
  profile(): Record<string, { ms: number; calls: number }>;
  /** With `profile` (cpu backend): milliseconds per kernel since compile, in the order of lowerGraph's kernels. */
  kernelMs?(): Float64Array;
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
  lower(l: Lowering): E.Either<CompileError, Program>;
}

// Options often come from untyped places (a config file, a flag), so the name is checked at run time too.
const backendFor = (name: unknown = 'cpu'): E.Either<CompileError, Backend> =>
  typeof name === 'string' && Object.hasOwn(backends, name)
    ? E.right(backends[name as BackendName]())
    : E.left(new CompileError(`compile: unknown backend ${JSON.stringify(name)} (backends: ${backendNames.join(', ')})`));

export const lowerGraph = (graph: Graph, opts: CompileOptions = {}): E.Either<CompileError, Lowering> => {
  const checked = verify(graph);
  if (E.isLeft(checked)) return E.left(new CompileError(`compile: invalid graph: ${checked.left.message}`));
  const backend = backendFor(opts.backend);
  if (E.isLeft(backend)) return backend;
  const simple = opts.simplify === false ? graph : simplify(graph);
  const g = backend.right.prepare?.(simple) ?? simple;
  const { kernels, mat } = fuse(g);
  return E.right({
    graph: g, nodes: g.nodes.toArray(), kernels, mat, plan: planBuffers(g, kernels), options: opts,
    check: (feeds) => {
      const bad = checkFeeds(g, feeds);
      if (bad) throw bad;
    },
  });
};

/** Compiles a graph for a backend (default 'cpu'). */
export const compile = (graph: Graph, opts: CompileOptions = {}): E.Either<CompileError, Program> =>
  E.flatMap(lowerGraph(graph, opts), (l) => E.flatMap(backendFor(opts.backend), (b) => b.lower(l)));

export const debugKernels = (): boolean => process.env.DRAW_DEBUG_KERNELS === '1';
