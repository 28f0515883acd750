// The CLI's code cache: used when it matches the bundle, never when the bundle changed or the cache is damaged.
// Each load runs in a fresh process: within one process V8 reuses what it compiled and never reads the cache.
import { test } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../../testing/tempDir';

const ROOT = path.join(__dirname, '..', '..', '..');

function setup() {
  const dir = tempDir('klp-codecache-');
  const file = path.join(dir, 'bundle.js');
  // Big enough for V8 to have code worth caching, and a #! line as the CLI bundle had.
  const body = Array.from({ length: 200 }, (_, i) => `function f${i}(x) { return x * ${i} + ${i % 7}; }`).join('\n');
  fs.writeFileSync(file, `#!/usr/bin/env node\n${body}\nexports.answer = () => f41(1) + f0(0);\nexports.dir = __dirname;\n`);
  const loader = path.join(dir, 'load.ts');
  fs.writeFileSync(
    loader,
    `import { loadWithCodeCache } from ${JSON.stringify(path.join(__dirname, 'codeCache'))};
const b = loadWithCodeCache(${JSON.stringify(file)}, module);
b.saveCache();
console.log(JSON.stringify({ fromCache: b.fromCache, answer: b.exports.answer(), dir: b.exports.dir }));\n`,
  );
  const cacheDir = path.join(dir, 'cache', 'v8');
  const load = (env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', loader], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, KLP_CACHE: path.join(dir, 'cache'), KLP_NO_CODE_CACHE: '', ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { fromCache: boolean; answer: number; dir: string };
  };
  const bins = () => (fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).filter((f) => f.endsWith('.bin')) : []);
  return { dir, file, cacheDir, load, bins };
}

test('the second run takes the code from the cache the first one wrote, with the same behaviour', () => {
  const { dir, load, bins } = setup();
  assert.deepEqual(load(), { fromCache: false, answer: 47, dir });
  assert.equal(bins().length, 1);
  assert.deepEqual(load(), { fromCache: true, answer: 47, dir });
});

test('a rebuilt bundle is compiled from its new source, and its cache replaces the old one', () => {
  const { file, load, bins } = setup();
  load();
  // Same length, other code: V8's own check (the source length) would not see the change.
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('f41(1) + f0(0)', 'f43(1) + f0(0)'));
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
  const rebuilt = load();
  assert.equal(rebuilt.fromCache, false);
  assert.equal(rebuilt.answer, 44);
  assert.equal(bins().length, 1);
  assert.equal(load().fromCache, true);
});

test('a damaged cache file is refused, the bundle still loads, and the cache is written again', () => {
  const { cacheDir, load, bins } = setup();
  load();
  const bin = path.join(cacheDir, bins()[0]);
  fs.writeFileSync(bin, fs.readFileSync(bin).subarray(0, 64));
  const damaged = load();
  assert.equal(damaged.fromCache, false);
  assert.equal(damaged.answer, 47);
  assert.ok(fs.statSync(bin).size > 64);
  assert.equal(load().fromCache, true);
});

test('KLP_NO_CODE_CACHE loads without reading or writing a cache', () => {
  const { load, bins } = setup();
  assert.equal(load({ KLP_NO_CODE_CACHE: '1' }).answer, 47);
  assert.equal(bins().length, 0);
});
