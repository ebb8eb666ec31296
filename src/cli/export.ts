// `draw export`: a trained generator as a folder of gpu.js kernels, weights and a small runtime that
// needs only gpu.js (see src/export/export.ts for the layout).
import { dirname, join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { exportGenerator, gpuBrowserBuild, EXPORT_FILES } from '../export/export.ts';
import { ensureOutDir, loadModelRun, modelSource, pretrainedOf } from './session.ts';
import { type Flags, int } from './options.ts';

/** `s` as one word of a POSIX shell command line. */
const shellWord = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export const exportCommand = async (f: Flags, operands: readonly string[] = []): Promise<Record<string, unknown>> => {
  const run = loadModelRun(f, operands);
  const gpujs = gpuBrowserBuild(); // before the folder is made
  if (E.isLeft(gpujs)) throw gpujs.left;
  const out = ensureOutDir(
    f.out ??
      join(f.pretrained ? join('runs/pretrained', pretrainedOf(f, operands)!) : dirname(f.checkpoint!), 'export'),
  );
  const manifest = await exportGenerator(run.model, run.state.params, out, {
    batch: int(f, 'batch') ?? 16,
    source: { checkpoint: modelSource(f, operands), step: run.state.step, seed: run.meta.seed },
  });
  if (E.isLeft(manifest)) throw manifest.left;
  return {
    command: 'export',
    checkpoint: modelSource(f, operands),
    step: run.state.step,
    out,
    batch: manifest.right.batch,
    files: EXPORT_FILES.map((name) => join(out, name)),
    weightsBytes: manifest.right.weights.bytes,
    // the folder needs its own gpu.js (package.json names it) wherever it is copied
    try: `cd ${shellWord(out)} && npm install && node generate.mjs --seed 1 --count 16 --out grid.png`,
  };
};
