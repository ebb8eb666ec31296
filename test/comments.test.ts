// Comments name the files that explain them ("see render.ts"): a renamed or removed file must not leave
// a comment pointing at nothing. Every TypeScript file name in a comment of the tracked sources must be
// the end of a tracked path.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const tracked = execFileSync('git', ['ls-files'], { encoding: 'utf8' }).trim().split('\n');
const sources = tracked.filter((p) => /^(src|bench|examples|scripts|test)\/.*\.ts$/.test(p));
/** The comments of a file: `//` to the end of the line (not inside a string: a crude test, `://` excluded) and block comments. */
const commentsOf = (text: string): string[] =>
  [...text.matchAll(/(?<![:'"`\w])\/\/(.*)$|\/\*([\s\S]*?)\*\//gm)].map((m) => m[1] ?? m[2]);

describe('file names in comments', () => {
  it('each names a file that exists', () => {
    const dangling = sources.flatMap((file) =>
      commentsOf(readFileSync(file, 'utf8')).flatMap((c) =>
        [...c.matchAll(/(?<![\w./-])((?:[\w-]+\/)*[\w-]+\.ts)\b/g)]
          .map((m) => m[1].replace(/^src\//, ''))
          .filter((name) => !tracked.some((p) => p === name || p.endsWith(`/${name}`)))
          .map((name) => `${file}: ${name}`),
      ),
    );
    expect(dangling).toEqual([]);
  });
});
