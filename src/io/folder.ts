// Making an output folder, quickly or not at all. node's mkdirSync({ recursive: true }) spins forever
// where mkdir answers ENOENT although the parent exists (under /proc, say), so the missing folders are
// made one at a time from the nearest existing ancestor; a folder we cannot write a file into is
// refused up front rather than at the first checkpoint, minutes into a run.
import { mkdirSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';

const why = (e: unknown): string => {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'a folder cannot be made there (ENOENT)';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `not writable (${code})`;
  return code ?? (e as Error).message;
};

const kindOf = (path: string): 'folder' | 'other' | 'none' => {
  try {
    return statSync(path).isDirectory() ? 'folder' : 'other';
  } catch {
    return 'none';
  }
};

/** Creates `dir` (and missing parents) and checks a file can be written in it; Left says why not. */
export const makeWritableFolder = (dir: string): E.Either<Error, string> => {
  const missing: string[] = [];
  let at = resolve(dir);
  while (kindOf(at) === 'none' && dirname(at) !== at) {
    missing.unshift(at);
    at = dirname(at);
  }
  if (kindOf(at) !== 'folder')
    return E.left(new Error(`cannot write to output folder '${dir}': ${at} is not a folder`));
  const made: string[] = [];
  try {
    for (const d of missing) made.push((mkdirSync(d), d));
    const probe = join(resolve(dir), `.draw-write-probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    made.reverse().forEach((d) => rmdirSync(d)); // only the folders made here, still empty
    return E.left(new Error(`cannot write to output folder '${dir}': ${why(e)}`));
  }
  return E.right(dir);
};
