// Writes digits.bin for the browser training page: the first N MNIST training digits (default 100;
// `npx tsx examples/browser-train/digits.ts [N] [OUT]`), binarised at 127, one byte (0 or 255) a pixel.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadMnist } from '../../src/node/index.ts';
import { pixelValues } from '../../src/index.ts';

/** The first `n` training digits as bytes, 0 or 255. */
export const digitBytes = (n: number): Uint8Array => {
  const { train } = loadMnist({ binarisation: 'threshold', limit: n });
  return Uint8Array.from(pixelValues(train.images), (v) => v * 255);
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 100);
  const out = process.argv[3] ?? join(import.meta.dirname, 'public', 'digits.bin');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, digitBytes(n));
  console.log(`wrote ${n} digits to ${out}`);
}
