// `train --init CHECKPOINT` (a new run from a checkpoint's parameters: its model, a fresh optimiser and
// schedule) and `sample --temperature X` (the prior's noise scaled).
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { train } from '../src/cli/train.ts';
import { sample } from '../src/cli/sample.ts';
import { parseFlags } from '../src/cli/options.ts';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.ts';
import { draw } from '../src/models/draw/index.ts';
import type { DrawConfig } from '../src/models/draw/index.ts';
import { QUIET, TINY_MODEL } from './tiny-run.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-warm-start-'));
const quiet = [...QUIET, '--threads', '1'];
const tiny = [...TINY_MODEL, ...quiet];
const run = (args: string[]) => train(parseFlags(['train', ...args]).flags);
const checkpointOf = (out: string) => {
  const c = loadCheckpoint(join(out, 'checkpoint.safetensors'));
  if (E.isLeft(c)) throw new Error(c.left.message);
  return c.right;
};
const configOf = (out: string) => JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
/** The model's parameters (not the optimiser's `opt.*` state) of the run in `out`. */
const paramsOf = (out: string) => {
  const c = checkpointOf(out);
  const names = Object.keys(draw((c.meta as { config: DrawConfig }).config).paramShapes);
  return Object.fromEntries(names.map((n) => [n, c.tensors[n].data]));
};
const refused = async (args: string[]) => {
  try {
    await run(args);
  } catch (e) {
    expect((e as Error).name).toBe('UsageError');
    return (e as Error).message;
  }
  throw new Error('expected a UsageError');
};

describe('train --init', () => {
  const source = join(dir, 'source');
  const ckpt = join(source, 'checkpoint.safetensors');

  it("starts a new run from the checkpoint's parameters and model, at step 0 with a fresh optimiser", async () => {
    await run([...tiny, '--steps', '5', '--lr', '0.01', '--out', source]);
    // a learning rate so small that one step leaves float32 parameters as they were: what the run starts from
    const r = await run(['--init', ckpt, '--steps', '1', '--lr', '1e-30', ...quiet, '--out', join(dir, 'still')]);
    expect(r).toMatchObject({ init: ckpt, step: 1 });
    expect(paramsOf(join(dir, 'still'))).toEqual(paramsOf(source));
    const c = configOf(join(dir, 'still'));
    expect(c.model).toEqual(configOf(source).model); // the tiny model, not the default preset
    expect(c).toMatchObject({ init: ckpt, optimizer: { lr: 1e-30, lrHalfLife: null }, training: { batch: 100 } });
    const meta = checkpointOf(join(dir, 'still')).meta;
    expect(meta).toMatchObject({ step: 1, lr: 1e-30 }); // not the source's step 5 and rate
  }, 60_000);

  it("with a fresh optimiser: Adam's first step moves every parameter by about the learning rate", async () => {
    // m̂/√v̂ = g/(|g| + ε) at step 1, so |Δθ| ≈ lr for each parameter with a gradient; the source's moments carried over would not give that
    await run(['--init', ckpt, '--steps', '1', '--lr', '1e-3', ...quiet, '--batch', '10', '--out', join(dir, 'one')]);
    const [before, after] = [paramsOf(source), paramsOf(join(dir, 'one'))];
    const moves = Object.keys(before)
      .flatMap((k) => Array.from(before[k], (v, i) => Math.abs(after[k][i] - v)))
      .filter((d) => d > 1e-6);
    expect(moves.length).toBeGreaterThan(100);
    // no move above lr (beyond float32 rounding); below it only where |g| is near Adam's ε
    expect(Math.max(...moves)).toBeLessThan(1.0002e-3);
    const median = moves.sort((a, b) => a - b)[moves.length >> 1];
    expect(Math.abs(median - 1e-3)).toBeLessThan(1e-6);
  }, 60_000);

  it('its config.json reruns it bit-exactly (the file names the checkpoint it started from)', async () => {
    await run(['--init', ckpt, '--steps', '2', '--lr', '0.005', '--batch', '10', ...quiet, '--out', join(dir, 'b')]);
    await run(['--config', join(dir, 'b', 'config.json'), '--out', join(dir, 'b-rerun'), '--json']);
    const [x, y] = [checkpointOf(join(dir, 'b')).tensors, checkpointOf(join(dir, 'b-rerun')).tensors];
    expect(Object.keys(y)).toEqual(Object.keys(x));
    for (const k of Object.keys(x))
      expect(Buffer.from(y[k].data.buffer).equals(Buffer.from(x[k].data.buffer)), k).toBe(true);
  }, 60_000);

  it('may change the glimpse count T (no parameter depends on it), from a parameters-only file too, and --config reruns it', async () => {
    // the shipped model's format: the parameters alone, no optimiser state
    const bare = join(dir, 'bare.safetensors');
    const c = checkpointOf(source);
    const names = Object.keys(paramsOf(source));
    saveCheckpoint(bare, { meta: c.meta, tensors: Object.fromEntries(names.map((n) => [n, c.tensors[n]])) });
    const r = await run([
      '--init',
      bare,
      '--T',
      '5',
      '--steps',
      '1',
      '--lr',
      '1e-30',
      ...quiet,
      '--out',
      join(dir, 't5'),
    ]);
    expect(r).toMatchObject({ init: bare, step: 1 });
    expect(paramsOf(join(dir, 't5'))).toEqual(paramsOf(source));
    expect(configOf(join(dir, 't5')).model).toEqual({ ...configOf(source).model, T: 5 });
    await run(['--config', join(dir, 't5', 'config.json'), '--out', join(dir, 't5-rerun'), '--json']);
    expect(configOf(join(dir, 't5-rerun')).model.T).toBe(5);
    expect(paramsOf(join(dir, 't5-rerun'))).toEqual(paramsOf(join(dir, 't5')));
  }, 60_000);

  it('refuses what cannot be: with --resume, another model, a missing file', async () => {
    expect(await refused(['--init', ckpt, '--resume', '--out', source])).toBe(
      "--resume continues the run in --out and --init starts a new one from a checkpoint's parameters: pass one of them",
    );
    expect(await refused(['--init', ckpt, '--enc', '9', '--out', join(dir, 'never')])).toBe(
      `--init checkpoint ${ckpt} has encSize = 8, but the flags ask for 9`,
    );
    expect(await refused(['--init', join(dir, 'nope.safetensors'), '--out', join(dir, 'never')])).toContain(
      join(dir, 'nope.safetensors'),
    );
    const other = join(dir, 'other.json');
    writeFileSync(
      other,
      JSON.stringify({ ...configOf(source), model: { ...configOf(source).model, zSize: 4 }, init: ckpt }),
    );
    expect(await refused(['--config', other, '--out', join(dir, 'never')])).toBe(
      `config ${other}: its model differs from that of the --init checkpoint ${ckpt}`,
    );
    expect(existsSync(join(dir, 'never'))).toBe(false);
    expect(await refused(['--init', ckpt, '--dataset', 'colour-mnist', '--out', join(dir, 'never')])).toBe(
      '--dataset colour-mnist has 28×28×3 images, the model expects 28×28',
    );
  }, 60_000);
});

describe('sample --temperature', () => {
  const ckpt = join(dir, 'source', 'checkpoint.safetensors');
  const png = (out: string) => readFileSync(join(out, 'samples.png'));
  const sampleTo = (out: string, ...args: string[]) =>
    sample(parseFlags(['sample', '--checkpoint', ckpt, '--count', '4', '--out', out, ...args]).flags);

  it('1 is the plain prior; another value changes the samples but not the reconstructions', () => {
    sampleTo(join(dir, 's-plain'));
    sampleTo(join(dir, 's-one'), '--temperature', '1');
    const r = sampleTo(join(dir, 's-half'), '--temperature', '0.5');
    expect(r).toMatchObject({ temperature: 0.5 });
    expect(png(join(dir, 's-one')).equals(png(join(dir, 's-plain')))).toBe(true);
    expect(png(join(dir, 's-half')).equals(png(join(dir, 's-plain')))).toBe(false);
    const rec = (out: string) => readFileSync(join(out, 'reconstructions.png'));
    expect(rec(join(dir, 's-half')).equals(rec(join(dir, 's-plain')))).toBe(true);
    expect(() => sampleTo(join(dir, 's-zero'), '--temperature', '0')).toThrow(
      "--temperature must be a number > 0, got '0'",
    );
  }, 60_000);
});
