import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { fillNormal, seedRng } from '../src/dsl/rng.ts';
import {
  CHECKPOINT_MAGIC, encodeCheckpoint, decodeCheckpoint, loadCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointError,
} from '../src/io/checkpoint.ts';
import { encodeV1 } from './checkpoint-v1.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const makeCheckpoint = (): Checkpoint => {
  const w = new Float32Array(256 * 100);
  fillNormal(seedRng(1), w);
  // values that a lossy or endian-confused round trip would break (a checkpoint holds finite values only)
  w.set([-0, 1e-45, 3.4028234663852886e38, -3.4028234663852886e38], 0);
  const b = new Float32Array([0.1, -0.2, 0.3]);
  return {
    meta: { config: { T: 10, read: 'attention' }, step: 1234, rng: seedRng(42), opt: { lr: 1e-3, betas: [0.9, 0.999] } },
    tensors: { 'enc/W': { shape: [256, 100], data: w }, 'enc/b': { shape: [3], data: b }, empty: { shape: [0, 4], data: new Float32Array(0) } },
  };
};

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const errorOf = (r: E.Either<CheckpointError, Checkpoint>): CheckpointError => {
  if (E.isRight(r)) throw new Error('expected a Left');
  return r.left;
};

describe('checkpoint round trip', () => {
  it('restores meta and tensors bit-exactly', () => {
    const p = join(tmp, 'ok.ckpt');
    const ck = makeCheckpoint();
    saveCheckpoint(p, ck);
    const r = loadCheckpoint(p);
    if (E.isLeft(r)) throw new Error(r.left.message);
    expect(r.right.meta).toEqual(JSON.parse(JSON.stringify(ck.meta)));
    expect(Object.keys(r.right.tensors)).toEqual(['enc/W', 'enc/b', 'empty']);
    for (const [name, t] of Object.entries(ck.tensors)) {
      expect(r.right.tensors[name].shape).toEqual(t.shape);
      expect(bytesOf(r.right.tensors[name].data).equals(bytesOf(t.data))).toBe(true);
    }
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('has the documented layout: magic, version, header length, aligned payload', () => {
    const buf = encodeCheckpoint(makeCheckpoint());
    expect(buf.subarray(0, 8).toString('latin1')).toBe(CHECKPOINT_MAGIC);
    expect(buf.readUInt32LE(8)).toBe(2);
    const hlen = buf.readUInt32LE(12);
    // bytes 16..48: sha256 of every other byte of the file
    const digest = createHash('sha256').update(buf.subarray(0, 16)).update(buf.subarray(48)).digest();
    expect(buf.subarray(16, 48).equals(digest)).toBe(true);
    const header = JSON.parse(buf.subarray(48, 48 + hlen).toString('utf8'));
    expect(header.tensors[1]).toEqual({ name: 'enc/b', shape: [3], offset: 256 * 100 * 4, length: 12 });
    const start = (48 + hlen + 3) & ~3;
    expect(buf.length).toBe(start + (25600 + 3) * 4);
    expect(buf.readFloatLE(start + 25600 * 4)).toBeCloseTo(0.1, 7);
  });

  it('rejects tensors whose shape does not match their data', () => {
    const p = join(tmp, 'shape.ckpt');
    expect(() => saveCheckpoint(p, { meta: {}, tensors: { w: { shape: [2, 3], data: new Float32Array(5) } } }))
      .toThrow('checkpoint tensor w: shape [2, 3] has 6 elements but data has 5');
    expect(existsSync(p)).toBe(false);
  });
});

describe('checkpoint verification', () => {
  const good = encodeCheckpoint(makeCheckpoint());
  const write = (name: string, bytes: Uint8Array) => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return p;
  };

  it('detects a flipped payload byte by checksum', () => {
    const bad = Buffer.from(good);
    bad[bad.length - 100] ^= 0x01;
    const p = write('flipped.ckpt', bad);
    const e = errorOf(loadCheckpoint(p));
    expect(e.kind).toBe('corrupt');
    expect(e.message).toBe(`checkpoint ${p} is corrupt: checksum mismatch`);
  });

  it('detects truncation, in the payload and in the header', () => {
    const p1 = write('trunc1.ckpt', good.subarray(0, good.length - 4));
    expect(errorOf(loadCheckpoint(p1)).message).toMatch(new RegExp(`^checkpoint ${p1} is truncated`));
    const p2 = write('trunc2.ckpt', good.subarray(0, 40));
    expect(errorOf(loadCheckpoint(p2)).kind).toBe('truncated');
    const p3 = write('trunc3.ckpt', good.subarray(0, 5));
    expect(errorOf(loadCheckpoint(p3)).kind).toBe('truncated');
  });

  it('reports a missing file, a foreign file, a future version and a broken header, on one printable line', () => {
    const missing = join(tmp, 'run', 'ckpt.bin');
    expect(errorOf(loadCheckpoint(missing)).message).toBe(`checkpoint ${missing} is missing`);
    const png = write('not.ckpt', Buffer.from('\x89PNG\r\n\x1a\n and more bytes'));
    expect(errorOf(loadCheckpoint(png)).message).toBe(`checkpoint ${png} is not a DRAW checkpoint (bad magic)`);
    const v3 = Buffer.from(good);
    v3.writeUInt32LE(3, 8);
    expect(errorOf(loadCheckpoint(write('v3.ckpt', v3))).message).toMatch(/has format version 3; this build reads versions 1 and 2$/);
    const hdr = Buffer.from(good);
    hdr[48] = 0x7d; // '}' where '{' belongs
    expect(errorOf(loadCheckpoint(write('hdr.ckpt', hdr))).kind).toBe('bad-header');
    const ctl = Buffer.from(good);
    ctl.write('\u0000\n\u001b', 56, 'latin1'); // where meta's value belongs: JSON.parse quotes its input
    const ctlPath = write('ctl.ckpt', ctl);
    expect(errorOf(loadCheckpoint(ctlPath)).message)
      .toMatch(new RegExp(`^checkpoint ${ctlPath} has an unreadable header \\(.*\\\\u0000\\\\u000a\\\\u001b.*\\)$`));
    const extra = Buffer.concat([good, Buffer.alloc(4)]);
    expect(errorOf(loadCheckpoint(write('extra.ckpt', extra))).message).toMatch(/is corrupt: 4 unexpected bytes/);
  });
});

describe('atomic save', () => {
  it('fails naming the folder when it cannot be written, and leaves no file', () => {
    // A folder path running through a regular file is unwritable even for root (unlike chmod).
    const blocker = join(tmp, 'blocker');
    writeFileSync(blocker, 'x');
    const target = join(blocker, 'ckpt.bin');
    expect(() => saveCheckpoint(target, makeCheckpoint())).toThrow(
      `cannot write checkpoint ${target}: folder ${blocker} does not exist or is not a folder`,
    );
    expect(readFileSync(blocker, 'utf8')).toBe('x');
  });

  it('keeps the previous checkpoint and cleans its temp file when the final rename fails', () => {
    const dir = join(tmp, 'atomic');
    mkdirSync(dir);
    const p = join(dir, 'ckpt.bin');
    mkdirSync(p); // renaming a file onto a non-empty folder fails after the temp file is written
    writeFileSync(join(p, 'keep'), 'k');
    expect(() => saveCheckpoint(p, makeCheckpoint())).toThrow(new RegExp(`cannot write checkpoint ${p}:`));
    expect(readdirSync(dir)).toEqual(['ckpt.bin']);
    expect(readFileSync(join(p, 'keep'), 'utf8')).toBe('k');
  });

  it('replaces an existing checkpoint in one step', () => {
    const p = join(tmp, 'replace.ckpt');
    saveCheckpoint(p, { meta: { step: 1 }, tensors: {} });
    saveCheckpoint(p, { meta: { step: 2 }, tensors: {} });
    const r = loadCheckpoint(p);
    expect(E.isRight(r) && r.right.meta).toEqual({ step: 2 });
  });
});

describe('checkpoint header checksum (version 2)', () => {
  it('catches an edited header: T 3 → 7 in the meta', () => {
    const buf = encodeCheckpoint({ meta: { config: { T: 3 } }, tensors: { w: { shape: [2], data: new Float32Array([1, 2]) } } });
    const at = buf.indexOf('"T":3');
    expect(at).toBeGreaterThan(0);
    buf.write('"T":7', at, 'latin1');
    expect(errorOf(decodeCheckpoint(buf, 'edited.bin'))).toMatchObject({ kind: 'corrupt', message: 'checkpoint edited.bin is corrupt: checksum mismatch' });
  });

  it('still loads version-1 files, whose header has no checksum', () => {
    const ck = makeCheckpoint();
    const r = decodeCheckpoint(encodeV1(ck), 'v1.bin');
    if (E.isLeft(r)) throw new Error(r.left.message);
    expect(r.right.meta).toEqual(ck.meta);
    expect(bytesOf(r.right.tensors['enc/W'].data).equals(bytesOf(ck.tensors['enc/W'].data))).toBe(true);
  });
});

describe('non-finite values', () => {
  it('are never saved: the save names the tensor and leaves the file on disk as it was', () => {
    const path = join(tmp, 'finite.bin');
    saveCheckpoint(path, makeCheckpoint());
    const before = readFileSync(path);
    const bad = new Float32Array([0, 1, Infinity]);
    expect(() => saveCheckpoint(path, { meta: {}, tensors: { 'dec.w': { shape: [3], data: bad } } }))
      .toThrow('checkpoint tensor dec.w: element 2 is Infinity; a checkpoint holds finite values only');
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('in a file (as an older build could write) are refused on load, naming the tensor', () => {
    const buf = encodeV1({ meta: {}, tensors: { ok: { shape: [1], data: new Float32Array([1]) }, 'q.mu': { shape: [2], data: new Float32Array([0, NaN]) } } });
    expect(errorOf(decodeCheckpoint(buf, 'nan.bin'))).toMatchObject({ kind: 'non-finite', message: 'checkpoint nan.bin holds a non-finite value in tensor q.mu: element 1 is NaN' });
  });
});

describe('temporaries of killed saves', () => {
  it("are removed on the next save when their process is gone, and a live process's are kept", () => {
    const path = join(tmp, 'stale.bin');
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(`${path}.tmp-${dead}-0`, 'half a checkpoint');
    writeFileSync(`${path}.tmp-${process.pid}-99`, 'a live writer');
    writeFileSync(join(tmp, `other.bin.tmp-${dead}-0`), 'another file');
    saveCheckpoint(path, makeCheckpoint());
    expect(existsSync(`${path}.tmp-${dead}-0`)).toBe(false);
    expect(existsSync(`${path}.tmp-${process.pid}-99`)).toBe(true);
    expect(existsSync(join(tmp, `other.bin.tmp-${dead}-0`))).toBe(true);
  });
});
