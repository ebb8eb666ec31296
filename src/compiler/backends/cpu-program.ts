// Runs a lowered graph on the CPU: one Float32Array per storage slot (allocated once per program),
// kernels built from generated JS and called in order with views of their buffers.
import * as E from 'fp-ts/lib/Either.js';
import { size } from '../../dsl/shape.ts';
import { renderCpuKernel, contractionScratch } from './cpu.ts';
import { createGemm, type Gemm } from './wasm-gemm.ts';
import { cpuLib, cpuLibPrelude } from './cpu-math.ts';
import { sumsOfProductsAsOne } from './cpu-passes.ts';
import type { Backend, Lowering, Program } from '../compile.ts';
import { kernelClass } from '../fuse.ts';
import { debugKernels } from '../compile.ts';

type KernelFn = (out: Float32Array, ...args: Float32Array[]) => void;
interface Scratch { readonly a: number; readonly b: number; readonly c: number }
type Factory = (gemm: Gemm | undefined, scratch: Scratch | undefined, lib: typeof cpuLib) => KernelFn;
const cache = new Map<string, Factory>();

export const cpuBackend: Backend = {
  prepare: sumsOfProductsAsOne,
  lower: (l: Lowering) => {
    const slots = l.plan.slotSizes.map((n) => new Float32Array(n));
    const inputs = new Map([...l.graph.inputs].map(([name, id]) => [name, new Float32Array(size(l.nodes[id].shape))] as const));
    const inputOf = new Map([...l.graph.inputs].map(([name, id]) => [id, inputs.get(name)!] as const));
    const bufferOf = (id: number): Float32Array =>
      inputOf.get(id) ?? slots[l.plan.slotOf.get(id)!].subarray(0, size(l.nodes[id].shape));
    // one WebAssembly sgemm instance per program, with scratch for the largest contraction
    // (kernels run one after another, so they share it)
    const specs = l.kernels.map((kernel) => ({ nodes: l.nodes, mat: l.mat, kernel }));
    const needs = specs.filter((s) => kernelClass(l.nodes, s.kernel) === 'matmul').map(contractionScratch);
    let gemm: Gemm | undefined;
    let scratch: Scratch | undefined;
    if (needs.length) {
      const most = (k: keyof Scratch) => Math.max(...needs.map((n) => n[k]));
      gemm = createGemm({ maxFloats: most('a') + most('b') + most('c') + 64 });
      scratch = { a: gemm.alloc(most('a')), b: gemm.alloc(most('b')), c: gemm.alloc(most('c')) };
    }
    let built = 0;
    const profile: Record<string, { ms: number; calls: number }> = {};
    const kernelMs = new Float64Array(l.kernels.length);
    const steps = l.kernels.map((k, i) => {
      const source = renderCpuKernel(specs[i]);
      if (debugKernels()) console.log(`// kernel ${k.root} ${l.nodes[k.root].op} [${k.shape}]\n${source}`);
      let factory = cache.get(source);
      if (!factory) {
        factory = new Function('gemm', 'scratch', 'lib', `${cpuLibPrelude}\n${source}`) as Factory;
        cache.set(source, factory);
        built++;
      }
      const fn = factory(gemm, scratch, cpuLib);
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
        if (l.options.poison) slots.forEach((s) => s.fill(NaN));
        for (const step of steps) step();
        return Object.fromEntries(outputs);
      },
      profile: () => profile,
      kernelMs: () => kernelMs,
      dispose: () => undefined,
    };
    return E.right(program);
  },
};
