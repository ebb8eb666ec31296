// The pretrained model that ships with the package (pretrained/draw-fast.safetensors): it loads, it is
// the default preset trained well past the default run, it is good (its test bound on held-out images),
// and the CLI's eval, sample and export take it with --pretrained; a damaged file is named, not trusted.
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { PRETRAINED_FILE, loadPretrained } from '../src/node/pretrained.ts';
import { presets } from '../src/models/draw/index.ts';
import { parseFlags } from '../src/cli/options.ts';
import { evaluateCommand } from '../src/cli/evaluate.ts';
import { sample } from '../src/cli/sample.ts';
import { pretrainedExport } from '../examples/demo/serve.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-pretrained-'));
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 120_000 });

describe('the pretrained model', () => {
  it('loads: the fast preset, trained far past the default run of 1,000 steps, parameters only and finite', () => {
    const p = loadPretrained();
    if (E.isLeft(p)) throw p.left;
    expect(p.right.meta.config).toEqual(presets.mnistFast);
    expect(p.right.meta.step).toBeGreaterThan(5_000);
    expect(Object.keys(p.right.params).sort()).toEqual(Object.keys(p.right.model.paramShapes).sort());
    for (const v of Object.values(p.right.params)) expect(v.every(Number.isFinite)).toBe(true);
    expect(statSync(PRETRAINED_FILE).size).toBeLessThan(8 * 2 ** 20);
  });

  it("eval --pretrained: a test bound far below the default run's 144 nats, on 500 test images", () => {
    const r = evaluateCommand(parseFlags(['eval', '--pretrained', '--images', '500']).flags);
    expect(r.images).toBe(500);
    expect(r.testBound as number).toBeLessThan(120);
  }, 120_000);

  it('its bound on the first 200 test images is the figure the README gives (within 0.05 nats)', () => {
    const readme = readFileSync('README.md', 'utf8').replace(/\s+/g, ' ');
    const recorded = /`npm run draw -- eval --pretrained --images 200`[^*]*\*\*([\d.]+) nats\*\*/.exec(readme);
    expect(recorded, 'the README names the 200-image figure').not.toBeNull();
    const r = evaluateCommand(parseFlags(['eval', '--pretrained', '--images', '200']).flags);
    expect(Math.abs((r.testBound as number) - Number(recorded![1]))).toBeLessThan(0.05);
  }, 120_000);

  it('sample --pretrained writes the pictures', () => {
    const r = sample(parseFlags(['sample', '--pretrained', '--count', '4', '--out', join(dir, 's')]).flags);
    for (const f of ['samples.png', 'steps.png', 'reconstructions.png'])
      expect(existsSync(join(dir, 's', f))).toBe(true);
    expect(r.checkpoint).toBe(PRETRAINED_FILE);
  }, 120_000);

  it('--pretrained with --checkpoint, or with a config it does not have, is one line, exit 2', () => {
    const both = cli('eval', '--pretrained', '--checkpoint', 'x.safetensors');
    expect(both.status).toBe(2);
    expect(both.stderr.trim()).toBe(
      'error: --pretrained uses the model that ships with draw-ts: drop --checkpoint, or --pretrained',
    );
    const other = cli('sample', '--pretrained', '--T', '64');
    expect(other.status).toBe(2);
    expect(other.stderr.trim()).toBe('error: the pretrained model has T = 10, but the flags ask for 64');
  }, 60_000);

  it('the demo exports it when no run was exported: a generator folder of the pretrained step', async () => {
    const out = await pretrainedExport(join(dir, 'export'));
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const p = loadPretrained();
    expect(manifest.source).toEqual({ pretrained: true, step: E.isRight(p) && p.right.meta.step });
    expect(manifest.config).toEqual(presets.mnistFast);
  }, 120_000);

  it('a damaged copy is refused, naming the file', () => {
    const bad = join(dir, 'bad.safetensors');
    copyFileSync(PRETRAINED_FILE, bad);
    const bytes = readFileSync(bad);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(bad, bytes);
    const p = loadPretrained(bad);
    expect(E.isLeft(p) && p.left.message).toContain(bad);
  });
});
