// The CLI around the paper's other experiments: `classify` (the attention classifier on cluttered
// MNIST) with checkpoints, resume and eval, and `train --dataset` on two-digit and coloured MNIST.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { PNG } from 'pngjs';
import { classify } from '../src/cli/classify.ts';
import { train } from '../src/cli/train.ts';
import { evaluateCommand } from '../src/cli/evaluate.ts';
import { parseFlags } from '../src/cli/options.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { QUIET } from './tiny-run.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-classify-'));
const tiny = ['--glimpses', '2', '--read-n', '4', '--hidden', '8', '--batch', '10', ...QUIET];
const classifyWith = (args: string[]) => classify(parseFlags(['classify', ...args]).flags);
const tensorsOf = (path: string) => {
  const c = loadCheckpoint(path);
  if (E.isLeft(c)) throw new Error(c.left.message);
  return c.right;
};
const png = (path: string) => PNG.sync.read(readFileSync(path));

describe('draw classify', () => {
  it('trains on cluttered MNIST, writes checkpoint, metrics and glimpses.png; eval reports the test error', async () => {
    const r = await classifyWith([...tiny, '--steps', '4', '--out', join(dir, 'a')]);
    expect(r).toMatchObject({
      command: 'classify',
      step: 4,
      dataset: 'cluttered',
      glimpses: 2,
      readN: 4,
      validationImages: 20,
    });
    const log = readFileSync(join(dir, 'a', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log[log.length - 1]).toMatchObject({ step: 4, final: true, validation: { images: 20 } });
    expect(r.curve).toMatch(
      new RegExp(
        `^training loss [\\d.]+ → [\\d.]+ \\(steps \\d+–4, lowest [\\d.]+\\), validation error ${(100 * (r.validationError as number)).toFixed(1)}% at step 4, gradient norm median [\\d.]+$`,
      ),
    );
    const pic = png(join(dir, 'a', 'glimpses.png'));
    expect([pic.width, pic.height]).toEqual([2 * 100 + 1, 8 * 100 + 7]); // a column per glimpse, a row per test image
    const e = evaluateCommand(
      parseFlags(['eval', '--checkpoint', join(dir, 'a', 'checkpoint.safetensors'), '--images', '30', '--batch', '10'])
        .flags,
    );
    expect(e).toMatchObject({ command: 'eval', dataset: 'cluttered', step: 4, images: 30 });
    expect(e.testError as number).toBeGreaterThanOrEqual(0);
    expect(e.testError as number).toBeLessThanOrEqual(1);
    expect(Math.round((e.testError as number) * 30)).toBeCloseTo((e.testError as number) * 30, 9);
  }, 120_000);

  it('resumes bit-exactly, the learning-rate schedule too: 4 steps equal 2, stop, 2 more', async () => {
    await classifyWith([...tiny, '--lr-half-life', '1', '--steps', '4', '--out', join(dir, 'straight')]);
    await classifyWith([...tiny, '--lr-half-life', '1', '--steps', '2', '--out', join(dir, 'split')]);
    await classifyWith(['--resume', '--steps', '2', '--out', join(dir, 'split'), '--json', '--val-images', '20']);
    const [a, b] = [
      tensorsOf(join(dir, 'straight', 'checkpoint.safetensors')),
      tensorsOf(join(dir, 'split', 'checkpoint.safetensors')),
    ];
    expect(b.meta).toMatchObject({ step: 4, lrHalfLife: 1 });
    for (const name of Object.keys(a.tensors))
      expect(Buffer.from(b.tensors[name].data.buffer).equals(Buffer.from(a.tensors[name].data.buffer)), name).toBe(
        true,
      );
  }, 120_000);

  it('--canvases-per-digit is recorded in the checkpoint, and --resume continues on the same images, bit-exactly', async () => {
    const k = ['--canvases-per-digit', '3', '--steps'];
    const r = await classifyWith([...tiny, ...k, '4', '--out', join(dir, 'k-straight')]);
    expect(r).toMatchObject({ canvasesPerDigit: 3, step: 4 });
    await classifyWith([...tiny, ...k, '2', '--out', join(dir, 'k-split')]);
    expect(
      await classifyWith(['--resume', '--steps', '2', '--out', join(dir, 'k-split'), '--json', '--val-images', '20']),
    ).toMatchObject({ canvasesPerDigit: 3, step: 4 });
    const [a, b] = [
      tensorsOf(join(dir, 'k-straight', 'checkpoint.safetensors')),
      tensorsOf(join(dir, 'k-split', 'checkpoint.safetensors')),
    ];
    expect(b.meta).toMatchObject({ step: 4, canvasesPerDigit: 3 });
    for (const name of Object.keys(a.tensors))
      expect(Buffer.from(b.tensors[name].data.buffer).equals(Buffer.from(a.tensors[name].data.buffer)), name).toBe(
        true,
      );
    // one canvas per digit is another run: the batches hold other images
    await classifyWith([...tiny, '--steps', '4', '--out', join(dir, 'k-one')]);
    expect(tensorsOf(join(dir, 'k-one', 'checkpoint.safetensors')).tensors['out.b'].data).not.toEqual(
      a.tensors['out.b'].data,
    );
  }, 120_000);

  it("--init starts a new run from a classifier's parameters, at step 0; more glimpses fit, other sizes are refused", async () => {
    const from = join(dir, 'a', 'checkpoint.safetensors');
    // a rate so small that one step leaves float32 parameters as they were: what the run starts from; 3 glimpses where it had 2
    const r = await classifyWith([
      '--init',
      from,
      '--glimpses',
      '3',
      '--lr',
      '1e-30',
      '--steps',
      '1',
      '--batch',
      '10',
      '--val-images',
      '20',
      '--json',
      '--out',
      join(dir, 'warm'),
    ]);
    expect(r).toMatchObject({ init: from, step: 1, dataset: 'cluttered', glimpses: 3, readN: 4 });
    const [a, b] = [tensorsOf(from), tensorsOf(join(dir, 'warm', 'checkpoint.safetensors'))];
    expect(b.meta).toMatchObject({ step: 1, lr: 1e-30, config: { T: 3, hidden: 8 } });
    for (const name of Object.keys(a.tensors).filter((n) => !n.startsWith('opt.')))
      expect(b.tensors[name].data, name).toEqual(a.tensors[name].data);
    const refused = (args: string[]) =>
      expect(classifyWith(['--init', from, '--steps', '1', '--out', join(dir, 'never'), ...args])).rejects;
    await refused(['--hidden', '16']).toThrow(`--init ${from} has hidden = 8, but this run's is 16`);
    await refused(['--dataset', 'colour-mnist']).toThrow(`--init ${from} has channels = 1, but this run's is 3`);
    await refused(['--resume']).toThrow(
      "--resume continues the run in --out and --init starts a new one from a checkpoint's parameters: pass one of them",
    );
    expect(existsSync(join(dir, 'never'))).toBe(false);
  }, 120_000);
});

describe('draw train --dataset', () => {
  const small = ['--T', '2', '--enc', '8', '--dec', '8', '--z', '3', '--batch', '10', ...QUIET];
  it('colour-mnist trains a 3-channel DRAW and draws colour pictures', async () => {
    const r = await train(
      parseFlags(['train', '--dataset', 'colour-mnist', ...small, '--steps', '3', '--out', join(dir, 'colour')]).flags,
    );
    expect(r).toMatchObject({ dataset: 'colour-mnist', step: 3 });
    expect(
      (tensorsOf(join(dir, 'colour', 'checkpoint.safetensors')).meta as { config: { channels: number } }).config
        .channels,
    ).toBe(3);
    const pic = png(join(dir, 'colour', 'reconstructions.png'));
    // the first column holds the test digits themselves, tinted: some pixel is not grey
    let coloured = 0;
    for (let i = 0; i < pic.data.length; i += 4)
      if (pic.data[i] !== pic.data[i + 1] || pic.data[i + 1] !== pic.data[i + 2]) coloured++;
    expect(coloured).toBeGreaterThan(100);
  }, 120_000);

  it('--canvases-per-digit goes into config.json and the checkpoint, and --config reruns it bit-exactly', async () => {
    await train(
      parseFlags([
        'train',
        '--dataset',
        'two-digit',
        ...small,
        '--steps',
        '2',
        '--canvases-per-digit',
        '2',
        '--out',
        join(dir, 'two-k'),
      ]).flags,
    );
    const config = JSON.parse(readFileSync(join(dir, 'two-k', 'config.json'), 'utf8'));
    expect(config.data).toMatchObject({ dataset: 'two-digit', canvasesPerDigit: 2 });
    await train(
      parseFlags(['train', '--config', join(dir, 'two-k', 'config.json'), '--json', '--out', join(dir, 'two-k-again')])
        .flags,
    );
    const [a, b] = [
      tensorsOf(join(dir, 'two-k', 'checkpoint.safetensors')),
      tensorsOf(join(dir, 'two-k-again', 'checkpoint.safetensors')),
    ];
    expect(b.meta).toEqual(a.meta);
    expect(a.meta).toMatchObject({ canvasesPerDigit: 2 });
    for (const name of Object.keys(a.tensors))
      expect(Buffer.from(b.tensors[name].data.buffer).equals(Buffer.from(a.tensors[name].data.buffer)), name).toBe(
        true,
      );
  }, 120_000);

  it("two-digit trains on 60×60 canvases, and eval and sample use the run's data set", async () => {
    await train(
      parseFlags(['train', '--dataset', 'two-digit', ...small, '--steps', '2', '--out', join(dir, 'two')]).flags,
    );
    expect(png(join(dir, 'two', 'samples.png')).width).toBe(8 * 60 * 3 + 7);
    const e = evaluateCommand(
      parseFlags([
        'eval',
        '--checkpoint',
        join(dir, 'two', 'checkpoint.safetensors'),
        '--images',
        '10',
        '--batch',
        '10',
      ]).flags,
    );
    expect(e.testBound as number).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'two', 'steps.png'))).toBe(true);
  }, 120_000);
});

describe('mistakes are one line, exit 2', () => {
  const fails = (args: string[], message: string) => {
    const r = spawnSync('npx', ['tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`error: ${message}`);
  };
  it('an unknown data set', () =>
    fails(
      ['classify', '--dataset', 'svhn'],
      "unknown dataset 'svhn' (datasets: mnist, cluttered, two-digit, colour-mnist)",
    ));
  it("DRAW on the classifier's data set", () =>
    fails(
      ['train', '--dataset', 'cluttered'],
      "--dataset cluttered is for 'classify', the attention classifier; DRAW trains on mnist, two-digit, colour-mnist",
    ));
  it('a binarisation that does not apply', () =>
    fails(
      ['train', '--dataset', 'colour-mnist', '--binarisation', 'threshold'],
      '--dataset colour-mnist keeps grey values: --binarisation threshold does not apply',
    ));
  it('a preset of the wrong size for the data set', () =>
    fails(
      ['train', '--dataset', 'two-digit', '--preset', 'fast', '--steps', '1', '--out', join(dir, 'x')],
      '--dataset two-digit has 60×60 images, the model expects 28×28',
    ));
  it('canvases per digit of MNIST itself', () =>
    fails(
      ['classify', '--dataset', 'mnist', '--canvases-per-digit', '2'],
      '--canvases-per-digit applies to the data sets synthesised from MNIST (--dataset cluttered, two-digit, colour-mnist), not to MNIST',
    ));
  it('resuming a DRAW run with classify', () =>
    fails(
      ['classify', '--resume', '--out', join(dir, 'colour')],
      `--resume: ${join(dir, 'colour', 'checkpoint.safetensors')} was not written by 'draw classify'`,
    ));
});
