// The CLI's promise for bad input, case by case: one line naming the problem, exit code 2, and
// nothing on disk lost, half-written or left behind.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { encodeV1 } from './checkpoint-legacy.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-cli-rel-'));
const B = ['--batch', '10', '--T', '3', '--preset', 'small', '--val-images', '20', '--eval-every', '1000'];
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
/** Runs the CLI and expects a user error: exit 2, one line on stderr containing `message`. */
const fails = (args: string[], message: string | RegExp) => {
  const r = cli(...args);
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  return r;
};
const ok = (args: string[]) => {
  const r = cli(...args, '--json');
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
};

/** An IDX file of `n` images of rows×cols (ubyte, 3-D), pixels from a fixed pattern. */
const idxImages = (name: string, n: number, rows = 28, cols = 28): string => {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  [n, rows, cols].forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const pixels = Buffer.from(Array.from({ length: n * rows * cols }, (_, i) => ((i * 37) % 11 === 0 ? 255 : 0)));
  const path = join(dir, `${name}.idx`);
  writeFileSync(path, Buffer.concat([header, pixels]));
  return path;
};

describe('output folders', () => {
  it('an --out that cannot be made is refused at once, not hung on (/proc)', () => {
    const r = fails(
      ['train', '--steps', '5', ...B, '--out', '/proc/draw-nope'],
      "cannot write to output folder '/proc/draw-nope'",
    );
    expect(r.signal).toBeNull(); // not killed by the timeout
  });

  it('a flag error leaves no folder behind', () => {
    fails(
      ['train', '--steps', '5', ...B, '--lr', '0', '--out', join(dir, 'lr0')],
      "--lr must be a number > 0, got '0'",
    );
    fails(['train', '--steps', '0', ...B, '--out', join(dir, 'steps0')], "--steps must be an integer ≥ 1, got '0'");
    fails(
      ['train', '--steps', '5', ...B, '--resume', '--overwrite', '--out', join(dir, 'both')],
      '--resume continues the run in --out and --overwrite replaces it',
    );
    fails(
      ['train', '--steps', '5', ...B, '--labels', 'x.idx', '--out', join(dir, 'labels')],
      '--labels goes with --data',
    );
    for (const d of ['lr0', 'steps0', 'both', 'labels']) expect(existsSync(join(dir, d)), d).toBe(false);
  });

  it('a new run keeps the run already in its folder unless --overwrite says otherwise', () => {
    const out = join(dir, 'kept');
    ok(['train', '--steps', '3', ...B, '--out', out]);
    const before = [readFileSync(join(out, 'checkpoint.safetensors')), readFileSync(join(out, 'metrics.jsonl'))];
    fails(
      ['train', '--steps', '3', ...B, '--lr', '1e39', '--out', out],
      `'${out}' already holds a run (checkpoint.safetensors, metrics.jsonl): --resume continues it, --overwrite replaces it`,
    );
    expect(readFileSync(join(out, 'checkpoint.safetensors')).equals(before[0])).toBe(true);
    expect(readFileSync(join(out, 'metrics.jsonl')).equals(before[1])).toBe(true);
    expect(ok(['train', '--steps', '2', ...B, '--out', out, '--overwrite']).step).toBe(2);
  }, 120_000);

  it("an older build's checkpoint.bin counts as a run too", () => {
    const out = join(dir, 'old-run');
    mkdirSync(out);
    writeFileSync(join(out, 'checkpoint.bin'), 'DRAWCKPT of an older build');
    fails(
      ['train', '--steps', '3', ...B, '--out', out],
      `'${out}' already holds a run (checkpoint.bin): --resume continues it`,
    );
  });
});

describe('divergence', () => {
  it('an update that overflows stops the run and saves the last finite state, which eval reads', () => {
    const out = join(dir, 'diverged');
    fails(
      ['train', '--steps', '5', ...B, '--lr', '1e39', '--out', out],
      /non-finite \S+\[\d+\] = -?Inf after step 1 .*the last good state \(step 0\)/,
    );
    const ck = loadCheckpoint(join(out, 'checkpoint.safetensors'));
    if (E.isLeft(ck)) throw new Error(ck.left.message);
    for (const [name, t] of Object.entries(ck.right.tensors)) expect(t.data.every(Number.isFinite), name).toBe(true);
    expect(
      Number.isFinite(
        ok(['eval', '--checkpoint', join(out, 'checkpoint.safetensors'), '--images', '20', '--batch', '10']).testBound,
      ),
    ).toBe(true);
  }, 120_000);
});

describe('bad files', () => {
  const file = (name: string, bytes: Uint8Array) => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };
  const header = (magic: number, dims: number[]) => {
    const b = Buffer.alloc(4 + 4 * dims.length);
    b.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
    return b;
  };
  it.each([
    ['empty', () => file('empty.idx', new Uint8Array(0)), 'too short to be an IDX file (0 bytes)'],
    [
      'truncated',
      () => file('short.idx', Buffer.concat([header(0x803, [10, 28, 28]), Buffer.alloc(100)])),
      'truncated, header says 10×28×28',
    ],
    [
      'bad magic',
      () => file('magic.idx', Buffer.concat([header(0x12340803, [1, 28, 28]), Buffer.alloc(784)])),
      'not an IDX file (bad magic',
    ],
    [
      '4-D',
      () => file('four.idx', Buffer.concat([header(0x804, [1, 1, 28, 28]), Buffer.alloc(784)])),
      'expected images (magic 2051, 3-D)',
    ],
  ])('an IDX file that is %s is one line naming the file', (_what, make, message) => {
    fails(['train', '--steps', '3', ...B, '--data', make(), '--out', join(dir, 'idx-error')], message);
  });

  it('labels that do not match the images in number', () => {
    const labels = file('labels.idx', Buffer.concat([header(0x801, [5]), Buffer.alloc(5)]));
    fails(
      [
        'train',
        '--steps',
        '3',
        ...B,
        '--data',
        idxImages('seven', 70),
        '--labels',
        labels,
        '--out',
        join(dir, 'labels-error'),
      ],
      /labels\.idx: has 5 labels but .*seven\.idx has 70 images/,
    );
  });

  it('a checkpoint whose header was edited, or that holds a non-finite value, is refused by eval, sample and export', () => {
    const good = join(dir, 'kept', 'checkpoint.safetensors');
    const edited = Buffer.from(readFileSync(good));
    edited.write('\\"T\\":7', edited.indexOf('\\"T\\":3'), 'latin1'); // the config is JSON text in the metadata
    const path = file('edited.safetensors', edited);
    for (const command of ['eval', 'sample', 'export'])
      fails(
        [command, '--checkpoint', path, '--out', join(dir, `edited-${command}`)],
        `checkpoint ${path} is corrupt: checksum mismatch`,
      );
    // an older build could save a diverged run as version 1
    const ck = loadCheckpoint(good);
    if (E.isLeft(ck)) throw new Error(ck.left.message);
    const tensors = {
      ...ck.right.tensors,
      'dec.w': {
        ...ck.right.tensors['dec.w'],
        data: ck.right.tensors['dec.w'].data.map((v, i) => (i === 5 ? Infinity : v)),
      },
    };
    const inf = file('inf.bin', encodeV1({ meta: ck.right.meta, tensors }));
    for (const command of ['eval', 'sample', 'export'])
      fails(
        [command, '--checkpoint', inf, '--out', join(dir, `inf-${command}`)],
        `checkpoint ${inf} holds a non-finite value in tensor dec.w: element 5 is Infinity`,
      );
  }, 60_000);
});

describe('small and mismatched data sets', () => {
  it('no images, or fewer than a batch, is a clear error before training', () => {
    fails(
      ['train', '--steps', '3', ...B, '--data', idxImages('six', 6), '--out', join(dir, 'six')],
      /has 5 training images, fewer than one batch of 10 \(--batch\)/,
    );
    expect(existsSync(join(dir, 'six'))).toBe(false);
    fails(
      ['train', '--steps', '3', ...B, '--data', idxImages('one', 1), '--out', join(dir, 'one')],
      /too few to hold out/,
    );
  });

  it('a data set of 12 trains, and eval and sample handle a test split smaller than a batch', () => {
    const data = idxImages('twelve', 12);
    const out = join(dir, 'twelve');
    const r = ok(['train', '--steps', '3', ...B, '--data', data, '--out', out]);
    expect(existsSync(r.reconstructionsPng)).toBe(true);
    expect(
      ok(['eval', '--checkpoint', join(out, 'checkpoint.safetensors'), '--data', data, '--batch', '10']).images,
    ).toBe(2);
  }, 120_000);

  it('eval and sample refuse images of another size than the model, and sample then writes no picture', () => {
    const ckpt = join(dir, 'twelve', 'checkpoint.safetensors');
    const small = idxImages('twenty', 60, 20, 20);
    fails(['eval', '--checkpoint', ckpt, '--data', small], `--data ${small} has 20×20 images, the model expects 28×28`);
    const out = join(dir, 'mismatch-samples');
    fails(['sample', '--checkpoint', ckpt, '--data', small, '--out', out], 'has 20×20 images, the model expects 28×28');
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});
