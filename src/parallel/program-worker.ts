// A worker that compiles one graph and runs it on request (the `draw-ts/worker` entry). Outputs are
// copied out of the program's buffers and transferred, so the program keeps its own for the next run.
import * as E from 'fp-ts/lib/Either.js';
import { fromPlainGraph } from '../compiler/graph.ts';
import { compile, type Program } from '../compiler/compile.ts';
import { parentPort } from './port.ts';
import type { FromWorker, ToWorker } from './protocol.ts';

const port = parentPort();
const reply = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.post(m, transfer);
let program: Program | undefined;

port.listen((message) => {
  const m = message as ToWorker;
  try {
    if (m.type === 'compile') {
      const p = E.flatMap(fromPlainGraph(m.graph), (g) => compile(g, m.options));
      if (E.isLeft(p)) return reply({ type: 'error', message: p.left.message });
      program = p.right;
      return reply({ type: 'compiled', kernels: program.stats.kernels, mode: program.mode });
    }
    if (!program) return reply({ type: 'error', message: 'run before compile' });
    const outputs = Object.fromEntries(Object.entries(program.run(m.feeds)).map(([k, v]) => [k, Float32Array.from(v)]));
    reply({ type: 'result', outputs }, Object.values(outputs).map((v) => v.buffer as ArrayBuffer));
  } catch (e) {
    reply({ type: 'error', message: e instanceof Error ? e.message : String(e) });
  }
});
