// Inputs found by the fuzzer (npm run fuzz) that crashed, hung or stalled the
// engine, kept as fixtures in fixtures/regressions/ (big ones gzipped; read them
// with `zcat x.patch.gz | livepatch-check --tree examples/demo/tree -`). Each is
// run like the CLI runs a patch, with the demo tree and hunk-only, and must give
// its clean outcome within the fuzzer's hang limit.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { analyzePatches, PatchError } from '../analyze';
import { createParser, type CParser, type SyntaxNode } from '../parse/parser';
import { indexTree } from '../index/indexer';
import { normalizeC } from '../util/text';

const ROOT = path.join(__dirname, '..', '..', '..', '..');
const TREE = path.join(ROOT, 'examples', 'demo', 'tree');
const DIR = path.join(__dirname, 'fixtures', 'regressions');
const DEMO_FILES = ['fs/proc/procstats.c', 'include/linux/procstats.h'];

type Expect = { ok: string[]; rule?: string; notAnalysed?: RegExp } | { refused: RegExp };

interface Case {
  file: string;
  /** What it did before the fix. */
  was: string;
  tree: Expect;
  hunkOnly: Expect;
}

const CASES: Case[] = [
  {
    file: 'hunk-line-beyond-max.patch',
    was: 'hunk-only: laid out 4 billion lines and aborted the process ("Fatal JavaScript invalid size error")',
    tree: { refused: /line numbers .* out of range/ },
    hunkOnly: { refused: /line numbers .* out of range/ },
  },
  {
    file: 'path-component-too-long.patch',
    was: 'with a tree: ENAMETOOLONG escaped as an internal error',
    tree: { refused: /cannot be read from the kernel tree \(ENAMETOOLONG\)/ },
    hunkOnly: { ok: [`fs/proc/${'x'.repeat(300)}.c`] },
  },
  {
    file: 'dev-null-both-sides.patch',
    was: 'a file with no path reached the rules: TypeError in exported-abi',
    tree: { refused: /names no file/ },
    hunkOnly: { refused: /names no file/ },
  },
  {
    file: 'empty-git-headers.patch.gz',
    was: '20,000 `diff --git` lines without changes were each read, indexed and checked: minutes',
    tree: { ok: DEMO_FILES },
    hunkOnly: { ok: DEMO_FILES },
  },
  {
    file: 'signature-lines.patch.gz',
    was: 'the mail-signature lookahead ran from every "-- " line to the end: quadratic, seconds',
    tree: { ok: DEMO_FILES },
    hunkOnly: { ok: DEMO_FILES },
  },
  {
    file: 'deep-expression-at-file-start.patch.gz',
    was: 'hunk-only: reindexing climbed 25,000 parents from the deepest node; the wasm stack overflowed ("memory access out of bounds") and every later parse in the process failed',
    tree: { refused: /does not exist in the tree/ },
    hunkOnly: { ok: ['lib/deep.c'] },
  },
  {
    file: 'deep-parens-with-printk.patch.gz',
    was: 'printk-cold walked 20,000 nested calls recursively: "Maximum call stack size exceeded"',
    tree: { ok: ['fs/proc/procstats.c'], rule: 'printk-cold' },
    hunkOnly: { ok: ['fs/proc/procstats.c'] },
  },
  {
    file: 'many-functions-added.patch.gz',
    was: 'replace-callbacks scanned every function for every added line: quadratic',
    tree: { ok: ['fs/proc/procstats.c'] },
    hunkOnly: { ok: ['fs/proc/procstats.c'] },
  },
  {
    file: 'long-initializer-line.patch.gz',
    was: 'normalizeC ran a regex callback per whitespace run: over 2 s for a 1 MB line',
    tree: { ok: ['fs/proc/procstats.c'] },
    hunkOnly: { ok: ['fs/proc/procstats.c'] },
  },
  {
    file: 'garbage-c-slow-error-recovery.patch.gz',
    was: "hunk-only: 0.25 MB of mangled C lines sent tree-sitter's error recovery quadratic: 5 s for one parse",
    tree: { refused: /does not exist in the tree/ },
    hunkOnly: {
      ok: ['include/uapi/linux/syn81.S', 'include/uapi/linux/syn41.c', 'arch/x86/kernel/syn98.S'],
      // Out of the parse budget: an error, not a silent pass.
      notAnalysed: /^include\/uapi\/linux\/syn41\.c was not analysed: tree-sitter did not finish parsing within \d+ ms of CPU time/,
    },
  },
];

function read(file: string): Buffer {
  const raw = fs.readFileSync(path.join(DIR, file));
  return file.endsWith('.gz') ? zlib.gunzipSync(raw) : raw;
}

let parser: CParser;
before(async () => {
  parser = await createParser();
});

test('every regression fixture is listed', () => {
  assert.deepEqual(fs.readdirSync(DIR).sort(), CASES.map((c) => c.file).sort());
});

for (const c of CASES) {
  test(`regression ${c.file}: clean outcome, in time`, async () => {
    const text = read(c.file);
    // The fuzzer's hang limit: 2 s plus 2 s per MB, on the wall clock and in CPU time.
    const limit = 2000 + 2000 * (text.length / 1048576);
    for (const [mode, expect] of [
      ['tree', c.tree],
      ['hunk-only', c.hunkOnly],
    ] as const) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      let outcome: { files: string[]; rules: string[]; notes: string[]; notAnalysed: string[] } | PatchError;
      try {
        const r = await analyzePatches([{ name: c.file, text }], { tree: mode === 'tree' ? TREE : null, parser });
        outcome = {
          files: r.patches[0].files,
          rules: r.findings.map((f) => f.rule),
          notes: r.notes,
          notAnalysed: r.findings.filter((f) => f.rule === 'not-analysed' && f.severity === 'error').map((f) => f.message),
        };
      } catch (err) {
        if (!(err instanceof PatchError)) assert.fail(`${mode}: ${(err as Error).stack}\nbefore the fix: ${c.was}`);
        outcome = err;
      }
      const cpu = process.cpuUsage(c0);
      const ms = performance.now() - t0;
      const cpuMs = (cpu.user + cpu.system) / 1000;
      assert.ok(
        ms <= limit || cpuMs <= limit,
        `${mode}: ${ms.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU (limit ${limit.toFixed(0)}); before the fix: ${c.was}`,
      );
      if ('refused' in expect) {
        assert.ok(outcome instanceof PatchError, `${mode}: expected a refusal, got ${JSON.stringify(outcome)}`);
        assert.match(outcome.message, expect.refused, mode);
      } else {
        assert.ok(!(outcome instanceof PatchError), `${mode}: refused: ${(outcome as PatchError).message}`);
        assert.deepEqual(outcome.files, expect.ok, mode);
        if (expect.rule) assert.ok(outcome.rules.includes(expect.rule), `${mode}: ${outcome.rules.join(', ')}`);
        if (expect.notAnalysed)
          assert.ok(
            outcome.notAnalysed.some((n) => expect.notAnalysed!.test(n)),
            `${mode}: not-analysed ${outcome.notAnalysed.join(' | ')}`,
          );
        else assert.deepEqual(outcome.notAnalysed, [], mode);
      }
    }
    // Nothing is left broken for the next input (the wasm parser once was).
    const after = await analyzePatches(
      [{ name: 'demo.patch', text: fs.readFileSync(path.join(ROOT, 'examples', 'demo', 'fix-proc-stats.patch')) }],
      { tree: TREE, parser },
    );
    assert.ok(after.findings.some((f) => f.rule === 'init-section'));
  });
}

test('regression: the indexer lists children in one call, not child(i) by child(i) (quadratic on a wide ERROR node)', () => {
  const leaf = (type: string, start: number, end: number): SyntaxNode => ({
    type,
    startIndex: start,
    endIndex: end,
    startPosition: { row: 0, column: start },
    endPosition: { row: 0, column: end },
    childCount: 0,
    namedChildCount: 0,
    child: () => null,
    namedChild: () => null,
    childForFieldName: () => null,
    isMissing: false,
    hasError: false,
    parent: null,
    nextSibling: null,
    children: [],
  });
  const kids = Array.from({ length: 3 }, (_, i) => leaf('comment', i * 3, i * 3 + 2));
  const root: SyntaxNode = {
    ...leaf('translation_unit', 0, 9),
    childCount: kids.length,
    namedChildCount: kids.length,
    children: kids,
    child: () => assert.fail('child(i) called'),
  };
  const idx = indexTree(root, 'x.c', '/**/\n/**/\n/**/');
  assert.equal(idx.functions.length, 0);
});

test('regression: normalizeC is linear on a long initializer and keeps its output', () => {
  const big = `static int x = ${'1 + '.repeat(100_000)}1;`;
  const norm = normalizeC(big);
  assert.ok(norm === `static int x=${'1+'.repeat(100_000)}1;`, norm.slice(0, 80));
});
