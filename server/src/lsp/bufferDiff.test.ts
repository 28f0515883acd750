import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, parsePatch } from 'diff';
import { bufferPatch } from './bufferDiff';

const base = Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n') + '\n';

function roundTrip(cur: string): void {
  const p = bufferPatch('kernel/x.c', base, cur);
  const [sp] = parsePatch(p);
  assert.equal(applyPatch(base, sp), cur, p);
}

test('one changed line gives one hunk with three lines of context at the right place', () => {
  const cur = base.replace('line 20\n', 'line twenty\n');
  const p = bufferPatch('kernel/x.c', base, cur);
  assert.match(p, /^@@ -18,7 \+18,7 @@$/m);
  assert.equal(p.split('\n').filter((l) => l.startsWith('@@')).length, 1);
  roundTrip(cur);
});

test('edits at the start, at the end and in two places round-trip', () => {
  roundTrip('new first\n' + base);
  roundTrip(base + 'new last\n');
  roundTrip(base.replace('line 2\n', 'two\n').replace('line 37\n', ''));
  roundTrip(base.replace('line 39\n', 'line 39'));
});

test('no change gives no patch; a new file is an addition', () => {
  assert.equal(bufferPatch('kernel/x.c', base, base), '');
  const p = bufferPatch('kernel/new.c', null, 'int x;\n');
  assert.match(p, /^--- \/dev\/null$/m);
  assert.match(p, /^\+int x;$/m);
});
