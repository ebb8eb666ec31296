import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../compile.ts';
import { CompileError } from '../compile.ts';

export const gpujsBackend = (mode: 'gpu' | 'cpu'): Backend => ({
  lower: () => E.left(new CompileError(`gpujs backend (${mode}) is not built yet`)),
});
