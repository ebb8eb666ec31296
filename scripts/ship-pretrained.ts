// Writes a shipped model (pretrained/<file> of PRETRAINED in src/node/pretrained.ts) from a training run:
// its checkpoint's meta and parameters, without the optimiser state, plus what the run reached
// (`--note KEY=VALUE`, e.g. the test bound).
//   npx tsx scripts/ship-pretrained.ts paper results/paper-t64/checkpoint.safetensors [--note testBound=91.5 ...]
import * as E from 'fp-ts/lib/Either.js';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.ts';
import { isOptName } from '../src/optim/index.ts';
import { PRETRAINED, loadPretrained, pretrainedName } from '../src/node/pretrained.ts';

const [nameArg, from, ...rest] = process.argv.slice(2);
if (!nameArg || !from)
  throw new Error(`usage: ship-pretrained.ts ${Object.keys(PRETRAINED).join('|')} CHECKPOINT [--note KEY=VALUE ...]`);
const name = pretrainedName(nameArg);
if (E.isLeft(name)) throw name.left;
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
const tensors = Object.fromEntries(Object.entries(ck.right.tensors).filter(([n]) => !isOptName(n)));
const file = PRETRAINED[name.right];
saveCheckpoint(file, { meta: { ...(ck.right.meta as object), shippedFrom: from, ...notes }, tensors });
const back = loadPretrained(name.right);
if (E.isLeft(back)) throw back.left;
console.log(`wrote ${file}: ${Object.keys(tensors).length} tensors, step ${back.right.meta.step}`);
