// Runs a lowered graph through gpu.js. In 'gpu' mode every kernel is a WebGL kernel (headless-gl in
// Node) and results stay on the device as textures between kernels; only the outputs are read back.
// The mode that really runs is checked, never assumed: gpu.js would quietly fall back otherwise.
import * as E from 'fp-ts/lib/Either.js';
import { createRequire } from 'node:module';
import type { GPU, IKernelRunShortcut, Texture } from 'gpu.js';
import { size } from '../../dsl/shape.ts';
import { renderGpujsKernel } from './gpujs.ts';
import { getGpuContext } from '../gpu-context.ts';
import { CompileError, debugKernels, type Backend, type Lowering, type Program } from '../compile.ts';

/** WebGL returns zeros past this many texture arguments, and fails on outputs past 16384². */
const MAX_ARGS = 32;
const MAX_OUTPUT = 16384 * 16384;
const GL_KERNELS = new Set(['HeadlessGLKernel', 'WebGLKernel', 'WebGL2Kernel']);

let cpuGpu: GPU | undefined;
const cpuInstance = (): GPU => {
  const { GPU: Ctor } = createRequire(import.meta.url)('gpu.js') as typeof import('gpu.js');
  cpuGpu ??= new Ctor({ mode: 'cpu' });
  return cpuGpu;
};

const cache = new Map<string, IKernelRunShortcut>();

export const gpujsBackend = (mode: 'gpu' | 'cpu'): Backend => ({
  lower: (l: Lowering) => {
    let gpu: GPU;
    let modeName: string;
    if (mode === 'gpu') {
      const ctx = getGpuContext();
      if (!ctx.ok) return E.left(new CompileError(`gpujs backend unavailable: ${ctx.reason}`));
      gpu = ctx.gpu;
      modeName = ctx.mode;
    } else {
      gpu = cpuInstance();
      modeName = 'gpujs-cpu';
    }
    for (const k of l.kernels) {
      if (k.reads.length > MAX_ARGS) return E.left(new CompileError(`gpujs backend: kernel for node ${k.root} reads ${k.reads.length} buffers; WebGL allows ${MAX_ARGS}`));
      if (size(k.shape) > MAX_OUTPUT) return E.left(new CompileError(`gpujs backend: kernel for node ${k.root} has ${size(k.shape)} outputs; WebGL allows ${MAX_OUTPUT}`));
    }
    let built = 0;
    const inputIds = new Set(l.graph.inputs.values());
    const steps = l.kernels.map((k) => {
      const source = renderGpujsKernel({ nodes: l.nodes, mat: l.mat, kernel: k });
      if (debugKernels()) console.log(`// kernel ${k.root} ${l.nodes[k.root].op} [${k.shape}]\n${source}`);
      // immutable: each call returns a fresh texture, so one compiled kernel can serve every
      // position with the same source; textures are deleted after their last reader
      // gpu.js specialises a kernel to its arguments' kinds on first call (array or texture)
      const kinds = k.reads.map((r) => (inputIds.has(r) ? 'a' : 't')).join('');
      const key = `${mode}|${size(k.shape)}|${kinds}|${source}`;
      let kernel = cache.get(key);
      if (!kernel) {
        kernel = gpu.createKernel(source, { output: [size(k.shape)], precision: 'single', pipeline: mode === 'gpu', immutable: mode === 'gpu', tactic: 'precision' });
        cache.set(key, kernel);
        built++;
      }
      return { k, kernel };
    });
    const lastRead = new Map<number, number>();
    steps.forEach(({ k }, s) => k.reads.forEach((r) => lastRead.set(r, s)));
    const outputIds = new Set(l.graph.outputs.values());
    const values = new Map<number, Float32Array | Texture>();
    const free = (v: Float32Array | Texture | undefined) => {
      if (v && !(v instanceof Float32Array) && typeof (v as Texture).delete === 'function') (v as Texture).delete();
    };
    const program: Program = {
      backend: mode === 'gpu' ? 'gpujs' : 'gpujs-cpu',
      mode: modeName,
      graph: l.graph,
      stats: { kernels: steps.length, built, cached: steps.length - built, buffers: l.plan },
      run: (feeds) => {
        l.check(feeds);
        values.forEach(free);
        values.clear();
        l.graph.inputs.forEach((id, name) => values.set(id, Float32Array.from(feeds[name])));
        steps.forEach(({ k, kernel }, s) => {
          const v = kernel(...k.reads.map((r) => values.get(r)!)) as Float32Array | Texture;
          // gpu.js's CPU mode hands back the kernel's one output array: copy it, as the kernel may run again
          values.set(k.root, v instanceof Float32Array ? Float32Array.from(v) : v);
          const ran = kernel.kernel.constructor.name;
          if (mode === 'gpu' && !GL_KERNELS.has(ran)) throw new CompileError(`gpujs backend: kernel ran on ${ran}, not WebGL`);
          k.reads.forEach((r) => {
            if (lastRead.get(r) === s && !outputIds.has(r)) {
              free(values.get(r));
              values.delete(r);
            }
          });
        });
        return Object.fromEntries([...l.graph.outputs].map(([name, id]) => {
          const v = values.get(id)!;
          return [name, v instanceof Float32Array ? v : Float32Array.from((v as Texture).toArray() as Float32Array)];
        }));
      },
      profile: () => ({}),
      dispose: () => {
        values.forEach(free);
        values.clear();
      },
    };
    return E.right(program);
  },
});
