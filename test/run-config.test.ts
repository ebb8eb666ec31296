// A run's config.json: written into every new run folder, rerun with `train --config FILE`, overridden
// by flags given explicitly, and refused field by field when it is wrong.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { train } from '../src/cli/train.ts';
import { parseFlags } from '../src/cli/options.ts';
import { readRunConfig } from '../src/cli/run-config.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { QUIET, TINY_MODEL } from './tiny-run.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-run-config-'));
const tiny = [...TINY_MODEL, ...QUIET];
const run = (args: string[]) => train(parseFlags(['train', ...args]).flags);
const configOf = (out: string) => JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
const checkpointOf = (out: string) => {
  const c = loadCheckpoint(join(out, 'checkpoint.safetensors'));
  if (E.isLeft(c)) throw new Error(c.left.message);
  return c.right;
};
const sameTensors = (a: string, b: string) => {
  const x = checkpointOf(a).tensors;
  const y = checkpointOf(b).tensors;
  expect(Object.keys(y)).toEqual(Object.keys(x));
  return Object.keys(x).every((k) => Buffer.from(x[k].data.buffer).equals(Buffer.from(y[k].data.buffer)));
};

describe('config.json', () => {
  it('is written into a new run folder with the model, optimiser, data, training, seed and versions', async () => {
    const r = await run([...tiny, '--steps', '3', '--seed', '4', '--lr', '0.01', '--out', join(dir, 'a')]);
    expect(r.config).toBe(join(dir, 'a', 'config.json'));
    const c = configOf(join(dir, 'a'));
    expect(c).toEqual({
      format: 'draw-ts/run-config/1',
      model: {
        A: 28,
        B: 28,
        channels: 1,
        T: 2,
        encSize: 8,
        decSize: 8,
        zSize: 3,
        readN: 2,
        writeN: 3,
        readAttention: true,
        writeAttention: true,
      },
      optimizer: { name: 'adam', lr: 0.01, lrHalfLife: null, clip: 10 },
      data: { dataset: 'mnist', binarisation: 'sample', images: null, labels: null, canvasesPerDigit: 1 },
      training: {
        batch: 10,
        steps: 3,
        epochs: null,
        minutes: null,
        evalEvery: 1000,
        checkpointEvery: 1000,
        validationImages: 20,
        threads: Math.min(availableParallelism(), 10),
      },
      seed: 4,
      init: null,
      backend: 'cpu',
      versions: { 'draw-ts': JSON.parse(readFileSync('package.json', 'utf8')).version, node: process.version },
    });
  }, 60_000);

  it('train --config reruns it bit-exactly', async () => {
    await run(['--config', join(dir, 'a', 'config.json'), '--out', join(dir, 'rerun'), '--json']);
    expect(checkpointOf(join(dir, 'rerun')).meta).toEqual(checkpointOf(join(dir, 'a')).meta);
    expect(sameTensors(join(dir, 'a'), join(dir, 'rerun'))).toBe(true);
    expect({ ...configOf(join(dir, 'rerun')) }).toEqual(configOf(join(dir, 'a')));
  }, 60_000);

  it('flags given explicitly override the file, and the run folder records what ran', async () => {
    await run([
      '--config',
      join(dir, 'a', 'config.json'),
      '--seed',
      '5',
      '--T',
      '3',
      '--out',
      join(dir, 'over'),
      '--json',
    ]);
    const c = configOf(join(dir, 'over'));
    expect(c.seed).toBe(5);
    expect(c.model.T).toBe(3);
    expect(c.model.encSize).toBe(8); // from the file
    expect(c.optimizer.lr).toBe(0.01);
    expect(c.training.steps).toBe(3);
    // a learning-rate schedule given on the command line is recorded in both, and reruns from the file
    await run([
      '--config',
      join(dir, 'a', 'config.json'),
      '--lr-half-life',
      '2',
      '--out',
      join(dir, 'decay'),
      '--json',
    ]);
    expect(configOf(join(dir, 'decay')).optimizer).toMatchObject({ lr: 0.01, lrHalfLife: 2 });
    expect(checkpointOf(join(dir, 'decay')).meta).toMatchObject({ lr: 0.01, lrHalfLife: 2 });
    expect(sameTensors(join(dir, 'a'), join(dir, 'decay'))).toBe(false); // the step-2 and -3 updates are smaller
    await run(['--config', join(dir, 'decay', 'config.json'), '--out', join(dir, 'decay-rerun'), '--json']);
    expect(sameTensors(join(dir, 'decay'), join(dir, 'decay-rerun'))).toBe(true);
    expect(checkpointOf(join(dir, 'over')).meta).toMatchObject({ seed: 5, step: 3, config: { T: 3 } });
    // a duration flag replaces the file's duration, whichever kind it is
    await run([
      '--config',
      join(dir, 'a', 'config.json'),
      '--epochs',
      '1',
      '--data',
      idx(30),
      '--out',
      join(dir, 'epochs'),
      '--json',
    ]);
    expect(configOf(join(dir, 'epochs')).training).toMatchObject({ steps: null, epochs: 1 });
    expect(checkpointOf(join(dir, 'epochs')).meta).toMatchObject({ step: 2 }); // 25 training images (a sixth held out), batch 10: 2 whole batches
  }, 60_000);
});

/** An IDX file of `n` 28×28 images. */
function idx(n: number): string {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  [n, 28, 28].forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const path = join(dir, `images-${n}.idx`);
  writeFileSync(
    path,
    Buffer.concat([header, Buffer.from(Array.from({ length: n * 784 }, (_, i) => (i % 7 === 0 ? 255 : 0)))]),
  );
  return path;
}

describe('a bad config file is one line naming the file and the field', () => {
  const good = () => JSON.parse(readFileSync(join(dir, 'a', 'config.json'), 'utf8'));
  const file = (name: string, content: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  };
  const refused = (p: string) => {
    try {
      readRunConfig(p);
    } catch (e) {
      expect((e as Error).name).toBe('UsageError');
      return (e as Error).message;
    }
    throw new Error('expected a UsageError');
  };

  it.each([
    [
      'a wrong type',
      (c: Record<string, any>) => {
        c.model.T = 'ten';
      },
      'field \'model.T\' must be an integer ≥ 1, got "ten"',
    ],
    [
      'a negative learning rate',
      (c: Record<string, any>) => {
        c.optimizer.lr = -1;
      },
      "field 'optimizer.lr' must be a number > 0, got -1",
    ],
    [
      'an unknown nested field',
      (c: Record<string, any>) => {
        c.training.bach = 10;
      },
      "has an unknown field 'training.bach' (fields: batch, steps,",
    ],
    [
      'an unknown top-level field',
      (c: Record<string, any>) => {
        c.sead = 1;
      },
      "has an unknown field 'sead' (fields: format, model,",
    ],
    [
      'an unknown backend',
      (c: Record<string, any>) => {
        c.backend = 'tpu';
      },
      'field \'backend\' must be one of cpu, gpujs, gpujs-cpu, got "tpu"',
    ],
    [
      'a section that is not an object',
      (c: Record<string, any>) => {
        c.data = 'mnist';
      },
      'field \'data\' must be an object, got "mnist"',
    ],
    [
      'no format',
      (c: Record<string, any>) => {
        delete c.format;
      },
      'field \'format\' is missing (expected "draw-ts/run-config/1")',
    ],
  ])('%s', (name, edit, message) => {
    const c = good();
    edit(c);
    const p = file(`${name}.json`, c);
    expect(refused(p)).toContain(`config ${p}: ${message}`);
  });

  it('not JSON, or not an object', () => {
    const p = file('broken.json', '{ "format": ');
    expect(refused(p)).toMatch(new RegExp(`^config ${p}: not JSON \\(.+\\)$`));
    const q = file('array.json', '[]');
    expect(refused(q)).toBe(`config ${q}: not a JSON object`);
  });

  it('from the CLI: exit 2, one line, and no run folder made', () => {
    const c = good();
    c.training.steps = 0;
    const p = file('steps0.json', c);
    const out = join(dir, 'never');
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'train', '--config', p, '--out', out],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`error: config ${p}: field 'training.steps' must be an integer ≥ 1 or null, got 0`);
    expect(existsSync(out)).toBe(false);
    const missing = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'train', '--config', join(dir, 'nope.json')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim()).toBe(`error: --config ${join(dir, 'nope.json')}: no such file`);
  }, 60_000);
});
