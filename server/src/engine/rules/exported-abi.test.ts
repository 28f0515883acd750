import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { caseDir, makePatch, ofRule, runCase } from '../../../../testing/fixtures';
import { tempDir } from '../../../../testing/tempDir';
import { analyzePatches } from '../analyze';
import { abiPrototype } from './exported-abi';

const rule = 'exported-abi';

test('a changed prototype of an exported function is an error naming the export macro', async () => {
  const r = await runCase(caseDir(rule, 'exported-prototype-changed'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.symbol, 'demo_count_get');
  assert.equal(f.line, 21);
  assert.match(f.message, /EXPORT_SYMBOL\(\)/);
  assert.match(f.message, /Version disagreement for symbol demo_count_get/);
  assert.equal(f.related[0].image, 'pre');
});

test('static prototypes, attribute-only and parameter-name-only changes keep the CRC', async () => {
  for (const c of ['static-prototype-changed', 'exported-attribute-only', 'exported-parameter-renamed']) {
    assert.deepEqual(ofRule(await runCase(caseDir(rule, c)), rule), [], c);
  }
});

test('a new #include that completes a struct the file only declared is an error (the kpatch symvers case)', async () => {
  const r = await runCase(caseDir(rule, 'new-include-completes-struct'));
  const [f, ...rest] = ofRule(r, rule);
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'error');
  assert.equal(f.line, 3);
  assert.equal(f.symbol, '<linux/demo_ops.h>');
  assert.match(f.message, /struct demo_ops/);
  assert.match(f.message, /#ifndef __GENKSYMS__/);
  assert.match(f.message, /Version disagreement/);
  assert.deepEqual(
    f.related.map((x) => [x.file, x.line]),
    [['include/linux/demo_ops.h', 6]],
  );
});

test('new includes that add no definitions, are hidden from genksyms, are kpatch helpers, or go to a file without exports are fine', async () => {
  for (const c of ['new-include-nothing-new', 'new-include-hidden-from-genksyms', 'new-include-kpatch-macros', 'new-include-no-exports']) {
    assert.deepEqual(ofRule(await runCase(caseDir(rule, c)), rule), [], c);
  }
});

test('without a tree a new #include is only a hint', async () => {
  const f = ofRule(await runCase(caseDir(rule, 'new-include-completes-struct'), { withoutTree: true }), rule);
  assert.equal(f.length, 1);
  assert.notEqual(f[0].severity, 'error');
});

test('a changed struct that an exported prototype takes is an error listing the export', async () => {
  const r = await runCase(caseDir(rule, 'struct-used-by-export'));
  const f = ofRule(r, rule);
  assert.equal(f.length, 1);
  assert.equal(f[0].file, 'include/linux/demo_types.h');
  assert.equal(f[0].symbol, 'struct demo_dev');
  assert.match(f[0].message, /demo_register/);
  assert.equal(f[0].related[0].file, 'drivers/demo/core.c');
});

test('abiPrototype ignores attributes and parameter names, not types', () => {
  assert.equal(abiPrototype('noinline int foo(struct bar *b, int n)'), abiPrototype('int foo(struct bar *, int count)'));
  assert.notEqual(abiPrototype('int foo(int n)'), abiPrototype('int foo(long n)'));
  assert.equal(abiPrototype('unsigned int foo(unsigned int)'), abiPrototype('unsigned int foo(unsigned int x)'));
});

test('the header facts kept for a git tree follow a header edited in the working tree', async () => {
  const dir = caseDir(rule, 'new-include-nothing-new');
  const tree = tempDir('klp-abi-tree-');
  fs.cpSync(path.join(dir, 'before'), tree, { recursive: true });
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { cwd: tree, stdio: 'pipe' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'base');
  const saved = process.env.KLP_CACHE;
  process.env.KLP_CACHE = tempDir('klp-abi-cache-');
  try {
    const patch = makePatch(dir);
    const run = async () => ofRule(await analyzePatches([{ name: 'case.patch', text: patch }], { tree }), rule);
    assert.deepEqual(await run(), []);
    const kept = fs.readdirSync(process.env.KLP_CACHE, { recursive: true }).map(String);
    assert.ok(
      kept.some((f) => f.endsWith('header-facts.json')),
      kept.join(' '),
    );
    // The header the patch includes now defines the struct the file only declared (not committed).
    const header = path.join(tree, 'include/linux/demo_trace.h');
    fs.writeFileSync(
      header,
      fs
        .readFileSync(header, 'utf8')
        .replace('void demo_trace_point', 'struct demo_ops {\n\tint (*open)(void);\n};\n\nvoid demo_trace_point'),
    );
    const [f, ...rest] = await run();
    assert.equal(rest.length, 0);
    assert.equal(f.severity, 'error');
    assert.match(f.message, /struct demo_ops/);
  } finally {
    if (saved === undefined) delete process.env.KLP_CACHE;
    else process.env.KLP_CACHE = saved;
  }
});
