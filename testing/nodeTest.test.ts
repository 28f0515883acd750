import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from './tempDir';

const ROOT = path.join(__dirname, '..');

/** Runs one test file under node --test with the spec and skip-summary reporters, as npm test does. */
function runNodeTest(file: string): string {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=./testing/skipSummary.mjs',
      '--test-reporter-destination=stdout',
      file,
    ],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
  return r.stdout;
}

test('a suite skipped for a missing requirement counts each of its tests as skipped, with the reason, and runs no hook', () => {
  const dir = tempDir('klp-skip-');
  const canary = path.join(dir, 'hook-ran');
  const file = path.join(dir, 'sample.test.ts');
  fs.writeFileSync(
    file,
    `
import { after, before, describe, test } from ${JSON.stringify(path.join(ROOT, 'testing/nodeTest'))};
import * as fs from 'node:fs';
describe('needs sshd', { skip: 'no sshd at /usr/sbin/sshd: apt-get install openssh-server' }, () => {
  before(() => fs.writeFileSync(${JSON.stringify(canary)}, 'x'));
  test('one', () => { throw new Error('must not run'); });
  describe('nested', () => { test('two', () => { throw new Error('must not run'); }); });
  test('three', () => { throw new Error('must not run'); });
  after(() => fs.writeFileSync(${JSON.stringify(canary)}, 'x'));
});
describe('runs', () => { test('four', () => {}); });
test('five', { skip: 'no Debian 6.1 kernel tree: scripts/fetch-kernel-source.sh' }, () => {});
`,
  );
  const out = runNodeTest(file);
  assert.match(out, /ℹ skipped 4\b/);
  assert.match(out, /ℹ pass 1\b/);
  assert.ok(!fs.existsSync(canary), 'a hook of the skipped suite ran');
  const last = out.trimEnd().split('\n').pop()!;
  assert.equal(
    last,
    'skipped 4 tests: 3 no sshd at /usr/sbin/sshd: apt-get install openssh-server; 1 no Debian 6.1 kernel tree: scripts/fetch-kernel-source.sh',
  );
});

test('a run that skips nothing says so on its last line', () => {
  const dir = tempDir('klp-skip-');
  const file = path.join(dir, 'none.test.ts');
  fs.writeFileSync(file, `import { test } from 'node:test';\ntest('runs', () => {});\n`);
  assert.equal(runNodeTest(file).trimEnd().split('\n').pop(), 'skipped no test');
});

test('no test file skips a whole node:test suite (its tests would not be counted): they use testing/nodeTest', () => {
  const files = execFileSync('git', ['ls-files', '*.test.ts'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
  const offenders = files.filter((f) => {
    const text = fs.readFileSync(path.join(ROOT, f), 'utf8');
    return /import\s*{[^}]*\bdescribe\b[^}]*}\s*from\s*'node:test'/.test(text) && /describe\([^)]*{[^}]*\bskip:/.test(text);
  });
  assert.deepEqual(offenders, []);
});
