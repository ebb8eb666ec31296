// Runs a gpu.js plan: the kernels of a lowered graph as plain data (sources, output sizes and the
// order they run in). The library's gpujs backend and an exported generator both run plans with
// this one function, so an export computes exactly what the library computes. It imports nothing:
// the caller brings the gpu.js instance, so the same code runs in Node and in a browser.
import type { GPU, IKernelRunShortcut, Texture } from 'gpu.js';

export interface GpujsPlan {
  readonly format: 'draw-ts/gpujs-plan/1';
  /** Distinct kernels. `kinds` says per argument whether it is an input array ('a') or a texture ('t'). */
  readonly kernels: readonly { readonly source: string; readonly size: number; readonly kinds: string }[];
  readonly inputs: readonly { readonly name: string; readonly id: number; readonly size: number }[];
  readonly outputs: readonly { readonly name: string; readonly id: number }[];
  /** In order: which kernel computes buffer `root` from buffers `reads`; `free` lists buffers read for the last time. */
  readonly steps: readonly {
    readonly kernel: number;
    readonly root: number;
    readonly reads: readonly number[];
    readonly free: readonly number[];
  }[];
}

export interface PlanRunner {
  /** Outputs by name, copied to host arrays. */
  run(feeds: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array>;
  /** The gpu.js kernel class that ran last, e.g. 'WebGL2Kernel', 'HeadlessGLKernel' or 'CPUKernel'. */
  ran(): string;
  dispose(): void;
}

/** The most outputs a kernel may have: WebGL fails on textures past 16384². */
export const MAX_OUTPUT = 16384 * 16384;

/** gpu.js's WebGL kernel classes: anything else is a CPU or WebAssembly fallback. */
export const isWebGLKernel = (name: string): boolean =>
  ['HeadlessGLKernel', 'WebGLKernel', 'WebGL2Kernel'].includes(name);

export type KernelCache = Map<string, IKernelRunShortcut>;

type Value = Float32Array | Texture;
const isTexture = (v: Value | undefined): v is Texture => !!v && !(v instanceof Float32Array);
const free = (v: Value | undefined) => {
  if (isTexture(v) && typeof v.delete === 'function') v.delete();
};

/**
 * `gpu` decides where kernels run; with `onDevice` results stay textures between kernels (gpu.js
 * `pipeline`, `immutable`: each call returns a fresh texture, deleted after its last reader).
 * `cache` lets programs share compiled kernels: gpu.js specialises a kernel to its argument kinds
 * on first call, so the key holds them with the source and output size.
 */
export const planRunner = (
  plan: GpujsPlan,
  gpu: GPU,
  { onDevice, cache = new Map() }: { onDevice: boolean; cache?: KernelCache },
): PlanRunner => {
  const kernels = plan.kernels.map(({ source, size, kinds }) => {
    const key = `${onDevice}|${size}|${kinds}|${source}`;
    let kernel = cache.get(key);
    if (!kernel) {
      kernel = gpu.createKernel(source, {
        output: [size],
        precision: 'single',
        pipeline: onDevice,
        immutable: onDevice,
        tactic: 'precision',
      });
      cache.set(key, kernel);
    }
    return kernel;
  });
  const values = new Map<number, Value>();
  const clear = () => {
    values.forEach(free);
    values.clear();
  };
  let ran = 'none';
  return {
    run: (feeds) => {
      clear();
      for (const { name, id, size } of plan.inputs) {
        const v = feeds[name];
        if (!v || v.length !== size)
          throw new Error(`gpu.js plan: input '${name}' needs ${size} values, got ${v ? v.length : 'none'}`);
        values.set(id, Float32Array.from(v));
      }
      for (const step of plan.steps) {
        const kernel = kernels[step.kernel];
        const v = kernel(...step.reads.map((r) => values.get(r)!)) as Value;
        // gpu.js's CPU mode hands back the kernel's one output array: copy it, as the kernel may run again
        values.set(step.root, v instanceof Float32Array ? Float32Array.from(v) : v);
        ran = kernel.kernel.constructor.name;
        for (const r of step.free) {
          free(values.get(r));
          values.delete(r);
        }
      }
      return Object.fromEntries(
        plan.outputs.map(({ name, id }) => {
          const v = values.get(id)!;
          return [name, isTexture(v) ? Float32Array.from(v.toArray() as Float32Array) : v];
        }),
      );
    },
    ran: () => ran,
    dispose: clear,
  };
};
