// Checkpoints as older builds wrote them (DRAWCKPT versions 1 and 2), for the tests that read such files.
import { createHash } from 'node:crypto';
import { DRAWCKPT_MAGIC, type Checkpoint } from '../src/io/checkpoint.ts';

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

const entriesOf = (ckpt: Checkpoint) => {
  let offset = 0;
  return Object.entries(ckpt.tensors).map(([name, t]) => {
    const e = { name, shape: [...t.shape], offset, length: t.data.byteLength };
    offset += t.data.byteLength;
    return e;
  });
};

const layOut = (version: number, headerStart: number, header: Buffer, payload: Buffer): Buffer => {
  const start = (headerStart + header.length + 3) & ~3;
  const out = Buffer.alloc(start + payload.length);
  out.write(DRAWCKPT_MAGIC, 0, 'latin1');
  out.writeUInt32LE(version, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, headerStart);
  payload.copy(out, start);
  return out;
};

/** The layout version 1 wrote (builds before 2026-12): header at byte 16 with the payload's sha256, no digest of the header. */
export const encodeV1 = (ckpt: Checkpoint): Buffer => {
  const payload = Buffer.concat(Object.values(ckpt.tensors).map((t) => bytesOf(t.data)));
  const header = Buffer.from(
    JSON.stringify({
      meta: ckpt.meta,
      tensors: entriesOf(ckpt),
      sha256: createHash('sha256').update(payload).digest('hex'),
    }),
  );
  return layOut(1, 16, header, payload);
};

/** Version 2's digest: sha256 of bytes 0..16 and 48..end, stored at 16..48. */
export const sealV2 = (b: Buffer): Buffer => {
  if (b.length < 48 || b.readUInt32LE(8) !== 2) return b;
  const out = Buffer.from(b);
  createHash('sha256').update(out.subarray(0, 16)).update(out.subarray(48)).digest().copy(out, 16);
  return out;
};

/** The layout version 2 wrote (builds before safetensors): a digest of every other byte at 16..48, header at 48. */
export const encodeV2 = (ckpt: Checkpoint): Buffer => {
  const payload = Buffer.concat(Object.values(ckpt.tensors).map((t) => bytesOf(t.data)));
  const header = Buffer.from(JSON.stringify({ meta: ckpt.meta ?? null, tensors: entriesOf(ckpt) }));
  return sealV2(layOut(2, 48, header, payload));
};
