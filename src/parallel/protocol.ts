// The messages between a thread and a program worker (program-worker.ts).
import type { PlainGraph } from '../compiler/graph.ts';
import type { CompileOptions } from '../compiler/compile.ts';

/**
 * Feeds and outputs of a worker's program in one SharedArrayBuffer, at float offsets: a run then
 * posts no data (each side copies into and out of the shared views), so no step allocates.
 */
export interface SharedExchange {
  readonly buffer: SharedArrayBuffer;
  readonly feeds: Readonly<Record<string, readonly [number, number]>>;
  readonly outputs: Readonly<Record<string, readonly [number, number]>>;
}

export type ToWorker =
  | {
      readonly type: 'compile';
      readonly graph: PlainGraph;
      readonly options: CompileOptions;
      readonly shared?: SharedExchange;
    }
  | { readonly type: 'run'; readonly feeds?: Readonly<Record<string, Float32Array>> };

export type FromWorker =
  | { readonly type: 'compiled'; readonly kernels: number; readonly mode: string }
  | { readonly type: 'result'; readonly outputs?: Readonly<Record<string, Float32Array>> }
  | { readonly type: 'error'; readonly message: string };
