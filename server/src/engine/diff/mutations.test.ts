// A fixed-seed mutation run over real-shaped patches: whatever bytes come in,
// the engine either analyses them or refuses them with a PatchError (the CLI's
// exit 2). Anything else (a TypeError, a crash inside a rule) fails the test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzePatches, PatchError } from '../analyze';
import { createParser } from '../parse/parser';

const ROOT = path.join(__dirname, '..', '..', '..', '..');
const TREE = path.join(ROOT, 'examples', 'demo', 'tree');
const SEEDS = [fs.readFileSync(path.join(ROOT, 'examples', 'demo', 'fix-proc-stats.patch'))];

/** xorshift32: deterministic, so a failure reproduces from its run number. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

type Mutation = (b: Buffer, r: () => number) => Buffer;

const pick = <T>(xs: T[], r: () => number) => xs[Math.floor(r() * xs.length)];
const lines = (b: Buffer) => b.toString('latin1').split('\n');
const join = (ls: string[]) => Buffer.from(ls.join('\n'), 'latin1');

const MUTATIONS: Record<string, Mutation> = {
  truncate: (b, r) => b.subarray(0, Math.floor(r() * b.length)),
  'drop-line': (b, r) => { const ls = lines(b); ls.splice(Math.floor(r() * ls.length), 1); return join(ls); },
  'duplicate-line': (b, r) => { const ls = lines(b); const i = Math.floor(r() * ls.length); ls.splice(i, 0, ls[i]); return join(ls); },
  'bad-counts': (b, r) => join(lines(b).map((l) => (l.startsWith('@@') && r() < 0.7 ? l.replace(/\d+/g, () => String(Math.floor(r() * 60))) : l))),
  'flip-op': (b, r) => join(lines(b).map((l) => (/^[+ -]/.test(l) && r() < 0.2 ? pick(['+', '-', ' ', '\\', '@'], r) + l.slice(1) : l))),
  'nul-byte': (b, r) => { const c = Buffer.from(b); c[Math.floor(r() * c.length)] = 0; return c; },
  'invalid-utf8': (b, r) => { const c = Buffer.from(b); c[Math.floor(r() * c.length)] = 0xff; return c; },
  crlf: (b) => Buffer.from(b.toString('utf8').replace(/\n/g, '\r\n')),
  'escape-path': (b, r) => Buffer.from(b.toString('utf8').replace(/^\+\+\+ b\/\S+/m, pick(['+++ b/../../etc/passwd', '+++ /etc/passwd', '+++ b/fs/../../x.c'], r))),
  'unterminated-comment': (b, r) => { const ls = lines(b); const i = ls.findIndex((l, k) => k > 5 && l.startsWith('+') && r() < 0.5); if (i >= 0) ls[i] = '+/* never closed'; return join(ls); },
  'huge-hunk': (b) => Buffer.concat([b, Buffer.from('--- a/fs/proc/procstats.c\n+++ b/fs/proc/procstats.c\n@@ -1,0 +1,5000 @@\n' + '+int x;\n'.repeat(5000))]),
  'deep-macros': (b) => Buffer.from(b.toString('utf8').replace('+\ts->nr_stalled = nr_stalled_tasks();', '+\ts->nr_stalled = ' + 'F('.repeat(400) + '1' + ')'.repeat(400) + ';')),
};

test('300 mutated patches: analysed or refused with a PatchError, never a crash', async () => {
  const parser = await createParser();
  const names = Object.keys(MUTATIONS);
  const outcomes = { analysed: 0, refused: 0 };
  for (let run = 0; run < 300; run++) {
    const r = rng(0x5eed + run);
    let input: Buffer = pick(SEEDS, r);
    const applied: string[] = [];
    for (let k = 1 + Math.floor(r() * 3); k > 0; k--) {
      const m = pick(names, r);
      applied.push(m);
      input = MUTATIONS[m](input, r);
    }
    try {
      await analyzePatches([{ name: `run-${run}.patch`, text: input }], { tree: TREE, parser });
      outcomes.analysed++;
    } catch (err) {
      if (!(err instanceof PatchError)) assert.fail(`run ${run} (${applied.join('+')}): ${(err as Error).stack}`);
      outcomes.refused++;
    }
  }
  // Both outcomes occur: the mutations really produce good and bad inputs.
  assert.ok(outcomes.analysed > 20 && outcomes.refused > 20, JSON.stringify(outcomes));
});
