// Fuzzing in `npm test`: a fixed-seed run of the generated and mutated inputs
// of fuzz.ts (the same inputs `npm run fuzz -- --seed 24301` starts with), plus
// fast-check properties of the diff reader, of valid edits of the seed tree,
// and of the fuzzer's own patch writer (its "valid" patches must really be valid).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import fc from 'fast-check';
import { applyPatch } from 'diff';
import { analyzePatches, PatchError } from '../../server/src/engine/analyze';
import { readPatch } from '../../server/src/engine/diff/readPatch';
import { createParser, type CParser } from '../../server/src/engine/parse/parser';
import {
  answerGitProbeWithoutGit,
  generateInput,
  runInput,
  unifiedHunks,
  writePatch,
  makeRng,
  checkResult,
  SNIPPETS,
  C_TREE_FILES,
  type Outcome,
  type FileEdit,
} from './fuzz';
import { SEED_TREE, writeSeedTrees, type SeedTrees } from './fuzzTree';
import { tempDir } from '../../testing/tempDir';

const SEED = 24301;
const RUNS = 500;

let dir: string;
let trees: SeedTrees;
let parser: CParser;

before(async () => {
  dir = tempDir('klp-fuzz-test-');
  trees = writeSeedTrees(dir, { huge: false });
  parser = await createParser();
  answerGitProbeWithoutGit();
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test(`${RUNS} fixed-seed fuzz inputs: analysed or refused with a PatchError, no crash, hang or invalid result`, async () => {
  const counts: Record<Outcome, number> = { ok: 0, refused: 0, invalid: 0, crash: 0, hang: 0 };
  const failures: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    // The 10 MB inputs are left to `npm run fuzz` and the regression tests.
    const input = generateInput(SEED, i, { allowHuge: false });
    const r = await runInput(input, { parser, trees });
    counts[r.outcome]++;
    if (r.outcome === 'crash' || r.outcome === 'hang' || r.outcome === 'invalid') {
      failures.push(
        `#${i} ${r.outcome}: ${input.description}\n${r.modes.map((m) => `  [${m.mode}] ${m.outcome} ${m.detail ?? ''}`).join('\n')}`,
      );
    }
  }
  assert.deepEqual(failures, [], `reproduce with: npm run fuzz -- --seed ${SEED} --only <n>`);
  // Both outcomes occur: the generator makes good inputs and bad ones.
  assert.ok(counts.ok > RUNS / 5 && counts.refused > RUNS / 5, JSON.stringify(counts));
});

test('inputs are a pure function of (seed, index)', () => {
  for (const i of [0, 7, 123]) {
    const a = generateInput(SEED, i, { allowHuge: false });
    const b = generateInput(SEED, i, { allowHuge: false });
    assert.equal(a.description, b.description);
    assert.deepEqual(a.patches, b.patches);
  }
});

// ---------------------------------------------------------------- properties

const FRAGMENTS = [
  'diff --git a/fs/x.c b/fs/x.c\n',
  '--- a/fs/x.c\n',
  '+++ b/fs/x.c\n',
  '--- /dev/null\n',
  '+++ /dev/null\n',
  '@@ -1,3 +1,3 @@\n',
  '@@ -1 +1 @@\n',
  '@@ -0,0 +1,2 @@\n',
  '@@ -4294967296,1 +1 @@\n',
  ' context\n',
  '-old line\n',
  '+new line\n',
  '\\ No newline at end of file\n',
  'new file mode 100644\n',
  'deleted file mode 100644\n',
  'rename from fs/x.c\n',
  'rename to fs/y.c\n',
  'similarity index 90%\n',
  'GIT binary patch\n',
  'literal 0\n',
  'Binary files a/x and b/x differ\n',
  '-- \n',
  '2.43.0\n',
  'From: a <b@c>\n',
  'Subject: [PATCH] x\n',
  '---\n',
  '\r\n',
  '\n',
  '+++ b/../../etc/passwd\n',
  '--- /etc/passwd\n',
  '"a/q\\tx.c"\n',
  '\u00ff',
  '\0',
];

test('property: readPatch reads any text or refuses it with a PatchError', () => {
  const patchish = fc
    .array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 12 })), { maxLength: 40 })
    .map((xs) => xs.join(''));
  fc.assert(
    fc.property(
      fc.oneof(
        patchish.map((s) => Buffer.from(s, 'utf8')),
        fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
      ),
      (input) => {
        try {
          const p = readPatch(input, 'p.patch');
          for (const f of p.files) {
            for (const name of [f.oldPath, f.newPath]) {
              if (name !== null) assert.ok(!name.startsWith('/') && !name.split('/').includes('..'), name);
            }
          }
        } catch (err) {
          if (!(err instanceof PatchError)) throw err;
        }
      },
    ),
    { seed: SEED, numRuns: 1500 },
  );
});

test('property: the fuzzer writes hunks that turn the old text into the new one', () => {
  const text = fc
    .array(fc.constantFrom('a', 'b', '', '{', '}', '\tx++;'), { maxLength: 12 })
    .chain((ls) => fc.boolean().map((nl) => ls.join('\n') + (nl && ls.length ? '\n' : '')));
  fc.assert(
    fc.property(text, text, fc.constantFrom(0, 1, 3), fc.integer(), (a, b, context, seed) => {
      fc.pre(a !== b);
      const hunks = unifiedHunks(a, b, context, makeRng(seed));
      assert.equal(applyPatch(a, `--- a/x\n+++ b/x\n${hunks.join('\n')}\n`, { fuzzFactor: 0 }), b);
    }),
    { seed: SEED, numRuns: 2000 },
  );
});

/** An edit of one seed-tree C file: inserts, deletes and replacements of kernel-style lines. */
const treeEdit = fc.record({
  file: fc.constantFrom(...C_TREE_FILES),
  ops: fc.array(fc.tuple(fc.constantFrom('insert', 'delete', 'replace'), fc.nat(), fc.constantFrom(...SNIPPETS)), {
    minLength: 1,
    maxLength: 4,
  }),
  seed: fc.integer(),
});

test('property: a valid edit of a tree file is analysed with the tree and without, never refused', async () => {
  await fc.assert(
    fc.asyncProperty(treeEdit, async ({ file, ops, seed }) => {
      const before = SEED_TREE[file];
      const lines = before.split('\n');
      for (const [op, at, snippet] of ops) {
        const i = at % lines.length;
        if (op === 'insert') lines.splice(i, 0, ...snippet.split('\n'));
        else if (op === 'delete' && lines.length > 2) lines.splice(i, 1);
        else lines.splice(i, 1, ...snippet.split('\n'));
      }
      const afterText = lines.join('\n');
      fc.pre(afterText !== before);
      const edit: FileEdit = { kind: 'modify', oldPath: file, newPath: file, before, after: afterText };
      const text = writePatch([edit], makeRng(seed));
      for (const tree of [trees.small, null]) {
        const result = await analyzePatches([{ name: 'edit.patch', text }], { tree, parser });
        const bad = checkResult(
          {
            index: 0,
            patches: [{ name: 'edit.patch', text: Buffer.from(text) }],
            tree: 'small',
            expectOk: { tree: true, hunk: true },
            description: '',
          },
          result,
        );
        assert.equal(bad, null);
        assert.deepEqual(result.patches[0].files, [file]);
      }
    }),
    { seed: SEED, numRuns: 60 },
  );
});
