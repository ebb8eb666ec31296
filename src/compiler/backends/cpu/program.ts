// Runs a lowered graph on the CPU: its buffers are views of one arena (allocated once per program),
// kernels built from generated JS and called in order with them.
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { size } from '../../../dsl/shape.ts';
import { renderCpuKernel, contractionScratch, packedOnce } from './render.ts';
import type { KernelSpec } from '../backend.ts';
import { createGemm, type Gemm } from './gemm.ts';
import { cpuLib, cpuLibPrelude } from './math.ts';
import { sumsOfProductsAsOne } from './passes.ts';
import { CompileError, debugKernels, type Backend, type Lowering, type Program } from '../backend.ts';
import { kernelClass } from '../../fuse.ts';

type KernelFn = (out: Float32Array, ...args: Float32Array[]) => void;
/** A contraction kernel's regions of the sgemm's memory (float offsets), and whether to pack each operand now. */
interface Ops { readonly a: number; readonly b: number; readonly c: number; packA(): boolean; packB(): boolean }
type Factory = (gemm: Gemm | undefined, ops: Ops | undefined, lib: typeof cpuLib) => KernelFn;
const cache = new Map<string, Factory>();

/**
 * One WebAssembly sgemm instance per program. Contraction kernels run one after another, so they
 * share scratch sized for the largest; an operand that reads only graph inputs (packedOnce) gets a
 * region of its own instead, packed by the first kernel of each run that needs it.
 */
const contractionOps = (specs: readonly KernelSpec[]): { gemm?: Gemm; ops: (Ops | undefined)[]; newRun: () => void } => {
  const isContraction = (s: KernelSpec) => kernelClass(s.nodes, s.kernel) === 'matmul';
  const contractions = specs.filter(isContraction);
  if (!contractions.length) return { ops: specs.map(() => undefined), newRun: () => undefined };
  const sizes = contractions.map(contractionScratch);
  const most = (k: 'a' | 'b' | 'c') => Math.max(...sizes.map((n) => n[k]));
  const once = new Map<string, number>(); // key → floats
  contractions.forEach((s, i) => packedOnce(s).forEach((key, k) => key && once.set(key, k ? sizes[i].b : sizes[i].a)));
  const gemm = createGemm({ maxFloats: most('a') + most('b') + most('c') + [...once.values()].reduce((a, n) => a + n + 4, 0) + 64 });
  const scratch = { a: gemm.alloc(most('a')), b: gemm.alloc(most('b')), c: gemm.alloc(most('c')) };
  let run = 0;
  const regions = new Map([...once].map(([key, n]) => [key, { at: gemm.alloc(n), packedIn: -1 }] as const));
  const always = () => true;
  const opsOf = (s: KernelSpec): Ops => {
    const [ka, kb] = packedOnce(s).map((key) => (key ? regions.get(key) : undefined));
    const guard = (r: { packedIn: number } | undefined) => (!r ? always : () => {
      if (r.packedIn === run) return false;
      r.packedIn = run;
      return true;
    });
    return { a: ka?.at ?? scratch.a, b: kb?.at ?? scratch.b, c: scratch.c, packA: guard(ka), packB: guard(kb) };
  };
  return { gemm, ops: specs.map((s) => (isContraction(s) ? opsOf(s) : undefined)), newRun: () => { run++; } };
};

/**
 * The program's buffers as views of one arena at the plan's offsets: a T=64 step has ~11,000 of
 * them, and allocating (and zero-filling) that many arrays took longer than the rest of lowering;
 * one large allocation is a lazily zeroed mapping.
 */
const arenaFor = (elements: number): E.Either<CompileError, Float32Array> => {
  try {
    return E.right(new Float32Array(elements));
  } catch {
    return E.left(new CompileError(`compile: the program's buffers need ${(elements / 2 ** 28).toFixed(1)} GiB in one block, more than this engine allocates`));
  }
};

export const cpuBackend: Backend = {
  prepare: sumsOfProductsAsOne,
  lower: (l: Lowering) => pipe(arenaFor(l.plan.totalElements), E.map((arena) => {
    const inputs = new Map([...l.graph.inputs].map(([name, id]) => [name, new Float32Array(size(l.nodes[id].shape))] as const));
    const inputOf = new Map([...l.graph.inputs].map(([name, id]) => [id, inputs.get(name)!] as const));
    const bufferOf = (id: number): Float32Array =>
      inputOf.get(id) ?? arena.subarray(l.plan.offsetOf.get(id)!, l.plan.offsetOf.get(id)! + size(l.nodes[id].shape));
    const specs = l.kernels.map((kernel) => ({ nodes: l.nodes, mat: l.mat, kernel }));
    const { gemm, ops, newRun } = contractionOps(specs);
    let built = 0;
    const profile: Record<string, { ms: number; calls: number }> = {};
    const kernelMs = new Float64Array(l.kernels.length);
    const steps = l.kernels.map((k, i) => {
      const source = renderCpuKernel(specs[i]);
      if (debugKernels()) console.log(`// kernel ${k.root} ${l.nodes[k.root].op} [${k.shape}]\n${source}`);
      let factory = cache.get(source);
      if (!factory) {
        factory = new Function('gemm', 'ops', 'lib', `${cpuLibPrelude}\n${source}`) as Factory;
        cache.set(source, factory);
        built++;
      }
      const fn = factory(gemm, ops[i], cpuLib);
      const out = bufferOf(k.root);
      const args = k.reads.map(bufferOf);
      if (!l.options.profile) return () => fn(out, ...args);
      const entry = (profile[kernelClass(l.nodes, k)] ??= { ms: 0, calls: 0 });
      return () => {
        const t0 = performance.now();
        fn(out, ...args);
        const ms = performance.now() - t0;
        entry.ms += ms;
        kernelMs[i] += ms;
        entry.calls++;
      };
    });
    const outputs = [...l.graph.outputs].map(([name, id]) => [name, bufferOf(id)] as const);
    const program: Program = {
      backend: 'cpu',
      mode: 'js',
      graph: l.graph,
      stats: { kernels: steps.length, built, cached: steps.length - built, buffers: l.plan },
      run: (feeds) => {
        l.check(feeds);
        for (const [name, buf] of inputs) buf.set(feeds[name]);
        newRun();
        if (l.options.poison) arena.fill(NaN);
        for (const step of steps) step();
        return Object.fromEntries(outputs);
      },
      profile: () => profile,
      kernelMs: () => kernelMs,
      dispose: () => undefined,
    };
    return program;
  })),
};
