// The analysis driver's bounds: a changed file it cannot analyse is an error, never a pass;
// too many hunks is a clear refusal; too many findings are cut, the most severe kept, with
// a note saying how many were dropped.
import { test, before } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzePatches, DEFAULT_MAX_FINDINGS, PatchError } from './analyze';
import { createParser, type CParser } from './parse/parser';
import type { Rule } from './rules/rule';

const ROOT = path.join(__dirname, '..', '..', '..');
const TREE = path.join(ROOT, 'examples', 'demo', 'tree');
const DEMO = fs.readFileSync(path.join(ROOT, 'examples', 'demo', 'fix-proc-stats.patch'), 'utf8');
let parser: CParser;
before(async () => {
  parser = await createParser();
});

test('a changed file over maxFileBytes is a not-analysed error on its header line, the others are analysed', async () => {
  const r = await analyzePatches([{ name: 'demo.patch', text: DEMO }], {
    tree: TREE,
    parser,
    maxFileBytes: 700,
    maxFileBytesName: 'the test limit',
  });
  const na = r.findings.filter((f) => f.rule === 'not-analysed');
  assert.deepEqual(
    na.map((f) => [f.file, f.severity, f.patchLine]),
    [['fs/proc/procstats.c', 'error', 0]],
  );
  assert.match(
    na[0].message,
    /^fs\/proc\/procstats\.c was not analysed: 0\.0 MB is over the 0\.0 MB size limit \(the test limit\)\. No rule checked its change/,
  );
  // Nothing a rule would say about procstats.c, and the header is still checked.
  assert.ok(
    !r.findings.some((f) => f.file === 'fs/proc/procstats.c' && f.rule !== 'not-analysed'),
    JSON.stringify(r.findings.map((f) => f.rule)),
  );
  assert.ok(r.findings.some((f) => f.rule === 'struct-layout' && f.file === 'include/linux/procstats.h'));
  assert.ok(!r.notes.some((n) => /procstats\.c/.test(n)), 'a finding, not (only) a note');
});

test('more hunks than maxHunks is refused before anything is indexed', async () => {
  const text =
    `--- a/lib/a.c\n+++ b/lib/a.c\n` +
    Array.from({ length: 11 }, (_, i) => `@@ -${i * 3 + 1},1 +${i * 3 + 1},1 @@\n-int v${i};\n+long v${i};\n`).join('');
  await assert.rejects(
    analyzePatches(
      [
        { name: 'p', text },
        { name: 'q', text },
      ],
      { parser, maxHunks: 21 },
    ),
    (e: Error) => {
      assert.ok(e instanceof PatchError);
      assert.equal(e.message, '22 hunks in one run is over the limit of 21: check the patches in smaller groups');
      return true;
    },
  );
  assert.equal(
    (
      await analyzePatches(
        [
          { name: 'p', text },
          { name: 'q', text },
        ],
        { parser, maxHunks: 22 },
      )
    ).patches.length,
    2,
  );
});

test(`at most ${DEFAULT_MAX_FINDINGS} findings are reported, with a note saying how many were dropped`, async () => {
  const n = DEFAULT_MAX_FINDINGS + 37;
  const body = Array.from({ length: n }, (_, i) => `+int g${i};`).join('\n');
  const r = await analyzePatches([{ name: 'p', text: `--- /dev/null\n+++ b/drivers/x/many.c\n@@ -0,0 +1,${n} @@\n${body}\n` }], { parser });
  assert.equal(r.findings.length, DEFAULT_MAX_FINDINGS);
  assert.ok(
    r.notes.includes(`37 more finding(s) were dropped: at most ${DEFAULT_MAX_FINDINGS} are reported, the most severe first`),
    r.notes.join('\n'),
  );
});

test('the findings kept under the cap are the most severe, still in file and line order', async () => {
  const all = await analyzePatches([{ name: 'demo.patch', text: DEMO }], { tree: TREE, parser });
  const errors = all.findings.filter((f) => f.severity === 'error');
  assert.ok(errors.length >= 2 && all.findings.length > errors.length, 'the demo has errors and more');
  const r = await analyzePatches([{ name: 'demo.patch', text: DEMO }], { tree: TREE, parser, maxFindings: errors.length });
  assert.deepEqual(r.findings, errors);
  assert.ok(
    r.notes.includes(
      `${all.findings.length - errors.length} more finding(s) were dropped: at most ${errors.length} are reported, the most severe first`,
    ),
  );
});

test('rules that may wait for the tree cache run last, yet the findings kept under the cap are those of the listed rule order', async () => {
  const ran: string[] = [];
  const rule = (id: string, readsTreeCache: boolean): Rule => ({
    id,
    severity: 'warning',
    title: id,
    readsTreeCache,
    check(ctx) {
      ran.push(id);
      ctx.report({ file: ctx.files[0].path, line: 10, message: `from ${id}` });
    },
  });
  const rules = [rule('a-cached', true), rule('b', false), rule('c-cached', true), rule('d', false)];
  const r = await analyzePatches([{ name: 'demo.patch', text: DEMO }], { tree: TREE, parser, rules, maxFindings: 2 });
  assert.deepEqual(ran, ['b', 'd', 'a-cached', 'c-cached']);
  // Equal severity: the cap keeps the first findings in rule order, as when the rules ran in that order.
  assert.deepEqual(
    r.findings.map((f) => f.rule),
    ['a-cached', 'b'],
  );
});
