// Runs a lowered graph on the CPU: one Float32Array per storage slot (allocated once per program),
// kernels built from generated JS and called in order with views of their buffers.
import * as E from 'fp-ts/lib/Either.js';
import { size } from '../../dsl/shape.ts';
import { renderCpuKernel } from './cpu.ts';
import type { Backend, Lowering, Program } from '../compile.ts';
import { debugKernels } from '../compile.ts';

type KernelFn = (out: Float32Array, ...args: Float32Array[]) => void;
const cache = new Map<string, () => KernelFn>();

export const cpuBackend: Backend = {
  lower: (l: Lowering) => {
    const slots = l.plan.slotSizes.map((n) => new Float32Array(n));
    const inputs = new Map([...l.graph.inputs].map(([name, id]) => [name, new Float32Array(size(l.nodes[id].shape))] as const));
    const inputOf = new Map([...l.graph.inputs].map(([name, id]) => [id, inputs.get(name)!] as const));
    const bufferOf = (id: number): Float32Array =>
      inputOf.get(id) ?? slots[l.plan.slotOf.get(id)!].subarray(0, size(l.nodes[id].shape));
    let built = 0;
    const steps = l.kernels.map((k) => {
      const source = renderCpuKernel({ nodes: l.nodes, mat: l.mat, kernel: k });
      if (debugKernels()) console.log(`// kernel ${k.root} ${l.nodes[k.root].op} [${k.shape}]\n${source}`);
      let factory = cache.get(source);
      if (!factory) {
        factory = new Function(source) as () => KernelFn;
        cache.set(source, factory);
        built++;
      }
      const fn = factory();
      const out = bufferOf(k.root);
      const args = k.reads.map(bufferOf);
      return () => fn(out, ...args);
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
      dispose: () => undefined,
    };
    return E.right(program);
  },
};
