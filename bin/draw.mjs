#!/usr/bin/env node
// The `draw-ts` command. An installed package runs its compiled CLI (dist/, built at pack time); a
// checkout without a build runs the TypeScript sources through tsx, a dev dependency.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(built)) await import(built.href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
