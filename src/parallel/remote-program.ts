// A compiled program that lives in a worker: the graph travels as plain data, the worker compiles it
// with the same backend, and each run hands it feeds and awaits outputs. Where SharedArrayBuffer can
// be posted (Node; a cross-origin-isolated page), feeds and outputs go through one shared buffer,
// so a run posts no data and allocates nothing; elsewhere they travel in the messages. One run at a
// time per worker.
import type { Graph } from '../compiler/graph.ts';
import { toPlainGraph } from '../compiler/graph.ts';
import type { CompileOptions } from '../compiler/compile.ts';
import { checkFeeds } from '../compiler/evaluate.ts';
import { size } from '../dsl/shape.ts';
import { nodeWorkerPort, type SpawnWorker, type WorkerPort } from './port.ts';
import type { FromWorker, SharedExchange, ToWorker } from './protocol.ts';

export interface RemoteProgram {
  readonly kernels: number;
  readonly mode: string;
  /** Runs the program in its worker; the outputs are valid until the next run (copy them to keep them). */
  run(feeds: Readonly<Record<string, Float32Array>>): Promise<Record<string, Float32Array>>;
  dispose(): void;
}

/** Whether a SharedArrayBuffer can be made and posted here (a page must be cross-origin isolated). */
const canShare = (): boolean =>
  typeof SharedArrayBuffer !== 'undefined' &&
  (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;

/** One shared buffer holding `graph`'s inputs and outputs, each at its float offset. */
const sharedExchange = (graph: Graph): SharedExchange => {
  let at = 0;
  const layout = (names: Iterable<[string, number]>) =>
    Object.fromEntries(
      [...names].map(([name, id]) => {
        const n = size(graph.nodes.get(id)!.shape);
        at += n;
        return [name, [at - n, n] as const];
      }),
    );
  const feeds = layout(graph.inputs.entries());
  const outputs = layout(graph.outputs.entries());
  return { buffer: new SharedArrayBuffer(at * 4), feeds, outputs };
};

/** The exchange's feeds and outputs as float32 views. */
export const sharedViews = (
  x: SharedExchange,
): { feeds: Record<string, Float32Array>; outputs: Record<string, Float32Array> } => {
  const views = (l: SharedExchange['feeds']) =>
    Object.fromEntries(Object.entries(l).map(([k, [at, n]]) => [k, new Float32Array(x.buffer, at * 4, n)]));
  return { feeds: views(x.feeds), outputs: views(x.outputs) };
};

/** In Node: a worker_threads worker running this package's program worker. */
export const spawnProgramWorker: SpawnWorker = () =>
  nodeWorkerPort(new URL(`./program-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

/** Compiles `graph` in a new worker; rejects with the worker's one-line reason if it cannot. */
export const remoteProgram = (
  graph: Graph,
  options: CompileOptions = {},
  spawn: SpawnWorker = spawnProgramWorker,
): Promise<RemoteProgram> => {
  const port: WorkerPort = spawn();
  let pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  let failed: Error | undefined;
  port.listen(
    (m) => {
      const p = pending;
      pending = undefined;
      p?.resolve(m as FromWorker);
    },
    (e) => {
      failed = e;
      const p = pending;
      pending = undefined;
      p?.reject(e);
    },
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
  const shared = canShare() ? sharedExchange(graph) : undefined;
  const views = shared && sharedViews(shared);
  return ask({ type: 'compile', graph: toPlainGraph(graph), options, shared }).then(
    (r) => {
      if (r.type !== 'compiled') throw new Error(`worker: unexpected ${r.type}`);
      return {
        kernels: r.kernels,
        mode: r.mode,
        run: async (feeds) => {
          if (views) {
            const bad = checkFeeds(graph, feeds);
            if (bad) throw bad;
            for (const [k, v] of Object.entries(views.feeds)) v.set(feeds[k]);
          }
          const out = await ask(views ? { type: 'run' } : { type: 'run', feeds });
          if (out.type !== 'result') throw new Error(`worker: unexpected ${out.type}`);
          return views ? views.outputs : (out.outputs as Record<string, Float32Array>);
        },
        dispose: () => port.terminate(),
      };
    },
    (e) => {
      port.terminate();
      throw e;
    },
  );
};
