// Which backends this machine can run. The GPU backend is listed only where it really starts; where
// it cannot, the reason is printed once and its tests are not run, never silently swapped for another mode.
import type { BackendName } from '../src/compiler/compile.ts';
import { getGpuContext } from '../src/compiler/gpu-context.ts';

let reported = false;

export const availableBackends = (): BackendName[] => {
  const gpu = getGpuContext();
  if (!gpu.ok && !reported) {
    reported = true;
    console.warn(`[tests] gpujs (WebGL) backend skipped: ${gpu.reason}`);
  }
  return gpu.ok ? ['cpu', 'gpujs', 'gpujs-cpu'] : ['cpu', 'gpujs-cpu'];
};
