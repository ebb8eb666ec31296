// A worker that compiles one graph and runs it on request (the `draw-ts/worker` entry). Feeds and
// outputs travel in messages (outputs copied out of the program's buffers and transferred, so the
// program keeps its own for the next run), or through a SharedArrayBuffer the thread set up.
import * as E from 'fp-ts/lib/Either.js';
import { fromPlainGraph } from '../compiler/graph.ts';
import { compile, type Program } from '../compiler/compile.ts';
import { parentPort } from './port.ts';
import { sharedViews } from './remote-program.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

const port = parentPort();
const reply = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.post(m, transfer);
let program: Program | undefined;
let shared: ReturnType<typeof sharedViews> | undefined;

port.listen((message) => {
  const m = message as ToWorker;
  try {
    if (m.type === 'compile') {
      const p = E.flatMap(fromPlainGraph(m.graph), (g) => compile(g, m.options));
      if (E.isLeft(p)) return reply({ type: 'error', message: p.left.message });
      program = p.right;
      shared = m.shared && sharedViews(m.shared);
      return reply({ type: 'compiled', kernels: program.stats.kernels, mode: program.mode });
    }
    if (!program) return reply({ type: 'error', message: 'run before compile' });
    if (!m.feeds) {
      if (!shared) return reply({ type: 'error', message: 'run without feeds and without shared buffers' });
      const out = program.run(shared.feeds);
      for (const [k, v] of Object.entries(shared.outputs)) v.set(out[k]);
      return reply({ type: 'result' });
    }
    const outputs = Object.fromEntries(Object.entries(program.run(m.feeds)).map(([k, v]) => [k, Float32Array.from(v)]));
    reply(
      { type: 'result', outputs },
      Object.values(outputs).map((v) => v.buffer as ArrayBuffer),
    );
  } catch (e) {
    reply({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
});
