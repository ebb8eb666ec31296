// One-file checkpoints. What this build writes is a safetensors file (src/io/safetensors.ts: the layout,
// and what its sha256 covers); the DRAWCKPT files of older builds (versions 1 and 2,
// src/io/checkpoint-drawckpt.ts) still load. The first bytes tell which a file is.
// Tensors hold finite values only: saving refuses NaN/±Inf, loading reports one by tensor name.
// Saving is atomic (temp file, fsync, rename) so a crash mid-save never clobbers the last good file.
import { readFileSync } from 'node:fs';
import type * as E from 'fp-ts/lib/Either.js';
import { writeFileAtomic } from './atomic.ts';
import { type Checkpoint, type CheckpointError, fail } from './checkpoint-format.ts';
import { decodeDrawckpt, looksLikeDrawckpt } from './checkpoint-drawckpt.ts';
import { decodeSafetensors, encodeSafetensors, looksLikeSafetensors } from './safetensors.ts';

export {
  type Tensor,
  type Checkpoint,
  type CheckpointErrorKind,
  type CheckpointError,
  CheckpointEncodeError,
} from './checkpoint-format.ts';
export { DRAWCKPT_MAGIC } from './checkpoint-drawckpt.ts';

/** The file name `draw train` gives its checkpoint. */
export const CHECKPOINT_FILE = 'checkpoint.safetensors';

/** Serialise a checkpoint (safetensors) to bytes, no I/O; throws a CheckpointEncodeError on malformed or non-finite tensors or meta. */
export const encodeCheckpoint = (ckpt: Checkpoint): Buffer => encodeSafetensors(ckpt);

/** Save atomically; throws (with the folder named) if it cannot be written. */
export const saveCheckpoint = (path: string, ckpt: Checkpoint): void => {
  writeFileAtomic(path, encodeCheckpoint(ckpt), 'checkpoint');
};

/** Parse checkpoint bytes of any format this build reads; `path` only labels errors. Every structural problem is a Left. */
export const decodeCheckpoint = (bytes: Uint8Array, path: string): E.Either<CheckpointError, Checkpoint> => {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (looksLikeDrawckpt(buf)) return decodeDrawckpt(buf, path);
  if (looksLikeSafetensors(buf)) return decodeSafetensors(buf, path);
  return fail('bad-magic', path, 'is not a DRAW checkpoint (neither safetensors nor DRAWCKPT)');
};

/** Read and verify a checkpoint (format, header, sizes, checksum, finite values). */
export const loadCheckpoint = (path: string): E.Either<CheckpointError, Checkpoint> => {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return fail('missing', path, 'is missing');
    return fail('unreadable', path, `cannot be read (${err.code ?? err.message})`);
  }
  return decodeCheckpoint(bytes, path);
};
