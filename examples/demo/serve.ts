// `npm run demo [-- --model DIR --port N]`: serves the demo page on localhost with an exported
// generator (default runs/draw/export, written by `npm run draw -- export`) under /model/.
// Only the page's two files and the export's own files are served, nothing else from the disk.
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EXPORT_FILES } from '../../src/export/export.ts';

const here = dirname(fileURLToPath(import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript', '.js': 'text/javascript',
  '.json': 'application/json', '.bin': 'application/octet-stream',
};

export interface Demo {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the server (port 0: any free port); rejects when `model` holds no export. */
export const serveDemo = ({ model, port = 8080, host = '127.0.0.1' }: { model: string; port?: number; host?: string }): Promise<Demo> => {
  if (!existsSync(join(model, 'manifest.json')))
    return Promise.reject(new Error(`no exported generator in '${model}': run \`npm run draw -- export --checkpoint runs/draw/checkpoint.bin --out ${model}\` first`));
  const routes = new Map<string, string>([
    ['/', join(here, 'index.html')],
    ['/demo.mjs', join(here, 'demo.mjs')],
    ...EXPORT_FILES.map((f) => [`/model/${f}`, join(model, f)] as const),
  ]);
  const server: Server = createServer((req, res) => {
    const file = routes.get(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (!file || !existsSync(file)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      const p = typeof address === 'object' && address ? address.port : port;
      resolve({ url: `http://${host}:${p}/`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { model: { type: 'string', default: 'runs/draw/export' }, port: { type: 'string', default: '8080' } }, strict: true });
  serveDemo({ model: values.model!, port: Number(values.port) }).then(
    (d) => console.log(`DRAW demo at ${d.url} (generator: ${values.model}); Ctrl-C stops`),
    (e: Error) => {
      console.error(`error: ${e.message}`);
      process.exitCode = 2;
    },
  );
}
