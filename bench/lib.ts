// Shared benchmark helpers: warm up, time repeated runs, report medians and spread.
export interface Timing {
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly runs: number;
}

export const time = (fn: () => void, { warmup = 2, runs = 10, budgetMs = 20000 } = {}): Timing => {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  const start = performance.now();
  while (ts.length < runs && (ts.length < 3 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return { medianMs: ts[ts.length >> 1], minMs: ts[0], maxMs: ts[ts.length - 1], runs: ts.length };
};

/**
 * Times async functions round by round, each round running every one of them once in turn, so a
 * change in machine load hits them all alike. Medians per function after `warmup` rounds.
 */
export const interleaved = async (
  fns: readonly (() => Promise<unknown>)[],
  { warmup = 1, rounds = 5 } = {},
): Promise<Timing[]> => {
  const ts = fns.map(() => [] as number[]);
  for (let r = 0; r < warmup + rounds; r++)
    for (const [i, fn] of fns.entries()) {
      const t0 = performance.now();
      await fn();
      if (r >= warmup) ts[i].push(performance.now() - t0);
    }
  return ts.map((t) => {
    t.sort((a, b) => a - b);
    return { medianMs: t[t.length >> 1], minMs: t[0], maxMs: t[t.length - 1], runs: t.length };
  });
};

export const table = (rows: readonly Record<string, string | number>[]): string => {
  const cols = Object.keys(rows[0] ?? {});
  const cell = (v: string | number) =>
    typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : v;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(cell(r[c])).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(widths[i])).join('  ');
  return [
    line(cols),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(cols.map((c) => String(cell(r[c]))))),
  ].join('\n');
};

/** The value after flag `name` on the command line, if given. */
export const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
