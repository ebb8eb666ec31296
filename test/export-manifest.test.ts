// The exported generator trusts none of its files: an edited, truncated or malformed manifest or
// program is refused with a GeneratorError naming the file and the field, by the runtime and by
// generate.mjs (one line, exit 2), instead of drawing a wrong picture or failing deep inside.
import { describe, it, expect, beforeAll } from 'vitest';
import { copyFileSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type * as Runtime from '../src/export/runtime.ts';
import { GPU, exportFixture } from './export-fixture.ts';
import {
  type Files,
  type Json,
  LOADED,
  editManifest,
  filesOf,
  jsonOf,
  outcome,
  withFile,
  withManifest,
  withProgram,
} from './export-checks.ts';
import {
  arbByteMutation,
  arbJsonMutation,
  kindOf,
  mutateBytes,
  mutateJson,
  pathText,
  pathsOf,
} from './export-mutations.ts';

const fixture = exportFixture();
const gpu = new GPU({ mode: 'cpu' });
let runtime: typeof Runtime;
let files: Files;

beforeAll(async () => {
  ({ runtime } = await fixture.build());
  files = filesOf(fixture.out);
}, 120_000);

/** The message `files` are refused with, after checking it is a GeneratorError of one line. */
const refusal = async (edited: Files): Promise<string> => {
  const r = await outcome(runtime, edited, gpu);
  if (r.ok) throw new Error('the edited files loaded');
  expect(r.e).toBeInstanceOf(runtime.GeneratorError);
  const { message } = r.e as Error;
  expect(message).toMatch(/^generator: [^\n]+$/);
  return message;
};

const manifest = () => jsonOf(files, 'manifest.json');
const edited = (edit: (m: Json) => void) => editManifest(runtime, files, edit);

describe("the export's runtime refuses", () => {
  it('a manifest edited without its checksum, naming manifest.json', async () => {
    const m = manifest();
    m.weights.tensors[1].offset += 4;
    const bytes = new TextEncoder().encode(JSON.stringify(m, null, 1));
    expect(await refusal(withFile(files, 'manifest.json', bytes))).toMatch(
      /^generator: manifest\.json was edited or is corrupt: its sha256 field says/,
    );
  });

  it('a tensor offset moved by 4 bytes, naming the field and the offset it must have', async () => {
    const { offset } = manifest().weights.tensors[1];
    expect(await refusal(edited((m) => (m.weights.tensors[1].offset += 4)))).toBe(
      `generator: manifest.json: weights.tensors[1].offset is ${offset + 4}, expected ${offset} (tensors are packed in order)`,
    );
  });

  it.each(['A', 'B'])('an image size %s = 20, which the program does not draw', async (side) => {
    expect(await refusal(edited((m) => (m.config[side] = 20)))).toMatch(
      /^generator: manifest\.json: config gives T·batch·A·B·channels = .* canvas values, but program\.json's canvas output has 50176$/,
    );
  });

  it('a truncated manifest as not valid JSON', async () => {
    const bytes = files.get('manifest.json')!;
    expect(await refusal(withFile(files, 'manifest.json', bytes.subarray(0, 40)))).toMatch(
      /^generator: manifest\.json is not valid JSON \(.+\)$/,
    );
  });

  it('a manifest without weights, naming the field', async () => {
    expect(await refusal(edited((m) => delete m.weights))).toBe(
      'generator: manifest.json: weights is missing, expected an object',
    );
  });

  it('a tensor the program does not read, by its name', async () => {
    expect(await refusal(edited((m) => (m.weights.tensors[0].name = 'dec.v')))).toBe(
      'generator: manifest.json: weights.tensors[0].name is "dec.v", which program.json does not read',
    );
  });

  it('a weights file shorter than the tensor table, every checksum recomputed, before reading any tensor', async () => {
    const short = files.get('weights.bin')!.subarray(0, 100);
    const sha = createHash('sha256').update(short).digest('hex');
    const message = await refusal(
      editManifest(runtime, withFile(files, 'weights.bin', short), (m) =>
        Object.assign(m.weights, { bytes: 100, sha256: sha }),
      ),
    );
    expect(message).toMatch(
      /^generator: manifest\.json: weights\.bytes is 100, expected \d+ \(4 bytes per float of the tensors\)$/,
    );
  });

  it('a program step that reads a buffer nothing defined, naming the step', async () => {
    const plan = jsonOf(files, 'program.json');
    plan.steps[0].reads[0] = 99999;
    expect(await refusal(withProgram(runtime, files, plan))).toBe(
      'generator: program.json: steps[0].reads[0] is 99999, expected a buffer defined before steps[0] and not freed',
    );
  });

  it('a multi-output step that names fewer values than its kernel writes', async () => {
    const plan = jsonOf(files, 'program.json');
    const n = plan.steps.findIndex((s: { siblings: number[] }) => s.siblings.length > 0);
    expect(n, 'the generator has a multi-output kernel').toBeGreaterThanOrEqual(0);
    const { kernel, siblings } = plan.steps[n];
    plan.steps[n].siblings = [];
    expect(await refusal(withProgram(runtime, files, plan))).toBe(
      `generator: program.json: steps[${n}].siblings has 0 ids, but kernels[${kernel}] writes ${siblings.length + 1} values`,
    );
  });

  it('a program whose kernels are not an array', async () => {
    expect(await refusal(withProgram(runtime, files, { ...jsonOf(files, 'program.json'), kernels: {} }))).toBe(
      'generator: program.json: kernels is {}, expected an array',
    );
  });

  it('a missing file, naming it', async () => {
    expect(await refusal(edited((m) => (m.program.file = 'plan.json')))).toMatch(
      /^generator: cannot read plan\.json \(/,
    );
  });
});

/** A copy of the export's runnable files in a fresh folder outside the repository. */
const copyExport = (edit?: Files): string => {
  const to = mkdtempSync(join(tmpdir(), 'draw-export-copy-'));
  for (const f of ['generate.mjs', 'runtime.mjs', 'package.json', 'manifest.json', 'program.json', 'weights.bin'])
    copyFileSync(join(fixture.out, f), join(to, f));
  for (const [name, bytes] of edit ?? []) writeFileSync(join(to, name), bytes);
  return to;
};
const generate = (folder: string, ...args: string[]) =>
  spawnSync(
    process.execPath,
    [join(folder, 'generate.mjs'), '--mode', 'cpu', '--out', join(folder, 'grid.png'), ...args],
    { encoding: 'utf8', timeout: 60_000 },
  );
const oneLine = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0];
};

describe('generate.mjs', () => {
  it('refuses an image size the program does not draw: one line, exit 2', () => {
    const folder = copyExport(edited((m) => (m.config.A = 20)));
    symlinkSync(join(fixture.out, 'node_modules'), join(folder, 'node_modules'));
    const r = generate(folder);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/^error: generator: manifest\.json: config gives .* canvas output has 50176$/);
  });

  it('where gpu.js is not installed, says to run npm install in its folder: one line, exit 2', () => {
    const folder = copyExport();
    const r = generate(folder);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toBe(`error: gpu.js is not installed: run \`npm install\` in ${folder} first`);
  });

  it('names an unknown flag in one line, exit 2, even before gpu.js is installed', () => {
    const r = generate(copyExport(), '--bogus');
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/^error: .*'--bogus'/);
  });

  it.each(['0', '-1', 'abc'])('refuses --temperature %s in one line naming the flag, exit 2', (value) => {
    const r = generate(copyExport(), `--temperature=${value}`);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toBe(`error: --temperature must be a positive number, got '${value}'`);
  });
});

// The loader on damaged files: it resolves only when nothing it uses changed, and otherwise rejects
// with a GeneratorError; no other error, no hang. Bounded and seeded, so a failure replays.
describe('fuzzed, the loader resolves or rejects with a GeneratorError, and resolves only for files it can use', () => {
  const FUZZ = { numRuns: 120, seed: 20240611 };
  const original = () => jsonOf(files, 'manifest.json');
  // config fields the runtime neither uses nor can check against the program, and the free-form source
  const withoutUnchecked = (m: Json) => {
    const { source: _, ...rest } = m;
    const { encSize: _e, decSize: _d, readN: _r, readAttention: _a, writeN: _w, ...config } = (m.config ?? {}) as Json;
    return { ...rest, config };
  };
  const rejectsNamed = (e: unknown) => {
    expect(e).toBeInstanceOf(runtime.GeneratorError);
    expect((e as Error).message).toMatch(/^generator: [^\n]+$/);
  };

  it('bytes: random contents, a flipped bit, a truncation, inserted bytes, in any of the three files', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...LOADED), arbByteMutation, async (name, mutation) => {
        const bytes = mutateBytes(files.get(name)!, mutation);
        const r = await outcome(runtime, withFile(files, name, bytes), gpu);
        if (!r.ok) return rejectsNamed(r.e);
        r.g.dispose();
        expect(Buffer.from(bytes).equals(Buffer.from(files.get(name)!))).toBe(true);
      }),
      FUZZ,
    );
  }, 60_000);

  it('manifest fields: deleted, shifted or replaced, the checksum recomputed; what it accepts draws', async () => {
    const paths = pathsOf(original()).filter((p) => p[0] !== 'sha256');
    await fc.assert(
      fc.asyncProperty(arbJsonMutation, async (mutation) => {
        const m = original();
        mutateJson(m, paths, mutation);
        const r = await outcome(runtime, withManifest(runtime, files, m), gpu);
        if (!r.ok) return rejectsNamed(r.e);
        try {
          expect(withoutUnchecked(m)).toEqual(withoutUnchecked(original()));
          expect(r.g.generate({ count: 1, seed: 1 }).images).toHaveLength(784);
        } finally {
          r.g.dispose();
        }
      }),
      FUZZ,
    );
  }, 60_000);

  it('program fields, its sha256 and the checksum recomputed: format, inputs, output names and kinds of value are never let through', async () => {
    const plan = jsonOf(files, 'program.json');
    const paths = pathsOf(plan);
    await fc.assert(
      fc.asyncProperty(arbJsonMutation, async (mutation) => {
        const p = jsonOf(files, 'program.json');
        const path = mutateJson(p, paths, mutation);
        const r = await outcome(runtime, withProgram(runtime, files, p), gpu);
        if (!r.ok) return rejectsNamed(r.e);
        r.g.dispose();
        // what no check can see: kernel sources and sizes, which kernel a step runs, which buffers it reads or frees
        const where = pathText(path);
        const unseen = /^(kernels|steps)\[/.test(where) || /^outputs\[\d+\]\.id$/.test(where);
        const sameKind =
          mutation.op === 'delete'
            ? typeof path[path.length - 1] === 'number'
            : kindOf(path.reduce<Json>((o, k) => o?.[k], p)) === kindOf(path.reduce<Json>((o, k) => o?.[k], plan));
        expect(p).toSatisfy(
          (changed: Json) => JSON.stringify(changed) === JSON.stringify(plan) || (unseen && sameKind),
        );
      }),
      FUZZ,
    );
  }, 60_000);
});
