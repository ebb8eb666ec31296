import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { fillNormal, seedRng } from '../src/dsl/rng.ts';
import {
  CHECKPOINT_FILE,
  encodeCheckpoint,
  decodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type Checkpoint,
  type CheckpointError,
} from '../src/io/checkpoint.ts';
import { SAFETENSORS_CHECKSUM_AT } from '../src/io/safetensors.ts';
import { encodeV1, encodeV2 } from './checkpoint-legacy.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const makeCheckpoint = (): Checkpoint => {
  const w = new Float32Array(256 * 100);
  fillNormal(seedRng(1), w);
  // values that a lossy or endian-confused round trip would break (a checkpoint holds finite values only)
  w.set([-0, 1e-45, 3.4028234663852886e38, -3.4028234663852886e38], 0);
  const b = new Float32Array([0.1, -0.2, 0.3]);
  return {
    meta: {
      config: { T: 10, read: 'attention' },
      step: 1234,
      rng: seedRng(42),
      opt: { lr: 1e-3, betas: [0.9, 0.999] },
    },
    tensors: {
      'enc/W': { shape: [256, 100], data: w },
      'enc/b': { shape: [3], data: b },
      empty: { shape: [0, 4], data: new Float32Array(0) },
    },
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

  it('rejects tensors whose shape does not match their data', () => {
    const p = join(tmp, 'shape.ckpt');
    expect(() => saveCheckpoint(p, { meta: {}, tensors: { w: { shape: [2, 3], data: new Float32Array(5) } } })).toThrow(
      'checkpoint tensor w: shape [2, 3] has 6 elements but data has 5',
    );
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
    expect(errorOf(loadCheckpoint(png)).message).toBe(
      `checkpoint ${png} is not a DRAW checkpoint (neither safetensors nor DRAWCKPT)`,
    );
    const v3 = encodeV2(makeCheckpoint());
    v3.writeUInt32LE(3, 8);
    expect(errorOf(loadCheckpoint(write('v3.ckpt', v3))).message).toMatch(
      /has DRAWCKPT format version 3; this build reads versions 1 and 2 \(and safetensors\)$/,
    );
    const hdr = Buffer.from(good);
    hdr[8 + '{"__metadata__":'.length] = 0x5b; // '[' where the metadata's '{' belongs
    expect(errorOf(loadCheckpoint(write('hdr.ckpt', hdr))).kind).toBe('bad-header');
    const ctl = Buffer.from(good);
    ctl.write('\u0000\n\u001b', good.indexOf('"config":') + 9, 'latin1'); // where a value belongs: JSON.parse quotes its input
    const ctlPath = write('ctl.ckpt', ctl);
    expect(errorOf(loadCheckpoint(ctlPath)).message).toMatch(
      new RegExp(`^checkpoint ${ctlPath} has an unreadable header \\(.*\\\\u0000\\\\u000a\\\\u001b.*\\)$`),
    );
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

describe('non-finite values', () => {
  it('are never saved: the save names the tensor and leaves the file on disk as it was', () => {
    const path = join(tmp, 'finite.bin');
    saveCheckpoint(path, makeCheckpoint());
    const before = readFileSync(path);
    const bad = new Float32Array([0, 1, Infinity]);
    expect(() => saveCheckpoint(path, { meta: {}, tensors: { 'dec.w': { shape: [3], data: bad } } })).toThrow(
      'checkpoint tensor dec.w: element 2 is Infinity; a checkpoint holds finite values only',
    );
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('in a file (as an older build could write) are refused on load, naming the tensor', () => {
    const buf = encodeV1({
      meta: {},
      tensors: {
        ok: { shape: [1], data: new Float32Array([1]) },
        'q.mu': { shape: [2], data: new Float32Array([0, NaN]) },
      },
    });
    expect(errorOf(decodeCheckpoint(buf, 'nan.bin'))).toMatchObject({
      kind: 'non-finite',
      message: 'checkpoint nan.bin holds a non-finite value in tensor q.mu: element 1 is NaN',
    });
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

describe('the safetensors layout, byte by byte against the specification', () => {
  const ck = makeCheckpoint();
  const buf = encodeCheckpoint(ck);
  const n = Number(buf.readBigUInt64LE(0));
  const text = buf.subarray(8, 8 + n).toString('utf8');
  const header = JSON.parse(text);

  it('an 8-byte little-endian header length, a JSON header starting with { and padded with spaces to a multiple of 8', () => {
    expect(buf.readUInt32LE(4)).toBe(0); // the u64's high half
    expect(n % 8).toBe(0);
    expect(text[0]).toBe('{');
    const json = text.trimEnd();
    expect(json.endsWith('}')).toBe(true);
    expect(text.slice(json.length)).toBe(' '.repeat(n - json.length));
    expect(n - json.length).toBeLessThan(8);
    expect(CHECKPOINT_FILE).toBe('checkpoint.safetensors');
  });

  it('keys: __metadata__ (string → string) then the tensors, each exactly dtype F32, shape, data_offsets', () => {
    expect(Object.keys(header)).toEqual(['__metadata__', 'enc/W', 'enc/b', 'empty']);
    const metadata = header.__metadata__ as Record<string, unknown>;
    expect(Object.keys(metadata)).toEqual(['sha256', 'config', 'step', 'rng', 'opt']);
    expect(Object.values(metadata).every((v) => typeof v === 'string')).toBe(true);
    expect(JSON.parse(metadata.config as string)).toEqual(ck.meta && (ck.meta as { config: unknown }).config);
    expect(metadata.step).toBe('1234');
    for (const [name, t] of Object.entries(ck.tensors)) {
      expect(Object.keys(header[name])).toEqual(['dtype', 'shape', 'data_offsets']);
      expect(header[name].dtype).toBe('F32');
      expect(header[name].shape).toEqual(t.shape);
    }
  });

  it('offsets contiguous and in order from 0 to the end of the file, the payload float32 little-endian', () => {
    const offsets = ['enc/W', 'enc/b', 'empty'].map((k) => header[k].data_offsets as [number, number]);
    expect(offsets).toEqual([
      [0, 102400],
      [102400, 102412],
      [102412, 102412],
    ]);
    expect(buf.length).toBe(8 + n + 102412);
    const w = ck.tensors['enc/W'].data;
    for (const i of [0, 1, 2, 3, 4, 25599]) expect(buf.readFloatLE(8 + n + 4 * i)).toBe(w[i]);
    expect(buf.readUInt32LE(8 + n + 4)).toBe(1); // 1e-45, the smallest subnormal: bit pattern 0x00000001
    expect(buf.readFloatLE(8 + n + 102400)).toBe(Math.fround(0.1));
  });

  it('__metadata__.sha256 is the digest of the whole file with its own 64 hex digits read as ASCII 0', () => {
    expect(SAFETENSORS_CHECKSUM_AT).toBe(35);
    expect(buf.subarray(8, 35).toString('latin1')).toBe('{"__metadata__":{"sha256":"');
    const zeroed = Buffer.from(buf);
    zeroed.fill('0', 35, 99);
    expect(header.__metadata__.sha256).toBe(createHash('sha256').update(zeroed).digest('hex'));
    expect(buf.subarray(35, 99).toString('latin1')).toBe(header.__metadata__.sha256);
  });

  it('an independent reader (Python standard library) agrees on the tensors and the checksum', (ctx) => {
    if (spawnSync('python3', ['--version']).status !== 0) {
      console.warn('[tests] skipping the Python cross-check of the safetensors layout: no python3');
      ctx.skip();
    }
    const p = join(tmp, 'py.safetensors');
    saveCheckpoint(p, ck);
    const script = [
      'import hashlib, json, struct, sys',
      'b = open(sys.argv[1], "rb").read()',
      'n = struct.unpack("<Q", b[:8])[0]',
      'h = json.loads(b[8:8 + n])',
      'ok = hashlib.sha256(b[:35] + b"0" * 64 + b[99:]).hexdigest() == h["__metadata__"]["sha256"]',
      'out = {"checksum": ok, "meta": h["__metadata__"]}',
      'for k, v in h.items():',
      '    if k == "__metadata__": continue',
      '    s, e = v["data_offsets"]',
      '    out[k] = list(struct.unpack("<%df" % ((e - s) // 4), b[8 + n + s:8 + n + e]))[:5]',
      'print(json.dumps(out))',
    ].join('\n');
    const r = spawnSync('python3', ['-c', script, p], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const py = JSON.parse(r.stdout);
    expect(py.checksum).toBe(true);
    expect(py.meta.step).toBe('1234');
    expect(py['enc/W']).toEqual([...ck.tensors['enc/W'].data.subarray(0, 5)]);
    expect(py['enc/b']).toEqual([...ck.tensors['enc/b'].data]);
    expect(py.empty).toEqual([]);
  });
});

describe('safetensors checksum and metadata', () => {
  it('catches an edited header: T 3 → 7 in the metadata', () => {
    const buf = encodeCheckpoint({
      meta: { config: { T: 3 } },
      tensors: { w: { shape: [2], data: new Float32Array([1, 2]) } },
    });
    const at = buf.indexOf('\\"T\\":3');
    expect(at).toBeGreaterThan(0);
    buf.write('\\"T\\":7', at, 'latin1');
    expect(errorOf(decodeCheckpoint(buf, 'edited.safetensors'))).toMatchObject({
      kind: 'corrupt',
      message: 'checkpoint edited.safetensors is corrupt: checksum mismatch',
    });
  });

  it('refuses a safetensors file without the draw-ts checksum, by name', () => {
    const json = '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const h = Buffer.from(json.padEnd(Math.ceil(json.length / 8) * 8, ' '));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    const foreign = Buffer.concat([len, h, Buffer.alloc(4)]);
    expect(errorOf(decodeCheckpoint(foreign, 'hub.safetensors')).message).toBe(
      'checkpoint hub.safetensors is a safetensors file without the draw-ts checksum (__metadata__.sha256 first in its header)',
    );
  });

  it('pairs each name with its values, integer-like names and __proto__ included, and keeps meta values of every JSON type', () => {
    const one = (v: number) => ({ shape: [1], data: new Float32Array([v]) });
    const meta = { s: 'x', n: 1.5, b: false, z: null, a: [1, 'two'], o: { k: 1 } };
    // a computed key makes __proto__ an own property; JavaScript orders integer-like keys first
    const tensors = { b: one(1), 10: one(2), ['__proto__']: one(3), 2: one(4) };
    const r = decodeCheckpoint(encodeCheckpoint({ meta, tensors }), 'names');
    if (E.isLeft(r)) throw new Error(r.left.message);
    expect(Object.keys(r.right.tensors)).toEqual(['2', '10', 'b', '__proto__']);
    expect(Object.entries(r.right.tensors).map(([k, t]) => [k, t.data[0]])).toEqual([
      ['2', 4],
      ['10', 2],
      ['b', 1],
      ['__proto__', 3],
    ]);
    expect(r.right.meta).toEqual(meta);
  });

  it('meta must be a JSON object without a field named sha256', () => {
    expect(() => encodeCheckpoint({ meta: [1, 2], tensors: {} })).toThrow(
      'checkpoint meta must be a JSON object (safetensors metadata maps names to strings), got an array',
    );
    expect(() => encodeCheckpoint({ meta: { sha256: 'x' }, tensors: {} })).toThrow(
      'checkpoint meta field "sha256" is reserved',
    );
    expect(() => encodeCheckpoint({ meta: { lr: NaN }, tensors: {} })).toThrow(
      'checkpoint meta "lr" field "" is NaN, not a finite number',
    );
  });

  it('a tensor holding NaN in a file refused by name, as in a DRAWCKPT file', () => {
    const buf = encodeCheckpoint({
      meta: {},
      tensors: {
        ok: { shape: [1], data: new Float32Array([1]) },
        'q.mu': { shape: [2], data: new Float32Array([0, 1]) },
      },
    });
    const n = Number(buf.readBigUInt64LE(0));
    buf.writeFloatLE(NaN, 8 + n + 8);
    buf.fill('0', 35, 99);
    buf.write(createHash('sha256').update(buf).digest('hex'), 35, 'latin1');
    expect(errorOf(decodeCheckpoint(buf, 'nan.safetensors'))).toMatchObject({
      kind: 'non-finite',
      message: 'checkpoint nan.safetensors holds a non-finite value in tensor q.mu: element 1 is NaN',
    });
  });
});

describe('checkpoints of older builds (DRAWCKPT) still load', () => {
  it.each([
    ['version 1', encodeV1],
    ['version 2', encodeV2],
  ])('%s', (_, encode) => {
    const ck = makeCheckpoint();
    const r = decodeCheckpoint(encode(ck), 'old.bin');
    if (E.isLeft(r)) throw new Error(r.left.message);
    expect(r.right.meta).toEqual(ck.meta);
    for (const name of Object.keys(ck.tensors))
      expect(bytesOf(r.right.tensors[name].data).equals(bytesOf(ck.tensors[name].data))).toBe(true);
  });

  it('version 2 catches an edited header (its digest covers it); version 1 never did', () => {
    const buf = encodeV2({
      meta: { config: { T: 3 } },
      tensors: { w: { shape: [2], data: new Float32Array([1, 2]) } },
    });
    buf.write('"T":7', buf.indexOf('"T":3'), 'latin1');
    expect(errorOf(decodeCheckpoint(buf, 'edited.bin'))).toMatchObject({
      kind: 'corrupt',
      message: 'checkpoint edited.bin is corrupt: checksum mismatch',
    });
  });
});
