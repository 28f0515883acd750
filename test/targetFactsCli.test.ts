// livepatch-check with the target's facts: --kallsyms, --symvers, --modules-dir (and --config).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../testing/tempDir';
import { caseDir, makePatch } from '../testing/fixtures';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'livepatch-check.js');

function run(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The inline-notrace fixture (a small static inline, demo_room) as a tree and a patch file. */
function inlineCase(): { tree: string; patch: string; dir: string } {
  const c = caseDir('inline-notrace', 'static-inline-in-c');
  const dir = path.join(tempDir('lpc-facts-'), 'targets', '6.1.0-77-amd64');
  fs.mkdirSync(dir, { recursive: true });
  const patch = path.join(dir, 'case.patch');
  fs.writeFileSync(patch, makePatch(c));
  return { tree: path.join(c, 'before'), patch, dir };
}

test('--kallsyms turns the hedged warning into an error that names the release and the listed symbol (exit 1)', () => {
  const { tree, patch, dir } = inlineCase();
  const without = run(['--tree', tree, '--format', 'json', patch]);
  assert.equal(without.code, 0, without.stderr);
  assert.deepEqual(
    JSON.parse(without.stdout)
      .findings.filter((f: { rule: string }) => f.rule === 'inline-notrace')
      .map((f: { severity: string }) => f.severity),
    ['warning'],
  );

  const map = path.join(dir, 'System.map');
  fs.writeFileSync(map, 'ffffffff81001000 T demo_append\nffffffff81002000 t demo_room\n');
  const r = run(['--tree', tree, '--kallsyms', map, patch]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    /error: demo_room\(\) is declared `static inline`.*System\.map of 6\.1\.0-77-amd64 lists `demo_room` \(t, vmlinux\).* \[inline-notrace\]/,
  );
  assert.match(r.stdout, /target facts of 6\.1\.0-77-amd64: 2 symbol names \(System\.map\)/);
});

test('--symvers and --modules-dir are read for the check too; a bad one is a usage-level error (exit 2)', () => {
  const { tree, patch, dir } = inlineCase();
  const symvers = path.join(dir, 'Module.symvers');
  fs.writeFileSync(symvers, '0x1\tdemo_append\tvmlinux\tEXPORT_SYMBOL\t\n');
  const modules = path.join(dir, 'modules');
  fs.mkdirSync(modules);
  const ok = run(['--tree', tree, '--symvers', symvers, '--modules-dir', modules, '--format', 'json', patch]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(
    JSON.parse(ok.stdout).notes.includes('target facts of 6.1.0-77-amd64: 0 symbol names (0 module files), 1 exports (Module.symvers)'),
    ok.stdout,
  );

  const bad = run(['--tree', tree, '--modules-dir', symvers, patch]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /livepatch-check: modules folder '.*Module\.symvers' is not a folder/);
  const stub = path.join(dir, 'stub.map');
  fs.writeFileSync(stub, 'ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n');
  const r = run(['--tree', tree, '--kallsyms', stub, patch]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /lists no symbol: .*Debian's \/boot\/System\.map is a stub/);
});

test('--help lists the target-fact options', () => {
  const r = run(['--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--kallsyms FILE', '--symvers FILE', '--modules-dir', 'scripts/fetch-target-facts.sh'])
    assert.ok(r.stdout.includes(flag), flag);
});
