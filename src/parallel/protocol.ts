// The messages between a thread and a program worker (program-worker.ts).
import type { PlainGraph } from '../compiler/graph.ts';
import type { CompileOptions } from '../compiler/compile.ts';

export type ToWorker =
  | { readonly type: 'compile'; readonly graph: PlainGraph; readonly options: CompileOptions }
  | { readonly type: 'run'; readonly feeds: Readonly<Record<string, Float32Array>> };

export type FromWorker =
  | { readonly type: 'compiled'; readonly kernels: number; readonly mode: string }
  | { readonly type: 'result'; readonly outputs: Readonly<Record<string, Float32Array>> }
  | { readonly type: 'error'; readonly message: string };
