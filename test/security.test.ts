// Security properties enforced as tests: no local shell strings anywhere, the
// ssh layer never turns host-key checking off, and git runs from one module.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' || e.name === 'node_modules' ? [] : sources(p);
    return /\.ts$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [p] : [];
  });
}

const files = ['server/src', 'client/src', 'scripts'].flatMap((d) => sources(path.join(root, d)));

test('no code spawns through a local shell', () => {
  assert.ok(files.length > 50);
  const bad: string[] = [];
  for (const f of files) {
    const text = fs.readFileSync(f, 'utf8');
    text.split('\n').forEach((line, i) => {
      if (/^\s*(?:\/\/|\*)/.test(line)) return;
      const importsExec = /import\s*\{[^}]*\b(?:exec|execSync)\b[^}]*\}\s*from\s*['"](?:node:)?child_process['"]/.test(line);
      const callsExec =
        /(?<![.\w])(?:exec|execSync)\s*\(/.test(line) || /\b(?:cp|childProcess|child_process)\.(?:exec|execSync)\s*\(/.test(line);
      if (/shell\s*:\s*true/.test(line) || importsExec || callsExec) {
        bad.push(`${path.relative(root, f)}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(bad, []);
});

test('host-key checking is never disabled', () => {
  const bad = files.filter((f) =>
    /StrictHostKeyChecking\s*=\s*no\b|UserKnownHostsFile\s*=\s*\/dev\/null/i.test(fs.readFileSync(f, 'utf8')),
  );
  assert.deepEqual(
    bad.map((f) => path.relative(root, f)),
    [],
  );
});

test("git is spawned only by server/src/engine/tree/git.ts, which neutralises the repository's programs", () => {
  // Test support (testing/ folders) and the screenshot script build their own throwaway repositories.
  const ownRepos = [`${path.sep}testing${path.sep}`, path.join('scripts', 'screenshots') + path.sep];
  const bad = files
    .filter((f) => !ownRepos.some((d) => f.includes(d)) && !f.endsWith(path.join('engine', 'tree', 'git.ts')))
    .filter((f) => /\b(?:spawn|spawnSync|execFile|execFileSync|fork)\s*\(\s*['"`]git['"`]/.test(fs.readFileSync(f, 'utf8')));
  assert.deepEqual(
    bad.map((f) => path.relative(root, f)),
    [],
  );
});
