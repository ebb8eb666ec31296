// A look at what a model trains on: a PNG grid of a synthetic data set's test images, drawn from
// MNIST by the library's public generators. `npx tsx examples/data-grid.ts two-digit out.png 64 100`
// writes test images 100..163 of the two-digit set (kinds: cluttered, two-digit, colour).
import { gatherBatch, gatherLabels, type SyntheticKind } from '../src/index.ts';
import { loadSynthetic, writeImageGrid } from '../src/node/index.ts';

const [kind = 'two-digit', out = 'data.png', count = '64', first = '0'] = process.argv.slice(2);
if (!['cluttered', 'two-digit', 'colour'].includes(kind)) {
  console.error(`unknown data set '${kind}' (cluttered, two-digit, colour)`);
  process.exit(2);
}
const test = loadSynthetic(kind as SyntheticKind, { binarisation: 'sample' }).test;
const from = Number(first);
const n = Math.max(0, Math.min(Number(count), test.n - from));
const indices = Int32Array.from({ length: n }, (_, i) => from + i);
writeImageGrid(out, gatherBatch(test, indices), {
  rows: test.rows,
  cols: test.cols,
  channels: test.channels ?? 1,
  scale: 3,
  count: n,
  gridCols: Math.ceil(Math.sqrt(n)),
});
console.log(
  `${out}: ${n} ${kind} test images from #${from}, labels ${Array.from(gatherLabels(test, indices)).join(' ')}`,
);
