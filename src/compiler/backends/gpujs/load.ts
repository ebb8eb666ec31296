// gpu.js is an optional peer dependency, loaded only when a gpujs backend is asked for: in Node it is
// required from the package's installation (gpu.js is CommonJS, so this stays synchronous, reached
// through process.getBuiltinModule rather than an import, so this file also bundles for browsers);
// in a page it is the `GPU` global that gpu.js's browser build defines, or the module the page hands
// to `useGpuJs` (what a bundler user does: `import * as gpujs from 'gpu.js'; useGpuJs(gpujs)`).
import type * as GpuJs from 'gpu.js';

export type GpuJsModule = Pick<typeof GpuJs, 'GPU'>;

/** The gpu.js version this library is tested with (its peer dependency). */
export const GPUJS_VERSION = '2.24.1';
const INSTALL = `npm install gpu.js@${GPUJS_VERSION}`;

let given: GpuJsModule | undefined;

/** gpu.js's GPU class, told apart from WebGPU's interface of the same global name by its kernel factory. */
const isGpuJsClass = (c: unknown): c is GpuJsModule['GPU'] =>
  typeof c === 'function' &&
  typeof (c as { prototype?: { createKernel?: unknown } }).prototype?.createKernel === 'function';

/** Hands the library a gpu.js module (a bundler's `import * as gpujs from 'gpu.js'`). */
export const useGpuJs = (mod: GpuJsModule): void => {
  if (!isGpuJsClass(mod?.GPU))
    throw new TypeError('useGpuJs: expected the gpu.js module (an object with its GPU class)');
  given = mod;
};

type NodeRequire = ((id: string) => unknown) & { resolve(id: string): string };
const nodeModule = (): { createRequire(from: string): NodeRequire } | undefined =>
  (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(
    'node:module',
  ) as { createRequire(from: string): NodeRequire } | undefined;

/** gpu.js, or why it cannot be had here (one line, with what to do). */
export const loadGpuJs = ():
  | { readonly ok: true; readonly gpujs: GpuJsModule }
  | { readonly ok: false; readonly reason: string } => {
  if (given) return { ok: true, gpujs: given };
  // gpu.js's browser build defines window.GPU; so does WebGPU (its interface), which is not gpu.js
  const global = (globalThis as unknown as { GPU?: GpuJsModule['GPU'] }).GPU;
  if (isGpuJsClass(global)) return { ok: true, gpujs: { GPU: global } };
  const require = nodeModule()?.createRequire(import.meta.url);
  if (!require)
    return {
      ok: false,
      reason: 'gpu.js is not loaded: load its browser build (window.GPU), or call useGpuJs(gpujs) with the module',
    };
  try {
    return { ok: true, gpujs: require('gpu.js') as GpuJsModule };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return {
      ok: false,
      reason: /Cannot find module 'gpu\.js'/.test(msg)
        ? `gpu.js is not installed (an optional peer dependency): ${INSTALL}`
        : `gpu.js does not load: ${msg}`,
    };
  }
};

/** In Node, requires `id` as gpu.js itself would (for its optional dependency `gl`). */
export const requireNextToGpuJs = (id: string): unknown => {
  const m = nodeModule();
  if (!m) throw new Error('requireNextToGpuJs: not Node');
  return m.createRequire(m.createRequire(import.meta.url).resolve('gpu.js'))(id);
};
