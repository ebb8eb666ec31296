// A long run lives in a tracked folder and goes on in a later session, perhaps on another machine:
// test/fixtures/long-run is such a folder, committed as `draw train` wrote it (3 steps of a tiny DRAW, one
// thread). Resuming it must give the bits a run straight through gives, drop what was logged after the
// checkpoint (a run whose machine was lost logs past its last save), and continue the same curve.
import { describe, it, expect } from 'vitest';
import { appendFileSync, cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { train } from '../src/cli/train.ts';
import { parseFlags } from '../src/cli/options.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { readMetrics, curveSummary } from '../src/io/metrics.ts';

const FIXTURE = 'test/fixtures/long-run';
const dir = mkdtempSync(join(tmpdir(), 'draw-long-run-'));
const run = (args: string[]) => train(parseFlags(['train', ...args]).flags, parseFlags(['train', ...args]).operands);
const tensorsOf = (path: string) => {
  const c = loadCheckpoint(path);
  if (E.isLeft(c)) throw new Error(c.left.message);
  return c.right;
};

describe('a committed long run', () => {
  it('resumes bit-exactly with `train --resume DIR`, dropping records past its checkpoint, and continues its curve', async () => {
    const resumed = join(dir, 'resumed');
    cpSync(FIXTURE, resumed, { recursive: true });
    // what a lost machine leaves: a record logged after the last checkpoint (step 3)
    appendFileSync(join(resumed, 'metrics.jsonl'), `${JSON.stringify({ step: 4, loss: 1, wallSeconds: 0.2 })}\n`);
    const r = await run(['--resume', resumed, '--steps', '3', '--json']);
    expect(r).toMatchObject({ step: 6, steps: 3 });
    // the same run straight through, from the folder's config.json
    await run(['--config', join(FIXTURE, 'config.json'), '--steps', '6', '--out', join(dir, 'straight'), '--json']);
    const a = tensorsOf(join(dir, 'straight', 'checkpoint.safetensors'));
    const b = tensorsOf(join(resumed, 'checkpoint.safetensors'));
    expect((b.meta as { step: number }).step).toBe(6);
    expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
    for (const name of Object.keys(a.tensors))
      expect(Buffer.from(b.tensors[name].data.buffer).equals(Buffer.from(a.tensors[name].data.buffer)), name).toBe(
        true,
      );

    const lines = readFileSync(join(resumed, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss?: number; wallSeconds: number });
    expect(lines.some((l) => l.loss === 1)).toBe(false);
    const m = readMetrics(join(resumed, 'metrics.jsonl'));
    if (E.isLeft(m)) throw m.left;
    expect(m.right.segments.map((g) => g.step)).toEqual([0, 3]);
    expect(
      m.right.segments.every(
        (g) => g.threads === 1 && typeof g.machine === 'string' && !Number.isNaN(Date.parse(g.startedAt!)),
      ),
    ).toBe(true);
    // one curve: steps never go back, the training clock goes on from the first segment's last record
    const steps = m.right.steps.map((s) => s.step);
    expect(steps).toEqual([...steps].sort((x, y) => x - y));
    expect(steps.at(-1)).toBe(6);
    const walls = lines.map((l) => l.wallSeconds);
    expect(walls).toEqual([...walls].sort((x, y) => x - y));
    expect(curveSummary(m.right)).toMatch(
      /, 2 segments: steps 0–3 in [\d.]+ s on .+ \(1 thread\); steps 3–6 in [\d.]+ s on .+ \(1 thread\)$/,
    );
  }, 60_000);

  it('refuses two run folders at once, and a folder operand without --resume', async () => {
    await expect(run(['--resume', join(dir, 'x'), '--out', join(dir, 'y')])).rejects.toThrow(
      `--resume ${join(dir, 'x')} and --out ${join(dir, 'y')} name two run folders: pass one of them`,
    );
    expect(() => parseFlags(['train', 'results/paper'])).toThrow("unexpected argument 'results/paper'");
  });
});
