// The tests' system dependencies: WebGL (headless-gl, which needs .ci/setup-gl.sh and a display) and
// Debian's Chromium. Where one is missing, `npm test` skips the tests that need it and prints why;
// under CI (CI=true, which .ci/run sets) a missing dependency fails those tests instead, so a CI run
// never passes by skipping.
import { existsSync } from 'node:fs';
import { it, type TestFunction } from 'vitest';
import type { BackendName } from '../src/compiler/compile.ts';
import { getGpuContext } from '../src/compiler/backends/gpujs/context.ts';

export const inCI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());

export interface Dependency {
  readonly name: string;
  /** Why it cannot be used here, or undefined when it can. */
  readonly missing: () => string | undefined;
}

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export const webgl: Dependency = {
  name: 'WebGL (headless-gl)',
  missing: () => {
    const ctx = getGpuContext();
    return ctx.ok ? undefined : ctx.reason;
  },
};

export const chromium: Dependency = {
  name: 'Chromium',
  missing: () =>
    existsSync(CHROMIUM)
      ? undefined
      : `no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM`,
};

const reported = new Set<string>();
const report = (dep: Dependency, why: string) => {
  if (reported.has(dep.name)) return;
  reported.add(dep.name);
  console.warn(`[tests] skipping what needs ${dep.name}: ${why}`);
};

/** `it` where `dep` is there; elsewhere a skip whose reason is printed, or under CI a failing test. */
export const itNeeds =
  (dep: Dependency) =>
  (name: string, fn: TestFunction, timeout?: number): void => {
    const why = dep.missing();
    if (!why) it(name, fn, timeout);
    else if (inCI)
      it(name, () => {
        throw new Error(`${dep.name} is missing, and CI runs every test: ${why}`);
      });
    else {
      report(dep, why);
      it.skip(`${name} (needs ${dep.name})`, fn);
    }
  };

/** The backends to test here: gpujs only where WebGL starts, or always under CI (where it then fails with the reason). */
export const availableBackends = (): BackendName[] => {
  const why = webgl.missing();
  if (why && !inCI) report(webgl, why);
  return why && !inCI ? ['cpu', 'gpujs-cpu'] : ['cpu', 'gpujs', 'gpujs-cpu'];
};
