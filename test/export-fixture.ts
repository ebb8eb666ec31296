// A tiny model trained and exported with the CLI into a fresh temporary folder: the export tests'
// common set-up. The export's own runtime.mjs is imported, so tests run what a user would run.
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { GPU as GpuType } from 'gpu.js';
import { train } from '../src/cli/train.ts';
import { exportCommand } from '../src/cli/export.ts';
import { parseFlags } from '../src/cli/options.ts';
import type * as Runtime from '../src/export/runtime.ts';

export const { GPU } = createRequire(import.meta.url)('gpu.js') as { GPU: typeof GpuType };

export interface ExportFixture {
  /** The temporary folder: the run in run/, the export in export/. */
  readonly dir: string;
  readonly out: string;
  readonly checkpoint: string;
  /** Trains, exports and imports the export's runtime; resolves to it and to what `draw export` returned. */
  build(): Promise<{ runtime: typeof Runtime; exported: Record<string, unknown> }>;
}

export const exportFixture = (): ExportFixture => {
  const dir = mkdtempSync(join(tmpdir(), 'draw-export-'));
  const out = join(dir, 'export');
  const checkpoint = join(dir, 'run', 'checkpoint.safetensors');
  const build = async () => {
    await train(parseFlags(['train', '--preset', 'small', '--T', '4', '--enc', '32', '--dec', '32', '--z', '8', '--batch', '20', '--steps', '20',
      '--lr', '0.01', '--val-images', '20', '--out', join(dir, 'run'), '--json']).flags);
    const exported = await exportCommand(parseFlags(['export', '--checkpoint', checkpoint, '--out', out]).flags);
    // where an export is copied, `npm install` puts gpu.js next to it; here the repository's copy serves
    symlinkSync(resolve('node_modules'), join(out, 'node_modules'));
    return { runtime: (await import(join(out, 'runtime.mjs'))) as typeof Runtime, exported };
  };
  return { dir, out, checkpoint, build };
};

/** A ReadFile over the files of `folder`. */
export const readFrom = (folder: string) => async (name: string): Promise<ArrayBuffer> => {
  const b = readFileSync(join(folder, name));
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};
