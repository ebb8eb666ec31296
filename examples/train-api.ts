// Training DRAW from your own code: plain Float32Array images in, callbacks out, a signal to stop.
// Nothing here touches a file, so the same code runs in a browser page (`npx tsx examples/train-api.ts`).
import * as E from 'fp-ts/lib/Either.js';
import { draw, train, presets, fillUniform, seedRng } from '../src/index.ts';

const model = draw({ ...presets.mnistFast, T: 4, encSize: 32, decSize: 32, zSize: 8 });
const n = 200;
const pixels = new Float32Array(n * 28 * 28);
fillUniform(seedRng(1), pixels); // stand-in images; use your own (MNIST, drawings, ...) here
const images = { images: pixels.map((v) => (v < 0.15 ? 1 : 0)), n, rows: 28, cols: 28 };

const stop = new AbortController(); // stop.abort() ends the run after the current step
const result = await train(
  model,
  { train: images, validation: images },
  {
    batch: 20,
    steps: 40,
    lr: 1e-2,
    seed: 7,
    evalEvery: 20,
    valImages: 40,
    signal: stop.signal,
    onStep: ({ step, loss }) => step % 10 === 0 && console.log(`step ${step}: loss ${loss.toFixed(1)} nats`),
    onEval: ({ step, validation }) => console.log(`step ${step}: validation bound ${validation.bound.toFixed(1)} nats`),
  },
);
if (E.isLeft(result)) throw result.left; // a run that cannot start: bad options, images of the wrong size...
const { stopped, state, history } = result.right;
console.log(
  `${stopped} after ${state.step} steps; first loss ${history[0].loss.toFixed(1)}, last ${history[history.length - 1].loss.toFixed(1)}`,
);
