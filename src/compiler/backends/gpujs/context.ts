// Opens gpu.js's GL backend once per process and says plainly whether it works.
// It never falls back: with no display, gpu.js mode 'gpu' quietly picks
// WebAssemblyKernel (or CPUKernel), so here anything that is not a GL kernel class
// returns { ok: false, reason }.
import type { GPU, IKernelRunShortcut } from 'gpu.js';
import { loadGpuJs, requireNextToGpuJs } from './load.ts';

export type GpuMode = 'headlessgl' | 'webgl2' | 'webgl';

export type GpuContext =
  | { readonly ok: true; readonly gpu: GPU; readonly mode: GpuMode; readonly kernelClass: string }
  | { readonly ok: false; readonly reason: string; readonly kernelClass?: string };

const GL_KERNEL_MODES: ReadonlyMap<string, GpuMode> = new Map([
  ['HeadlessGLKernel', 'headlessgl'],
  ['WebGL2Kernel', 'webgl2'],
  ['WebGLKernel', 'webgl'],
]);

/** The class that really ran a kernel (gpu.js may swap in a CPU fallback at build time). */
export function kernelClassOf(kernel: IKernelRunShortcut): string {
  return kernel.kernel.constructor.name;
}

let cached: GpuContext | undefined;

/** Lazily opens the single GPU instance; the result (including a failure) is cached. */
export function getGpuContext(): GpuContext {
  cached ??= openGpuContext();
  return cached;
}

const SETUP_HINT = 'run .ci/setup-gl.sh (installs libxi-dev etc. and builds gl@8.1.6)';

const NO_DISPLAY = 'no display: run under xvfb-run -a (DISPLAY is not set)';

/** In Node, checks that headless-gl loads and can create a context before gpu.js picks a backend. */
function headlessGlProblem(): string | null {
  if (typeof process === 'undefined' || !process.versions?.node) return null; // browser: WebGL path
  const display = process.env.DISPLAY;
  let createGl: (w: number, h: number) => unknown;
  try {
    // gl is gpu.js's optional dependency: resolve it the way gpu.js does
    createGl = requireNextToGpuJs('gl') as typeof createGl;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const why = /Cannot find module 'gl'/.test(msg)
      ? 'gl is not installed (npm drops this optional dependency when its native build fails)'
      : `gl native module not built or not loadable (${msg.split('\n')[0]})`;
    return `${why}: ${SETUP_HINT}${display ? '' : `; also ${NO_DISPLAY}`}`;
  }
  if (!display) return NO_DISPLAY;
  const ctx = createGl(2, 2);
  if (ctx === null || ctx === undefined) {
    return `gl could not create a WebGL context on DISPLAY=${display} (is the X server running? are libgl1-mesa-dri/libglx-mesa0 installed?)`;
  }
  (ctx as { getExtension(n: string): { destroy(): void } | null }).getExtension('STACKGL_destroy_context')?.destroy();
  return null;
}

function dispose(gpu: GPU): void {
  Promise.resolve(gpu.destroy()).catch(() => undefined);
}

function openGpuContext(): GpuContext {
  const loaded = loadGpuJs();
  if (!loaded.ok) return loaded;
  const problem = headlessGlProblem();
  if (problem !== null) return { ok: false, reason: problem };

  let gpu: GPU;
  try {
    gpu = new loaded.gpujs.GPU({ mode: 'gpu' });
  } catch (e) {
    return { ok: false, reason: `gpu.js could not start: ${e instanceof Error ? e.message : String(e)}` };
  }
  const chosen = gpu.Kernel.name;
  if (!GL_KERNEL_MODES.has(chosen)) {
    dispose(gpu);
    return {
      ok: false,
      kernelClass: chosen,
      reason: `gpu.js selected ${chosen}, not a GL kernel (no usable WebGL context)`,
    };
  }

  // The probe: a string-source kernel, like the ones the compiler emits.
  const input = new Float32Array([0, 1, 2.5, -3]);
  const expected = [1, 3, 6, -5];
  try {
    const probe = gpu.createKernel('function (a) { return a[this.thread.x] * 2.0 + 1.0; }', {
      output: [input.length],
      precision: 'single',
    });
    const out = probe(input) as Float32Array;
    const kernelClass = kernelClassOf(probe);
    probe.destroy();
    const mode = GL_KERNEL_MODES.get(kernelClass);
    if (mode === undefined) {
      dispose(gpu);
      return { ok: false, kernelClass, reason: `probe kernel ran on ${kernelClass}, not a GL kernel` };
    }
    if (!expected.every((v, i) => out[i] === v)) {
      dispose(gpu);
      return {
        ok: false,
        kernelClass,
        reason: `probe kernel on ${kernelClass} returned [${Array.from(out)}], expected [${expected}]`,
      };
    }
    return { ok: true, gpu, mode, kernelClass };
  } catch (e) {
    dispose(gpu);
    return {
      ok: false,
      kernelClass: chosen,
      reason: `probe kernel failed on ${chosen}: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}
