// `npm run build`'s last step: writes the export's prebuilt bundles next to dist/export/export.js, so an
// installed package exports generators without esbuild.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_DIR, EXPORT_BUNDLES, buildBundle, type BundleName } from '../src/export/bundles.ts';

const dir = join('dist', 'export', BUNDLE_DIR);
mkdirSync(dir, { recursive: true });
for (const name of Object.keys(EXPORT_BUNDLES) as BundleName[]) writeFileSync(join(dir, name), await buildBundle(name));
