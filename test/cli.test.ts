import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { train } from '../src/cli/train.ts';
import { evaluateCommand } from '../src/cli/evaluate.ts';
import { parseFlags, UsageError } from '../src/cli/options.ts';
import { isInputError } from '../src/cli/errors.ts';
import { WriteError } from '../src/io/atomic.ts';
import { trace } from '../src/compiler/trace.ts';
import { ShapeError } from '../src/dsl/shape.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { encodeV2 } from './checkpoint-legacy.ts';
import { QUIET, TINY_MODEL } from './tiny-run.ts';

const tiny = [...TINY_MODEL, ...QUIET];
const run = (args: string[]) => train(parseFlags(['train', ...args]).flags);
const tensorsOf = (path: string) => {
  const c = loadCheckpoint(path);
  if (E.isLeft(c)) throw new Error(c.left.message);
  return c.right;
};

const dir = mkdtempSync(join(tmpdir(), 'draw-cli-'));

describe('draw train', () => {
  it('a few steps on a tiny configuration lower the loss, and write checkpoint, metrics and pictures', async () => {
    const r = await run([...tiny, '--steps', '30', '--lr', '0.01', '--out', join(dir, 'a')]);
    const log = readFileSync(join(dir, 'a', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const losses = log.filter((l) => l.loss !== undefined).map((l) => l.loss as number);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] - 20);
    expect(r.step).toBe(30);
    expect(r.curve).toMatch(
      /^training loss [\d.]+ → [\d.]+ \(steps 10–30, lowest [\d.]+\), validation bound [\d.]+ at step 30, gradient norm median [\d.]+$/,
    );
    expect(log.every((l) => typeof l.wallSeconds === 'number')).toBe(true);
    for (const f of ['checkpoint.safetensors', 'samples.png', 'steps.png', 'reconstructions.png'])
      expect(existsSync(join(dir, 'a', f))).toBe(true);
  }, 60_000);

  it('resumes bit-exactly: 2×N steps equal N steps, stop, N more', async () => {
    await run([...tiny, '--steps', '6', '--out', join(dir, 'straight')]);
    await run([...tiny, '--steps', '3', '--out', join(dir, 'split')]);
    await run(['--resume', '--steps', '3', '--out', join(dir, 'split'), '--json', '--val-images', '20']);
    await expect(run(['--resume', '--threads', '1', '--out', join(dir, 'split')])).rejects.toThrow(
      /drop --batch, --lr, --lr-half-life, --seed, --clip, --threads and --canvases-per-digit/,
    );
    const a = tensorsOf(join(dir, 'straight', 'checkpoint.safetensors'));
    const b = tensorsOf(join(dir, 'split', 'checkpoint.safetensors'));
    expect((b.meta as { step: number }).step).toBe(6);
    expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
    for (const name of Object.keys(a.tensors))
      expect(Buffer.from(b.tensors[name].data.buffer).equals(Buffer.from(a.tensors[name].data.buffer)), name).toBe(
        true,
      );
  }, 60_000);

  it("resumes bit-exactly from an older build's checkpoint.bin, and writes checkpoint.safetensors", async () => {
    const old = join(dir, 'old');
    await run([...tiny, '--steps', '3', '--out', old]);
    const saved = tensorsOf(join(old, 'checkpoint.safetensors'));
    writeFileSync(join(old, 'checkpoint.bin'), encodeV2(saved));
    rmSync(join(old, 'checkpoint.safetensors'));
    await run(['--resume', '--steps', '3', '--out', old, '--json', '--val-images', '20']);
    const a = tensorsOf(join(dir, 'straight', 'checkpoint.safetensors'));
    const b = tensorsOf(join(old, 'checkpoint.safetensors'));
    expect((b.meta as { step: number }).step).toBe(6);
    for (const name of Object.keys(a.tensors))
      expect(Buffer.from(b.tensors[name].data.buffer).equals(Buffer.from(a.tensors[name].data.buffer)), name).toBe(
        true,
      );
  }, 60_000);

  it('eval reports the test bound with its parts', () => {
    const r = evaluateCommand(
      parseFlags([
        'eval',
        '--checkpoint',
        join(dir, 'straight', 'checkpoint.safetensors'),
        '--images',
        '25',
        '--batch',
        '10',
      ]).flags,
    );
    expect(r.images).toBe(25);
    expect(Math.abs((r.testBound as number) - ((r.reconstruction as number) + (r.kl as number)))).toBeLessThan(1e-6);
    expect(r.testBound as number).toBeGreaterThan(0);
  }, 60_000);

  it('eval --samples K adds the importance-weighted NLL with its standard error', () => {
    const flags = (...more: string[]) =>
      parseFlags(['eval', '--checkpoint', join(dir, 'straight', 'checkpoint.safetensors'), '--images', '20', ...more])
        .flags;
    const r = evaluateCommand(flags('--samples', '4', '--batch', '20'));
    expect(r).toMatchObject({ images: 20, samples: 4 });
    expect(Number.isFinite(r.nll) && (r.nll as number) > 0).toBe(true);
    expect((r.nllStandardError as number) > 0 && (r.nllStandardError as number) < (r.nll as number)).toBe(true);
    expect(() => evaluateCommand(flags('--samples', '0'))).toThrow("--samples must be an integer ≥ 1, got '0'");
  }, 60_000);
});

describe("which errors are the user's input (one line, exit 2) and which are bugs (stack, exit 1)", () => {
  const traced = (f: () => never) => {
    const r = trace(f, {});
    if (E.isRight(r)) throw new Error('expected a Left');
    return r.left;
  };
  it('a shape mistake inside a trace is input; a TypeError inside one is a bug', () => {
    expect(
      isInputError(
        traced(() => {
          throw new ShapeError('matmul: inner dimensions differ');
        }),
      ),
    ).toBe(true);
    expect(
      isInputError(
        traced(() => {
          throw new TypeError('x is undefined');
        }),
      ),
    ).toBe(false);
    expect(isInputError(new UsageError('--lr must be a number > 0'))).toBe(true);
    expect(isInputError(new WriteError('cannot write checkpoint runs/x/checkpoint.safetensors: ENOSPC'))).toBe(true);
    expect(isInputError(new RangeError('Invalid array length'))).toBe(false);
  });
});

describe('draw CLI errors', () => {
  const cli = (...args: string[]) => spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
  const fails = (args: string[], message: string) => {
    const r = cli(...args);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(message);
  };
  it('unknown flag', () => fails(['train', '--stpes', '3'], "Unknown option '--stpes'"));
  it('unknown preset', () =>
    fails(
      ['train', '--preset', 'huge'],
      "unknown preset 'huge' (presets: fast, small, paper, no-attention, no-attention-fast, two-digit, colour)",
    ));
  it('more threads than a batch', () =>
    fails(['train', '--batch', '4', '--threads', '5'], '--threads 5 is more than the batch of 4 (--batch)'));
  it('threads on a gpu.js backend', () =>
    fails(
      ['train', '--backend', 'gpujs-cpu', '--threads', '2'],
      '--threads 2: data-parallel steps run on the cpu backend only, not gpujs-cpu',
    ));
  it('missing checkpoint', () => fails(['eval', '--checkpoint', join(dir, 'nope.bin')], 'is missing'));
  it('corrupt checkpoint', () => {
    const bad = join(dir, 'bad.bin');
    writeFileSync(bad, 'not a checkpoint at all, just text');
    fails(['eval', '--checkpoint', bad], 'not a DRAW checkpoint');
  });
  it('checkpoint whose config does not match the flags', () => {
    fails(
      ['sample', '--checkpoint', join(dir, 'straight', 'checkpoint.safetensors'), '--T', '5'],
      'has T = 2, but the flags ask for 5',
    );
  });
  it('unwritable output folder', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    fails(['train', '--out', join(file, 'sub')], 'cannot write to output folder');
  });
});

describe('draw train interrupted', () => {
  it('Ctrl-C writes a checkpoint of the last finished step, then exits with 130', async () => {
    const out = join(dir, 'interrupted');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'train', ...tiny, '--steps', '100000', '--out', out],
      { stdio: 'ignore' },
    );
    const metrics = join(out, 'metrics.jsonl');
    for (let i = 0; i < 600 && !(existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"step":20')); i++)
      await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(130);
    const step = (tensorsOf(join(out, 'checkpoint.safetensors')).meta as { step: number }).step;
    expect(step).toBeGreaterThanOrEqual(20);
    expect(step).toBeLessThan(100000);
  }, 90_000);
});
