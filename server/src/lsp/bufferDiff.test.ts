import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPatch, parsePatch } from 'diff';
import { bufferPatch, bufferPatchByLines } from './bufferDiff';

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

test('cutting the texts down to the lines around the change gives the same patch as diffing the whole texts', () => {
  const lines = Array.from({ length: 60 }, (_, i) => (i % 7 === 0 ? '' : i % 5 === 0 ? 'same' : `line ${i}`));
  const texts = [lines.join('\n') + '\n', lines.join('\n'), '\n' + lines.join('\n')];
  const pieces = ['', '', '\n', 'x', 'same\n', '\nsame', 'line 1\n', '\n\n'];
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  // Joining two lines: the newline before the common tail is the base's only.
  for (const [before, after] of [
    [base, base.replace('line 20\n', 'line 20')],
    [base, base.replace('line 36\n', 'line 36')],
    [base, base.replace('\nline 20', 'line 20')],
  ]) {
    assert.equal(bufferPatch('kernel/x.c', before, after), bufferPatchByLines('kernel/x.c', before, after), JSON.stringify(after));
  }
  for (let i = 0; i < 4000; i++) {
    const before = texts[rand(texts.length)];
    let after = before;
    for (let k = 1 + rand(2); k > 0; k--) {
      // Edits near both ends too, where the margins run out.
      const at = rand(3) === 0 ? (rand(2) ? rand(6) : after.length - rand(6)) : rand(after.length + 1);
      const cut = rand(3) === 0 ? 1 + rand(12) : 0;
      after = after.slice(0, Math.max(0, at)) + pieces[rand(pieces.length)] + after.slice(Math.max(0, at) + cut);
    }
    assert.equal(
      bufferPatch('kernel/x.c', before, after),
      bufferPatchByLines('kernel/x.c', before, after),
      JSON.stringify([before, after]),
    );
  }
});
