// Data-parallel training steps (src/optim/data-parallel.ts): the workers' combined step equals the
// one-graph step up to float rounding, is deterministic for a thread count, and the parallel
// plumbing (shards, plain graphs over the wire) is exact.
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { draw, presets } from '../src/models/draw/index.ts';
import { dataSpecs, dataBatchAxes } from '../src/models/draw/model.ts';
import { adam, initTrainState, advance } from '../src/optim/index.ts';
import { stepRunner, shardOf, shardSizes } from '../src/optim/data-parallel.ts';
import { fromPlainGraph, toPlainGraph } from '../src/compiler/graph.ts';
import { fillNormal, seedRng } from '../src/dsl/rng.ts';
import { trace } from '../src/compiler/trace.ts';
import { sum, mul } from '../src/dsl/ops.ts';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { remoteProgram } from '../src/parallel/remote-program.ts';
import { nodeWorkerPort } from '../src/parallel/port.ts';

const config = { ...presets.mnistFast, T: 3, encSize: 16, decSize: 16, zSize: 4, writeN: 3 };
const model = draw(config);
const batch = 9;
const optimizer = adam({ lr: 1e-2 });
const data = () => {
  const x = new Float32Array(batch * 784).map((_, i) => ((i * 7919) % 13 < 3 ? 1 : 0));
  const eps = new Float32Array(config.T * batch * config.zSize);
  fillNormal(seedRng(5), eps);
  return { x, eps };
};

const runSteps = async (threads: number, steps: number) => {
  const runner = await stepRunner(model.loss, model.paramShapes, dataSpecs(config, batch), optimizer, {
    clip: 10,
    threads,
    batchAxes: dataBatchAxes,
  });
  try {
    let state = initTrainState(model.init(3), model.paramShapes, optimizer);
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) {
      const out = await runner.run(state, data());
      losses.push(out.loss[0]);
      state = advance(state, out);
    }
    return { state, losses, runner };
  } finally {
    runner.dispose();
  }
};

describe('data-parallel training step', () => {
  it('shards split the batch axis exactly and as evenly as can be', () => {
    expect(shardSizes(100, 2)).toEqual([50, 50]);
    expect(shardSizes(10, 3)).toEqual([4, 3, 3]);
    const t = Float32Array.from({ length: 2 * 5 * 3 }, (_, i) => i); // [2, 5, 3], batch axis 1
    expect(Array.from(shardOf(t, [2, 5, 3], 1, 1, 2))).toEqual([3, 4, 5, 6, 7, 8, 18, 19, 20, 21, 22, 23]);
  });

  it('a graph survives the trip as plain data (and a corrupted one is refused)', () => {
    const g = trace(({ a, b }) => sum(mul(a, b)), { a: [3], b: [3] });
    if (E.isLeft(g)) throw g.left;
    const plain = structuredClone(toPlainGraph(g.right));
    const back = fromPlainGraph(plain);
    expect(E.isRight(back) && back.right.nodes.size).toBe(g.right.nodes.size);
    const broken = {
      ...plain,
      nodes: plain.nodes.map((n, i) => (i === plain.nodes.length - 1 ? { ...n, shape: [7] } : n)),
    };
    expect(E.isLeft(fromPlainGraph(broken))).toBe(true);
  });

  it('2 and 3 threads (unequal shards) agree with the one-graph step, and each is deterministic', async () => {
    const one = await runSteps(1, 3);
    const two = await runSteps(2, 3);
    const three = await runSteps(3, 3);
    expect(two.runner.threads).toBe(2);
    for (const other of [two, three]) {
      other.losses.forEach((l, i) => expect(Math.abs(l - one.losses[i])).toBeLessThan(1e-3 * Math.abs(one.losses[i])));
      for (const [name, v] of Object.entries(one.state.params)) {
        const w = other.state.params[name];
        const scale = Math.max(...Array.from(v, Math.abs), 1e-3);
        const worst = Math.max(...Array.from(v, (x, i) => Math.abs(x - w[i])));
        expect(worst / scale, name).toBeLessThan(1e-3);
      }
    }
    const again = await runSteps(2, 3);
    expect(again.losses).toEqual(two.losses);
    for (const [name, v] of Object.entries(two.state.params))
      expect(Array.from(again.state.params[name]), name).toEqual(Array.from(v));
  }, 120_000);

  it('a worker that exits without an error rejects its pending request instead of leaving it unanswered', async () => {
    const script = join(mkdtempSync(join(tmpdir(), 'draw-worker-')), 'exits.mjs');
    writeFileSync(
      script,
      "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\n",
    );
    const g = trace(({ x }) => sum(mul(x, x)), { x: [3] });
    if (E.isLeft(g)) throw g.left;
    await expect(remoteProgram(g.right, {}, () => nodeWorkerPort(pathToFileURL(script)))).rejects.toThrow(
      'worker exited (code 3)',
    );
  }, 30_000);

  it('a remote program gives the local outputs through the shared buffer and through messages alike, and names a wrong feed', async () => {
    const g = trace(({ a, b }) => ({ s: sum(mul(a, b)), p: mul(a, b) }), { a: [5], b: [5] });
    if (E.isLeft(g)) throw g.left;
    const a = Float32Array.of(1, 2, 3, 4, 5),
      b = Float32Array.of(0.5, -1, 2, 0.25, 3);
    const want = { s: [0.5 - 2 + 6 + 1 + 15], p: [0.5, -2, 6, 1, 15] };
    const runBoth = async () => {
      const r = await remoteProgram(g.right);
      try {
        const first = await r.run({ a, b });
        const got = { s: Array.from(first.s), p: Array.from(first.p) };
        await expect(r.run({ a: Float32Array.of(1, 2), b })).rejects.toThrow(
          "input 'a': expected 5 values for shape [5], got 2",
        );
        return got;
      } finally {
        r.dispose();
      }
    };
    expect(await runBoth()).toEqual(want); // Node: SharedArrayBuffer
    const page = globalThis as { crossOriginIsolated?: boolean };
    page.crossOriginIsolated = false; // a page without cross-origin isolation: messages
    try {
      expect(await runBoth()).toEqual(want);
    } finally {
      delete page.crossOriginIsolated;
    }
  }, 30_000);

  it('refuses more threads than rows in a batch', async () => {
    await expect(
      stepRunner(model.loss, model.paramShapes, dataSpecs(config, batch), optimizer, {
        threads: 10,
        batchAxes: dataBatchAxes,
      }),
    ).rejects.toThrow(/threads must be an integer from 1 to the batch size 9, got 10/);
  });
});
