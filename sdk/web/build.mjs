// Builds dist/brightmatter.mjs (ES module) and dist/brightmatter.js (script tag,
// window.BrightMatter) from the same source with esbuild.
import { build } from 'esbuild';

const common = { entryPoints: ['src/index.js'], bundle: true, target: ['es2020'], legalComments: 'none', logLevel: 'warning' };
await build({ ...common, format: 'esm', outfile: 'dist/brightmatter.mjs' });
await build({ ...common, format: 'iife', globalName: 'BrightMatter', outfile: 'dist/brightmatter.js' });
await build({ ...common, format: 'iife', globalName: 'BrightMatter', minify: true, outfile: 'dist/brightmatter.min.js' });
