// Drives pages in Debian's Chromium (playwright-core, headless): the demo page, and the browser
// training example. WebGL comes from SwiftShader (or, for bench/gpu.ts on a machine with one, the
// GPU), and host rules plus the background-service switches keep the browser off the network.
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { serveDemo } from '../examples/demo/serve.ts';
import { CHROMIUM } from './system.ts';

/** Where the page's WebGL comes from: SwiftShader (software), the machine's GPU, or WebGL 1 only. */
export type PageGl = 'swiftshader' | 'gpu' | 'webgl1';
const GL_ARGS: Record<PageGl, readonly string[]> = {
  // WebGL without a GPU: ANGLE on SwiftShader
  swiftshader: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'],
  // ANGLE on the GPU's Vulkan driver, where one is installed (else Chromium falls back and the renderer says so)
  gpu: ['--use-angle=vulkan', '--enable-features=Vulkan', '--enable-gpu', '--ignore-gpu-blocklist'],
  // a browser without WebGL2, as a page may meet one
  webgl1: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist', '--disable-webgl2'],
};

const ARGS = [
  '--no-sandbox',
  '--disable-dev-shm-usage',
  // no traffic but to the demo server
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--no-proxy-server',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-domain-reliability',
  '--disable-client-side-phishing-detection',
  '--no-first-run',
  '--no-pings',
  '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication',
];

const launch = (gl: PageGl = 'swiftshader'): Promise<Browser> =>
  chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...ARGS, ...GL_ARGS[gl]] });

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
};

/** Serves the files of `root` on 127.0.0.1 (a built page); resolves to its URL and a close(). */
const serveFolder = async (root: string) => {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(
      /^(\.\.[/\\])+/,
      '',
    );
    try {
      const body = readFileSync(join(root, path.endsWith('/') ? `${path}index.html` : path));
      res.writeHead(200, {
        'content-type': MIME[extname(path)] ?? (path.endsWith('/') ? MIME['.html'] : 'application/octet-stream'),
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
};

/** Opens the built page in `dir` with `query`, waits for body[data-state] done or error, returns window.trainResult. */
export const trainInBrowser = async (
  dir: string,
  query: string,
  { gl = 'swiftshader', timeoutMs = 240_000 }: { gl?: PageGl; timeoutMs?: number } = {},
): Promise<Record<string, unknown>> => {
  const site = await serveFolder(dir);
  const browser = await launch(gl);
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(site.url + query);
    await page.waitForSelector('body[data-state=done], body[data-state=error]', { timeout: timeoutMs });
    const result = await page.evaluate(
      () => (window as unknown as { trainResult: Record<string, unknown> }).trainResult,
    );
    return errors.length ? { ...result, error: [result.error, ...errors].filter(Boolean).join('\n') } : result;
  } finally {
    await browser.close();
    await site.close();
  }
};

export interface PageResult {
  readonly error: string;
  readonly mode: string;
  readonly step: string;
  readonly images: number[];
  /** Every image pixel as the page's canvas shows it (0–255): per image its red, green and blue planes. */
  readonly canvasPixels: number[];
  /** The bytes behind the page's "download as GIF" link, and the canvas's size. */
  readonly gif: number[];
  readonly canvasSize: [number, number];
}

/** Serves `model`, draws `seed` at `temperature` on the page, and reads back what it shows. */
export const demoInBrowser = async (
  model: string,
  { seed, temperature = 1, screenshot }: { seed: number; temperature?: number; screenshot: string },
): Promise<PageResult> => {
  const demo = await serveDemo({ model, port: 0 });
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(demo.url);
    await page.waitForSelector('body[data-state=ready], body[data-state=error]', { timeout: 60_000 });
    await page.fill('#seed', String(seed));
    await page.fill('#temperature', String(temperature));
    await page.click('#draw');
    await page.waitForSelector('body[data-state=done], body[data-state=error]', { timeout: 60_000 });
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
    const shown = await page.evaluate(async () => {
      const r = (
        window as unknown as {
          drawResult?: { images: number[]; channels: number; scale: number; origins: [number, number][] };
        }
      ).drawResult;
      if (!r) return { images: [], canvasPixels: [], gif: [], canvasSize: [0, 0] as [number, number] };
      const canvas = document.getElementById('digits') as HTMLCanvasElement;
      const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const side = Math.round(Math.sqrt(r.images.length / r.origins.length / r.channels));
      const canvasPixels = r.origins.flatMap(([ox, oy]) =>
        [0, 1, 2].flatMap((q) =>
          Array.from(
            { length: side * side },
            (_, i) =>
              px.data[4 * ((oy + Math.floor(i / side) * r.scale) * canvas.width + ox + (i % side) * r.scale) + q],
          ),
        ),
      );
      const link = document.getElementById('gif') as HTMLAnchorElement;
      const gif = link.hidden ? [] : Array.from(new Uint8Array(await (await fetch(link.href)).arrayBuffer()));
      return { images: r.images, canvasPixels, gif, canvasSize: [canvas.width, canvas.height] as [number, number] };
    });
    return {
      error: [await page.textContent('#error'), ...errors].filter(Boolean).join('\n'),
      mode: (await page.textContent('#mode')) ?? '',
      step: (await page.textContent('#step')) ?? '',
      ...shown,
    };
  } finally {
    await browser.close();
    await demo.close();
  }
};
