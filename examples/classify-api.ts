// DRAW's attentive read in another model: the attention classifier of the paper's §4.1, trained from
// your own code (`npx tsx examples/classify-api.ts`). Here on MNIST digits, three 8×8 glimpses each;
// `ramPresets.cluttered8` with `loadSynthetic('cluttered')` is the paper's task (the CLI's `classify`).
// Any labelled images serve as data: { images, n, rows, cols, labels }, or a synthetic source.
import * as E from 'fp-ts/lib/Either.js';
import { ram, trainClassifier } from '../src/index.ts';
import { loadMnist } from '../src/node/index.ts';

const { train, validation } = loadMnist({ binarisation: 'grey', limit: 5000 }); // 5,000 digits per split: a quick look
const model = ram({ A: 28, B: 28, channels: 1, T: 3, N: 8, hidden: 64, classes: 10 });
const result = await trainClassifier(
  model,
  { train, validation },
  {
    batch: 50,
    steps: 300,
    lr: 1e-2,
    seed: 3,
    evalEvery: 100,
    valImages: 500,
    onEval: ({ step, validation: v }) =>
      console.log(`step ${step}: validation error ${(100 * v.error).toFixed(1)}%, cross-entropy ${v.loss.toFixed(3)}`),
  },
);
if (E.isLeft(result)) throw result.left; // a run that cannot start: bad options, images of the wrong size...
const { history, state } = result.right;
console.log(
  `${state.step} steps; training cross-entropy ${history[0].loss.toFixed(3)} → ${history[history.length - 1].loss.toFixed(3)}`,
);
