// Checkpoints as older builds wrote them, for the tests that read such files.
import { createHash } from 'node:crypto';
import { CHECKPOINT_MAGIC, type Checkpoint } from '../src/io/checkpoint.ts';

const bytesOf = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The layout version 1 wrote (builds before 2026-12): header at byte 16 with the payload's sha256, no digest of the header. */
export const encodeV1 = (ckpt: Checkpoint): Buffer => {
  let offset = 0;
  const entries = Object.entries(ckpt.tensors).map(([name, t]) => {
    const e = { name, shape: [...t.shape], offset, length: t.data.byteLength };
    offset += t.data.byteLength;
    return e;
  });
  const payload = Buffer.concat(Object.values(ckpt.tensors).map((t) => bytesOf(t.data)));
  const header = Buffer.from(JSON.stringify({ meta: ckpt.meta, tensors: entries, sha256: createHash('sha256').update(payload).digest('hex') }));
  const start = (16 + header.length + 3) & ~3;
  const out = Buffer.alloc(start + payload.length);
  out.write(CHECKPOINT_MAGIC, 0, 'latin1');
  out.writeUInt32LE(1, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, 16);
  payload.copy(out, start);
  return out;
};
