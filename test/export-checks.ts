// Edited copies of an export's files, in memory, for the tests of the runtime's checks: the
// manifest re-checksummed after an edit (as a careful forger would), so the checks behind the
// checksum are reached too.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { GPU } from 'gpu.js';
import type * as Runtime from '../src/export/runtime.ts';

/** The three files the runtime reads, by name. */
export type Files = ReadonlyMap<string, Uint8Array>;
// the tests edit any field of the JSON files, so their values are untyped
export type Json = Record<string, any>;

export const LOADED = ['manifest.json', 'program.json', 'weights.bin'] as const;

export const filesOf = (folder: string): Files =>
  new Map(LOADED.map((f) => [f, new Uint8Array(readFileSync(join(folder, f)))]));

/** A ReadFile over `files`; a name not there rejects as a missing file would. */
export const readMemory =
  (files: Files) =>
  async (name: string): Promise<ArrayBuffer> => {
    const b = files.get(name);
    if (!b) throw new Error(`ENOENT: no such file, open '${name}'`);
    return b.slice().buffer;
  };

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');
const encode = (m: Json) => new TextEncoder().encode(`${JSON.stringify(m, null, 1)}\n`);
export const jsonOf = (files: Files, name: string): Json => JSON.parse(new TextDecoder().decode(files.get(name)));

/** `files` with `name` replaced by `bytes`. */
export const withFile = (files: Files, name: string, bytes: Uint8Array): Files => new Map([...files, [name, bytes]]);

/** `files` with the manifest `m`, its checksum recomputed the way the exporter computes it. */
export const withManifest = (runtime: typeof Runtime, files: Files, m: Json): Files =>
  withFile(files, 'manifest.json', encode({ ...m, sha256: sha256(runtime.manifestText(m)) }));

/** `files` with the manifest edited by `edit` (on a copy) and re-checksummed. */
export const editManifest = (runtime: typeof Runtime, files: Files, edit: (m: Json) => void): Files => {
  const m = jsonOf(files, 'manifest.json');
  edit(m);
  return withManifest(runtime, files, m);
};

/** `files` with program.json `plan`, its sha256 recorded in the manifest, and that re-checksummed. */
export const withProgram = (runtime: typeof Runtime, files: Files, plan: Json): Files => {
  const bytes = new TextEncoder().encode(JSON.stringify(plan));
  return editManifest(runtime, withFile(files, 'program.json', bytes), (m) => (m.program.sha256 = sha256(bytes)));
};

/** How loading `files` ended: the generator, or what it rejected with. */
export const outcome = (runtime: typeof Runtime, files: Files, gpu: GPU) =>
  runtime.loadGenerator(readMemory(files), gpu).then(
    (g) => ({ ok: true as const, g }),
    (e: unknown) => ({ ok: false as const, e }),
  );
