// The pretrained models that ship with the package (pretrained/*.safetensors): `paper` (the paper's T=64
// with attention, the default) and `fast` (the default preset). Each loads, is trained far past the
// default run, is good (its test bound on held-out images, the figure the README records), and the CLI's
// eval, sample and export take it with --pretrained [NAME]; a damaged file is named, not trusted.
import { describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import * as E from 'fp-ts/lib/Either.js';
import { PRETRAINED, loadModelFile, loadPretrained } from '../src/node/pretrained.ts';
import { presets } from '../src/models/draw/index.ts';
import { parseFlags } from '../src/cli/options.ts';
import { evaluateCommand } from '../src/cli/evaluate.ts';
import { sample } from '../src/cli/sample.ts';
import { pretrainedExport } from '../examples/demo/serve.ts';
import type * as Runtime from '../src/export/runtime.ts';
import { GPU, maxDiff, readFrom } from './export-fixture.ts';
import { demoInBrowser } from './browser.ts';
import { chromium, itNeeds } from './system.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-pretrained-'));
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 120_000 });
/** Runs `eval` as the command line would, `argv` after the command name. */
const evaluate = (...argv: string[]) => {
  const { flags, operands } = parseFlags(['eval', ...argv]);
  return evaluateCommand(flags, operands);
};

describe.each([
  { name: 'paper', config: presets.mnistPaper, flag: ['--pretrained'], below: 95 },
  { name: 'fast', config: presets.mnistFast, flag: ['--pretrained', 'fast'], below: 120 },
] as const)('the pretrained model $name', ({ name, config, flag, below }) => {
  it('loads: its preset, trained far past the default run of 1,000 steps, parameters only and finite', () => {
    const p = loadPretrained(name);
    if (E.isLeft(p)) throw p.left;
    expect(p.right.meta.config).toEqual(config);
    // a warm-started run counts its own steps: totalSteps (written when shipped) counts every run behind it
    expect(p.right.meta.totalSteps ?? p.right.meta.step).toBeGreaterThan(5_000);
    expect(Object.keys(p.right.params).sort()).toEqual(Object.keys(p.right.model.paramShapes).sort());
    for (const v of Object.values(p.right.params)) expect(v.every(Number.isFinite)).toBe(true);
    expect(statSync(PRETRAINED[name]).size).toBeLessThan(8 * 2 ** 20);
  });

  it(`eval ${flag.join(' ')}: a test bound below ${below} nats on 500 test images (the default run: 144)`, () => {
    const r = evaluate(...flag, '--images', '500');
    expect(r.images).toBe(500);
    expect(r.checkpoint).toBe(PRETRAINED[name]);
    expect(r.testBound as number).toBeLessThan(below);
  }, 120_000);

  it('its bound on the first 200 test images is the figure the README gives (within 0.05 nats)', () => {
    const readme = readFileSync('README.md', 'utf8').replace(/\s+/g, ' ');
    const command = `npm run draw -- eval ${flag.join(' ')} --images 200`;
    const recorded = new RegExp(`\`${command}\`[^*]*\\*\\*([\\d.]+) nats\\*\\*`).exec(readme);
    expect(recorded, `the README names the 200-image figure of \`${command}\``).not.toBeNull();
    const r = evaluate(...flag, '--images', '200');
    expect(Math.abs((r.testBound as number) - Number(recorded![1]))).toBeLessThan(0.05);
  }, 120_000);
});

describe('the pretrained models from the command line', () => {
  it('sample --pretrained writes the pictures of the paper model', () => {
    const { flags, operands } = parseFlags(['sample', '--pretrained', '--count', '4', '--out', join(dir, 's')]);
    const r = sample(flags, operands);
    for (const f of ['samples.png', 'steps.png', 'reconstructions.png'])
      expect(existsSync(join(dir, 's', f))).toBe(true);
    expect(r.checkpoint).toBe(PRETRAINED.paper);
  }, 120_000);

  it('--pretrained with --checkpoint, an unknown name, or a config it does not have, is one line, exit 2', () => {
    const both = cli('eval', '--pretrained', '--checkpoint', 'x.safetensors');
    expect(both.status).toBe(2);
    expect(both.stderr.trim()).toBe(
      'error: --pretrained uses a model that ships with draw-ts: drop --checkpoint, or --pretrained',
    );
    const unknown = cli('eval', '--pretrained', 'huge');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.trim()).toBe("error: --pretrained: no pretrained model 'huge' (there are: paper, fast)");
    const other = cli('sample', '--pretrained', 'fast', '--T', '64');
    expect(other.status).toBe(2);
    expect(other.stderr.trim()).toBe("error: the pretrained model 'fast' has T = 10, but the flags ask for 64");
  }, 60_000);

  it('the demo exports the paper model when no run was exported: a generator folder of its step', async () => {
    const out = await pretrainedExport(join(dir, 'export'));
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const p = loadPretrained();
    expect(manifest.source).toEqual({ pretrained: 'paper', step: E.isRight(p) && p.right.meta.step });
    expect(manifest.config).toEqual(presets.mnistPaper);
  }, 120_000);

  itNeeds(chromium)(
    'the demo draws the paper model (T=64) in Chromium on WebGL, as the Node runtime does',
    async () => {
      const out = await pretrainedExport(join(dir, 'export'));
      const page = await demoInBrowser(out, { seed: 5, screenshot: join('runs', 'test-artifacts', 'demo-paper.png') });
      expect(page.error).toBe('');
      expect(page.mode).toMatch(/^WebGL2?Kernel \(WebGL\)$/);
      expect(page.step).toBe('64');
      const { loadGenerator } = (await import(pathToFileURL(join(out, 'runtime.mjs')).href)) as typeof Runtime;
      const g = await loadGenerator(readFrom(out), new GPU({ mode: 'cpu' }));
      const node = g.generate({ count: g.manifest.batch, seed: 5 }).images;
      expect(maxDiff(page.images, node)).toBeLessThan(1e-3);
    },
    300_000,
  );

  it('a damaged copy is refused, naming the file', () => {
    const bad = join(dir, 'bad.safetensors');
    copyFileSync(PRETRAINED.paper, bad);
    const bytes = readFileSync(bad);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(bad, bytes);
    const p = loadModelFile(bad);
    expect(E.isLeft(p) && p.left.message).toContain(bad);
  });
});
