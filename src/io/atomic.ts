// Writing a file so that it is either the old one or the whole new one: a temporary file in the same
// folder (so the rename stays on one file system), fsync, rename. A process killed mid-write leaves
// its temporary behind (`NAME.tmp-PID-N`); the next write of NAME removes those of dead processes.
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A file that could not be written (no such folder, not writable, disk full): the message names it and why. */
export class WriteError extends Error {
  override name = 'WriteError';
}

let tmpCounter = 0;

/** Whether process `pid` is running (EPERM: it is, but not ours to signal). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes the temporaries of `path` left by processes that are gone; never one a live writer holds. */
export const removeStaleTemporaries = (path: string): string[] => {
  const prefix = `${basename(path)}.tmp-`;
  const stale = readdirSync(dirname(path)).filter((f) => {
    const m = f.startsWith(prefix) ? /^(\d+)-\d+$/.exec(f.slice(prefix.length)) : null;
    return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
  });
  stale.forEach((f) => {
    try {
      unlinkSync(join(dirname(path), f));
    } catch {
      /* another writer removed it first */
    }
  });
  return stale;
};

/**
 * Writes `bytes` to `path` atomically; on any failure the temporary is removed and `path` is
 * untouched. `what` names the file in error messages ("checkpoint", "image"...).
 */
export const writeFileAtomic = (path: string, bytes: Uint8Array, what = 'file'): void => {
  const dir = dirname(path);
  let dirOk = false;
  try {
    dirOk = statSync(dir).isDirectory();
  } catch {
    dirOk = false;
  }
  if (!dirOk) throw new WriteError(`cannot write ${what} ${path}: folder ${dir} does not exist or is not a folder`);
  removeStaleTemporaries(path);
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        /* already failing; keep the first error */
      }
    }
    try {
      if (existsSync(tmp)) unlinkSync(tmp);
    } catch {
      /* nothing more we can do */
    }
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS'
        ? `folder ${dir} is not writable (${err.code})`
        : err.message;
    throw new WriteError(`cannot write ${what} ${path}: ${why}`);
  }
};
