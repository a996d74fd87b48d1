// Builds RBTracking.min.js from rbtracking.js and prints its raw and gzipped sizes.
//   node build.mjs           write RBTracking.min.js
//   node build.mjs --check   exit 1 if the committed RBTracking.min.js is not a fresh build
//                            (or if the build breaks the size budget or the placeholder)
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { minify } from 'terser';

const here = dirname(fileURLToPath(import.meta.url));
const SOURCE = join(here, 'rbtracking.js');
const OUTPUT = join(here, 'RBTracking.min.js');
const PLACEHOLDER = '__RBT_CONFIG__';
const BUDGET = 2500; // gzipped bytes

// Terser is pinned (package-lock.json), so the same source gives the same bytes.
export const TERSER_OPTIONS = {
  ecma: 2018,
  toplevel: true,
  compress: { passes: 3, unsafe_arrows: true, unsafe_methods: true },
  mangle: { toplevel: true },
  format: { comments: false, ascii_only: true },
};

export async function build() {
  const source = readFileSync(SOURCE, 'utf8');
  const { code } = await minify(source, TERSER_OPTIONS);
  return code + '\n';
}

const count = (text, word) => text.split(word).length - 1;

async function main() {
  const check = process.argv.includes('--check');
  const source = readFileSync(SOURCE, 'utf8');
  const code = await build();
  const problems = [];
  if (count(source, PLACEHOLDER) !== 1) problems.push(`${PLACEHOLDER} must appear exactly once in rbtracking.js`);
  if (count(code, PLACEHOLDER) !== 1) problems.push(`${PLACEHOLDER} must appear exactly once in the build`);
  const raw = Buffer.byteLength(code);
  const gz = gzipSync(code, { level: 9 }).length;
  console.log(`RBTracking.min.js: ${raw} bytes raw, ${gz} bytes gzipped (budget ${BUDGET})`);
  if (gz > BUDGET) problems.push(`gzipped size ${gz} is over the budget of ${BUDGET} bytes`);
  if (check) {
    const committed = existsSync(OUTPUT) ? readFileSync(OUTPUT, 'utf8') : '';
    if (committed !== code) problems.push('RBTracking.min.js is not a fresh build of rbtracking.js: run `npm run build`');
  } else if (!problems.length) {
    writeFileSync(OUTPUT, code);
  }
  for (const p of problems) console.error(`error: ${p}`);
  process.exit(problems.length ? 1 : 0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
