// The committed long runs (results/) hold the figures the README gives for them: the 8-glimpse cluttered
// classifier's test error on a fixed subset, the first 1,000 test canvases (deterministic: the canvases
// and the classifier's glimpses draw nothing at random).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseFlags } from '../src/cli/options.ts';
import { evaluateCommand } from '../src/cli/evaluate.ts';

describe('the committed long runs', () => {
  it("results/cluttered8: its error on the first 1,000 test canvases is the README's figure", () => {
    const readme = readFileSync('README.md', 'utf8').replace(/\s+/g, ' ');
    const command = 'npm run draw -- eval --checkpoint results/cluttered8/checkpoint.safetensors --images 1000';
    const recorded = new RegExp(`\`${command}\`[^*]*\\*\\*([\\d.]+)% test error\\*\\*`).exec(readme);
    expect(recorded, `the README names the figure of \`${command}\``).not.toBeNull();
    const r = evaluateCommand(parseFlags(command.split(' ').slice(4)).flags);
    expect(r).toMatchObject({ dataset: 'cluttered', images: 1000 });
    expect(Math.abs(100 * (r.testError as number) - Number(recorded![1]))).toBeLessThan(0.05);
  }, 120_000);
});
