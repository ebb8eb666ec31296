// Lowers a graph for gpu.js: `gpujsPlan` turns the kernels into plain data (rendered sources, sizes,
// order, last readers), which runner.ts runs. In 'gpu' mode every kernel is a WebGL kernel
// (headless-gl in Node) and results stay on the device as textures between kernels; only the
// outputs are read back. The mode that really runs is checked, never assumed: gpu.js would quietly
// fall back otherwise.
import * as E from 'fp-ts/lib/Either.js';
import type { GPU } from 'gpu.js';
import { size } from '../../../dsl/shape.ts';
import { renderGpujsKernel } from './render.ts';
import {
  planRunner,
  residentRunner,
  isWebGLKernel,
  MAX_OUTPUT,
  MAX_VALUES,
  type GpujsPlan,
  type KernelCache,
} from './runner.ts';
import { getGpuContext } from './context.ts';
import { loadGpuJs } from './load.ts';
import { kernelClass, type FusionPolicy } from '../../fuse.ts';
import { lastReads } from '../../schedule.ts';
import { BoundedCache, KERNEL_CACHE_LIMIT } from '../../cache.ts';
import { primitives } from '../../../dsl/primitives.ts';
import { nestWideConcats, reduceAxisByAxis } from '../../passes.ts';
import { flow } from 'fp-ts/lib/function.js';
import { CompileError, debugKernels, type Backend, type Lowering, type Program } from '../backend.ts';

/**
 * The most textures a kernel may read. WebGL binds 32 here, but gpu.js 2.24.1 binds the textures it
 * creates to unit 15 (`selectTexture` in gl/texture), and an immutable kernel run again while its last
 * output lives creates its new output there after binding its arguments: a 16th argument then reads
 * the blank output (zeros; test/gpujs-context.test.ts). So no kernel gets a 16th argument.
 */
const MAX_ARGS = 15;

/** Ops a shader pays several multiply-adds for. */
const TRANSCENDENTAL: ReadonlySet<string> = new Set(['exp', 'log', 'tanh', 'sqrt', 'recip']);

/**
 * A GPU pays for each kernel (a draw call, its textures bound, a texture written) far more than for
 * arithmetic: an elementwise value of up to 16 adds (a transcendental counting 4) is computed again by
 * every kernel and every broadcast copy that reads it, so it costs no launch of its own. Graph inputs
 * cost nothing to read again. (The DRAW step at T=10: 1,591 kernels with CPU_FUSION, 1,108 with this.)
 * No kernel reads more textures than gpu.js binds right (MAX_ARGS). Kernels of one shape and one loop that
 * read the same buffers write up to 4 values in one launch (siblings.ts; a gpu.js kernel map): Adam's m, v
 * and θ, an LSTM step's c and h, the filterbank products of an image and its error (T=10: 1,116 → 983).
 */
export const GPU_FUSION: FusionPolicy = {
  opCost: (op) => {
    const kind = primitives[op].kernel.kind;
    if (kind === 'buffer') return 0;
    if (kind !== 'map' || op === 'materialize') return Infinity;
    return TRANSCENDENTAL.has(op) ? 4 : 1;
  },
  repeatBudget: 16,
  repeatThroughBroadcasts: true,
  maxReads: MAX_ARGS,
  maxOutputs: MAX_VALUES,
};

/** The lowered graph as a gpu.js plan, or why WebGL could not run it. */
export const gpujsPlan = (l: Lowering): E.Either<CompileError, GpujsPlan> => {
  for (const k of l.kernels) {
    if (k.reads.length > MAX_ARGS)
      return E.left(
        new CompileError(
          `gpujs backend: kernel for node ${k.root} reads ${k.reads.length} buffers; gpu.js reads at most ${MAX_ARGS} right`,
        ),
      );
    if (size(k.shape) > MAX_OUTPUT)
      return E.left(
        new CompileError(
          `gpujs backend: kernel for node ${k.root} has ${size(k.shape)} outputs; WebGL allows ${MAX_OUTPUT}`,
        ),
      );
  }
  const inputIds = new Set(l.graph.inputs.values());
  const outputIds = new Set(l.graph.outputs.values());
  const kernels: GpujsPlan['kernels'][number][] = [];
  const index = new Map<string, number>();
  const lastRead = lastReads(l.kernels);
  const steps = l.kernels.map((k, s) => {
    const source = renderGpujsKernel({ nodes: l.nodes, mat: l.mat, kernel: k });
    if (debugKernels()) console.log(`// kernel ${k.root} ${l.nodes[k.root].op} [${k.shape}]\n${source}`);
    const entry = {
      source,
      size: size(k.shape),
      kinds: k.reads.map((r) => (inputIds.has(r) ? 'a' : 't')).join(''),
      outputs: 1 + k.siblings.length,
    };
    const key = `${entry.size}|${entry.kinds}|${entry.outputs}|${source}`;
    if (!index.has(key)) index.set(key, kernels.push(entry) - 1);
    const free = k.reads.filter((r, i) => lastRead.get(r) === s && !outputIds.has(r) && k.reads.indexOf(r) === i);
    return { kernel: index.get(key)!, root: k.root, siblings: [...k.siblings], reads: [...k.reads], free };
  });
  return E.right({
    format: 'draw-ts/gpujs-plan/2',
    kernels,
    // inputs no kernel reads (say, the encoder's weights in a generator) are left out
    inputs: [...l.graph.inputs]
      .filter(([, id]) => lastRead.has(id) || outputIds.has(id))
      .map(([name, id]) => ({ name, id, size: size(l.nodes[id].shape) })),
    outputs: [...l.graph.outputs].map(([name, id]) => ({ name, id })),
    steps,
  });
};

let cpuGpu: GPU | undefined;
const cpuInstance = (): E.Either<CompileError, GPU> => {
  if (cpuGpu) return E.right(cpuGpu);
  const loaded = loadGpuJs();
  if (!loaded.ok) return E.left(new CompileError(`gpujs-cpu backend unavailable: ${loaded.reason}`));
  cpuGpu = new loaded.gpujs.GPU({ mode: 'cpu' });
  return E.right(cpuGpu);
};

const cache: KernelCache = new BoundedCache(KERNEL_CACHE_LIMIT);

export const gpujsBackend = (mode: 'gpu' | 'cpu'): Backend => ({
  prepare: flow(nestWideConcats(8), reduceAxisByAxis(4096)),
  fusion: GPU_FUSION,
  lower: (l: Lowering) => {
    let gpu: GPU;
    let modeName: string;
    if (mode === 'gpu') {
      const ctx = getGpuContext();
      if (!ctx.ok) return E.left(new CompileError(`gpujs backend unavailable: ${ctx.reason}`));
      gpu = ctx.gpu;
      modeName = ctx.mode;
    } else {
      const cpu = cpuInstance();
      if (E.isLeft(cpu)) return cpu;
      gpu = cpu.right;
      modeName = 'gpujs-cpu';
    }
    const onDevice = mode === 'gpu';
    const backend = onDevice ? 'gpujs' : 'gpujs-cpu';
    // with `profile`, every kernel is waited for and timed: milliseconds per plan step
    const timing = l.options.profile ? new Float64Array(l.kernels.length) : undefined;
    let runs = 0;
    const ranOnGl = (ran: string) => {
      runs++;
      if (onDevice && !isWebGLKernel(ran)) throw new CompileError(`gpujs backend: kernel ran on ${ran}, not WebGL`);
    };
    return E.map((plan: GpujsPlan) => {
      let built = 0;
      const runner = planRunner(plan, gpu, { onDevice, cache, timing, onBuilt: () => built++ });
      const program: Program = {
        backend,
        mode: modeName,
        graph: l.graph,
        stats: { kernels: plan.steps.length, built, cached: plan.steps.length - built, buffers: l.plan },
        run: (feeds) => {
          l.check(feeds);
          const out = runner.run(feeds);
          ranOnGl(runner.ran());
          return out;
        },
        resident: onDevice
          ? (carry, initial) => {
              const r = residentRunner(plan, gpu, carry, initial, { onDevice, cache, timing });
              return {
                run: (feeds, read) => {
                  const out = r.run(feeds, read);
                  ranOnGl(r.ran());
                  return out;
                },
                accept: r.accept,
                state: r.state,
                dispose: r.dispose,
              };
            }
          : undefined,
        profile: () => {
          const byClass: Record<string, { ms: number; calls: number }> = {};
          if (!timing) return byClass;
          l.kernels.forEach((k, s) => {
            const entry = (byClass[kernelClass(l.nodes, k)] ??= { ms: 0, calls: 0 });
            entry.ms += timing[s];
            entry.calls += runs;
          });
          return byClass;
        },
        kernelMs: timing && (() => timing),
        dispose: runner.dispose,
      };
      return program;
    })(gpujsPlan(l));
  },
});
