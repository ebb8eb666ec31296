// compile: graph → Program. The pipeline is a chain of small passes (simplify, fuse, merge siblings, plan buffers),
// then a backend lowers each kernel. Kernels are cached by their rendered source, which is their
// structural hash with shapes included: compiling an equal graph twice builds nothing twice.
import * as E from 'fp-ts/lib/Either.js';
import { simplify } from './passes.ts';
import { CPU_FUSION } from './fuse.ts';
import { fuseWithSiblings } from './siblings.ts';
import { planBuffers } from './schedule.ts';
import { checkFeeds } from './evaluate.ts';
import { verify, type Graph } from './graph.ts';
import {
  CompileError,
  type Backend,
  type BackendName,
  type CompileOptions,
  type Lowering,
  type Program,
} from './backends/backend.ts';
import { cpuBackend } from './backends/cpu/program.ts';
import { gpujsBackend } from './backends/gpujs/program.ts';

// The contract between the pipeline and its backends lives in backend.ts, which imports neither.
export {
  CompileError,
  debugKernels,
  type Backend,
  type BackendName,
  type CompileOptions,
  type Lowering,
  type Program,
  type ProgramStats,
  type ResidentRun,
} from './backends/backend.ts';

/** The backends, keyed by name: the one list `compile` accepts and its errors name. */
const backends = {
  cpu: () => cpuBackend,
  gpujs: () => gpujsBackend('gpu'),
  'gpujs-cpu': () => gpujsBackend('cpu'),
} as const satisfies Record<BackendName, () => Backend>;

export const backendNames = Object.keys(backends) as BackendName[];

// Options often come from untyped places (a config file, a flag), so the name is checked at run time too.
const backendFor = (name: unknown = 'cpu'): E.Either<CompileError, Backend> =>
  typeof name === 'string' && Object.hasOwn(backends, name)
    ? E.right(backends[name as BackendName]())
    : E.left(
        new CompileError(`compile: unknown backend ${JSON.stringify(name)} (backends: ${backendNames.join(', ')})`),
      );

export const lowerGraph = (graph: Graph, opts: CompileOptions = {}): E.Either<CompileError, Lowering> => {
  const checked = verify(graph);
  if (E.isLeft(checked)) return E.left(new CompileError(`compile: invalid graph: ${checked.left.message}`));
  const backend = backendFor(opts.backend);
  if (E.isLeft(backend)) return backend;
  const simple = opts.simplify === false ? graph : simplify(graph);
  const g = backend.right.prepare?.(simple) ?? simple;
  const { kernels, mat } = fuseWithSiblings(g, backend.right.fusion ?? CPU_FUSION);
  return E.right({
    graph: g,
    nodes: g.nodes.toArray(),
    kernels,
    mat,
    plan: planBuffers(g, kernels),
    options: opts,
    check: (feeds) => {
      const bad = checkFeeds(g, feeds);
      if (bad) throw bad;
    },
  });
};

/** Compiles a graph for a backend (default 'cpu'). */
export const compile = (graph: Graph, opts: CompileOptions = {}): E.Either<CompileError, Program> =>
  E.flatMap(lowerGraph(graph, opts), (l) => E.flatMap(backendFor(opts.backend), (b) => b.lower(l)));
