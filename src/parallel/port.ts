// One message channel between a thread and a worker, whatever the runtime: Node's worker_threads or a
// browser's Web Workers. Node's side is reached through process.getBuiltinModule rather than an
// import, so this file bundles for browsers, where the page hands in its own workers.

/** The main thread's end of a worker. */
export interface WorkerPort {
  post(message: unknown, transfer?: readonly ArrayBuffer[]): void;
  /** Registers the one message handler and the one error handler. */
  listen(onMessage: (message: unknown) => void, onError: (error: Error) => void): void;
  terminate(): void;
}

/** Starts a worker running `program-worker` (see spawnProgramWorker). */
export type SpawnWorker = () => WorkerPort;

/** A browser Web Worker (e.g. Vite's `import ProgramWorker from 'draw-ts/worker?worker'`) as a WorkerPort. */
export const webWorkerPort = (w: Worker): WorkerPort => ({
  post: (m, transfer = []) => w.postMessage(m, transfer as ArrayBuffer[]),
  listen: (onMessage, onError) => {
    w.onmessage = (e) => onMessage(e.data);
    w.onerror = (e) => onError(new Error(`worker: ${e.message}`));
  },
  terminate: () => w.terminate(),
});

type NodeWorker = {
  postMessage(m: unknown, transfer?: readonly ArrayBuffer[]): void;
  on(event: 'message' | 'error' | 'exit', fn: (x: never) => void): void;
  terminate(): Promise<number>;
  unref(): void;
};
type NodeWorkerThreads = {
  Worker: new (url: URL | string, opts: { eval?: boolean }) => NodeWorker;
  parentPort: {
    postMessage(m: unknown, transfer?: readonly ArrayBuffer[]): void;
    on(event: 'message', fn: (m: unknown) => void): void;
  } | null;
};
const builtin = (id: string): unknown =>
  (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.(id);
const workerThreads = (): NodeWorkerThreads | undefined =>
  builtin('node:worker_threads') as NodeWorkerThreads | undefined;

/** A worker program that registers tsx's loader (its ES-module API), then imports the TypeScript module at `url`. */
const viaTsx = (url: URL): string => {
  type Require = ((id: string) => unknown) & { resolve(id: string): string };
  const { createRequire } = builtin('node:module') as { createRequire(from: string): Require };
  const { pathToFileURL } = builtin('node:url') as { pathToFileURL(path: string): URL };
  const require = createRequire(import.meta.url);
  const { exports } = require('tsx/package.json') as { exports: Record<string, { import: { default: string } }> };
  const api = new URL(exports['./esm/api'].import.default, pathToFileURL(require.resolve('tsx/package.json'))).href;
  return `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(url.href)}); });`;
};

/**
 * In Node, a worker_threads Worker running the module at `url`, unref'd so it never keeps a process
 * alive. A TypeScript module (this checkout, run through tsx or vitest) starts with tsx's loader
 * (a dev dependency), which a worker does not inherit.
 */
export const nodeWorkerPort = (url: URL): WorkerPort => {
  const threads = workerThreads();
  if (!threads) throw new Error('nodeWorkerPort: not Node (pass spawnWorker with a Web Worker)');
  const w = url.pathname.endsWith('.ts')
    ? new threads.Worker(viaTsx(url), { eval: true })
    : new threads.Worker(url, {});
  w.unref();
  let terminated = false;
  return {
    post: (m, transfer = []) => w.postMessage(m, transfer),
    listen: (onMessage, onError) => {
      w.on('message', onMessage as (x: never) => void);
      w.on('error', onError as (x: never) => void);
      // a worker that ends without an error event (process.exit in it, or killed) would otherwise
      // leave the run it was given unanswered for ever
      w.on(
        'exit',
        ((code: number) => terminated || onError(new Error(`worker exited (code ${code})`))) as (x: never) => void,
      );
    },
    terminate: () => {
      terminated = true;
      void w.terminate();
    },
  };
};

/** The worker's end: its parent (Node) or its global scope (a Web Worker). */
export const parentPort = (): {
  post(m: unknown, transfer?: readonly ArrayBuffer[]): void;
  listen(fn: (m: unknown) => void): void;
} => {
  const node = workerThreads()?.parentPort;
  if (node) return { post: (m, t = []) => node.postMessage(m, t), listen: (fn) => node.on('message', fn) };
  const scope = globalThis as unknown as {
    postMessage(m: unknown, t: ArrayBuffer[]): void;
    onmessage: ((e: { data: unknown }) => void) | null;
  };
  return {
    post: (m, t = []) => scope.postMessage(m, t as ArrayBuffer[]),
    listen: (fn) => {
      scope.onmessage = (e) => fn(e.data);
    },
  };
};
