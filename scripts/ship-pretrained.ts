// Writes pretrained/draw-fast.safetensors from a training run: its checkpoint's meta and parameters,
// without the optimiser state, plus what the run reached (`--note KEY=VALUE`, e.g. the test bound).
//   npx tsx scripts/ship-pretrained.ts runs/pretrained/checkpoint.safetensors [--note testBound=101.2 ...]
import * as E from 'fp-ts/lib/Either.js';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.ts';
import { isOptName } from '../src/optim/index.ts';
import { PRETRAINED_FILE, loadPretrained } from '../src/node/pretrained.ts';

const [from, ...rest] = process.argv.slice(2);
if (!from) throw new Error('usage: ship-pretrained.ts CHECKPOINT [--note KEY=VALUE ...]');
const ck = loadCheckpoint(from);
if (E.isLeft(ck)) throw new Error(ck.left.message);
const notes = Object.fromEntries(
  rest
    .filter((a) => a !== '--note')
    .map((a) => {
      const [k, v] = a.split('=');
      return [k, Number.isFinite(Number(v)) ? Number(v) : v];
    }),
);
const tensors = Object.fromEntries(Object.entries(ck.right.tensors).filter(([name]) => !isOptName(name)));
saveCheckpoint(PRETRAINED_FILE, { meta: { ...(ck.right.meta as object), shippedFrom: from, ...notes }, tensors });
const back = loadPretrained();
if (E.isLeft(back)) throw back.left;
console.log(`wrote ${PRETRAINED_FILE}: ${Object.keys(tensors).length} tensors, step ${back.right.meta.step}`);
