// A compiled program that lives in a worker: the graph travels as plain data, the worker compiles it
// with the same backend, and each run posts feeds and awaits outputs. One run at a time per worker.
import type { Graph } from '../compiler/graph.ts';
import { toPlainGraph } from '../compiler/graph.ts';
import type { CompileOptions } from '../compiler/compile.ts';
import { nodeWorkerPort, type SpawnWorker, type WorkerPort } from './port.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

export interface RemoteProgram {
  readonly kernels: number;
  readonly mode: string;
  /** Runs the program in its worker; the outputs are the caller's to keep. */
  run(feeds: Readonly<Record<string, Float32Array>>): Promise<Record<string, Float32Array>>;
  dispose(): void;
}

/** In Node: a worker_threads worker running this package's program worker. */
export const spawnProgramWorker: SpawnWorker = () =>
  nodeWorkerPort(new URL(`./program-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

/** Compiles `graph` in a new worker; rejects with the worker's one-line reason if it cannot. */
export const remoteProgram = (graph: Graph, options: CompileOptions = {}, spawn: SpawnWorker = spawnProgramWorker): Promise<RemoteProgram> => {
  const port: WorkerPort = spawn();
  let pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  let failed: Error | undefined;
  port.listen(
    (m) => { const p = pending; pending = undefined; p?.resolve(m as FromWorker); },
    (e) => { failed = e; const p = pending; pending = undefined; p?.reject(e); },
  );
  const ask = (m: ToWorker, transfer?: ArrayBuffer[]): Promise<FromWorker> => {
    if (failed) return Promise.reject(failed);
    if (pending) return Promise.reject(new Error('remote program: one run at a time'));
    return new Promise<FromWorker>((resolve, reject) => {
      pending = { resolve, reject };
      port.post(m, transfer);
    }).then((r) => {
      if (r.type === 'error') throw new Error(`worker: ${r.message}`);
      return r;
    });
  };
  return ask({ type: 'compile', graph: toPlainGraph(graph), options }).then(
    (r) => {
      if (r.type !== 'compiled') throw new Error(`worker: unexpected ${r.type}`);
      return {
        kernels: r.kernels,
        mode: r.mode,
        run: async (feeds) => {
          const out = await ask({ type: 'run', feeds });
          if (out.type !== 'result') throw new Error(`worker: unexpected ${out.type}`);
          return out.outputs as Record<string, Float32Array>;
        },
        dispose: () => port.terminate(),
      };
    },
    (e) => { port.terminate(); throw e; },
  );
};
