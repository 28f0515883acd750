// symbol-namespace keeps the tree's namespaced-export table on disk per tree state.
// Each check runs the CLI in a fresh process: within one process the table is also
// kept in memory, and the disk copy would never be read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { caseDir, makePatch } from '../../../../testing/fixtures';
import { tempDir } from '../../../../testing/tempDir';

const ROOT = path.join(__dirname, '..', '..', '..', '..');
const CLI = path.join(ROOT, 'server', 'src', 'cli', 'livepatch-check.ts');

test('the namespaced-export table comes from the disk cache for an unchanged tree, and is made again after an edit', () => {
  const fixture = caseDir('symbol-namespace', 'builtin-starts-using-ns-export');
  const tree = tempDir('klp-nscache-tree-');
  fs.cpSync(path.join(fixture, 'before'), tree, { recursive: true });
  const g = (...a: string[]) => execFileSync('git', ['-C', tree, ...a], { stdio: 'ignore' });
  g('init', '-q');
  g('add', '-A');
  g('-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'base');
  const patch = path.join(tempDir('klp-nscache-patch-'), 'case.patch');
  fs.writeFileSync(patch, makePatch(fixture));
  const cache = tempDir('klp-nscache-');

  const namespaces = (): string[] => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, '--tree', tree, '--format', 'json', patch], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, KLP_CACHE: cache, KLP_NO_GREP_CACHE: '' },
    });
    assert.ok(r.status === 0 || r.status === 1, r.stderr);
    const findings = (JSON.parse(r.stdout) as { findings: { rule: string; message: string }[] }).findings;
    return findings.filter((f) => f.rule === 'symbol-namespace').map((f) => /namespace (\w+)/.exec(f.message)?.[1] ?? '?');
  };
  const tables = () =>
    fs.readdirSync(path.join(cache, 'grep')).flatMap((k) =>
      fs
        .readdirSync(path.join(cache, 'grep', k))
        .filter((f) => f === 'namespaced-exports.json')
        .map((f) => path.join(cache, 'grep', k, f)),
    );

  assert.deepEqual(namespaces(), ['DEMO_LIB']);
  const [table, ...more] = tables();
  assert.equal(more.length, 0);
  // Plant a different namespace: an unchanged tree is answered from the file.
  fs.writeFileSync(table, JSON.stringify([['demo_lib_reset', { ns: 'FROM_CACHE', file: 'drivers/demolib/lib.c' }]]));
  assert.deepEqual(namespaces(), ['FROM_CACHE']);
  // An unstaged edit of any tracked file is a new tree state: the table is read from the tree again.
  fs.appendFileSync(path.join(tree, 'drivers', 'demolib', 'lib.c'), '\n');
  assert.deepEqual(namespaces(), ['DEMO_LIB']);
  assert.equal(tables().length, 2);
});
