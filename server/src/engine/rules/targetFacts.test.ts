// The rules with and without the target's facts: with them a hedge becomes a certainty that
// names the release and the symbol as the target lists it; without them the finding is
// exactly what it was. The fixture cases are the rules' own; the facts are small texts here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { caseDir, ofRule, runCase } from '../../../../testing/fixtures';
import { targetFactsFromText, type TargetFacts } from '../target/facts';
import { analyzePatches } from '../analyze';

const RELEASE = '6.1.0-test-amd64';

/** System.map lines: `name` or `name:type`, all in vmlinux. */
function systemMap(...names: string[]): string {
  return (
    names
      .map((n, i) => {
        const [name, type] = n.split(':');
        return `ffffffff8100${(0x1000 + i * 16).toString(16)} ${type ?? 't'} ${name}`;
      })
      .join('\n') + '\n'
  );
}

function facts(t: { map?: string[]; symvers?: string; release?: string | null }): TargetFacts {
  return targetFactsFromText({
    release: t.release === undefined ? RELEASE : t.release,
    kallsyms: t.map ? systemMap(...t.map) : null,
    symbolSource: 'System.map',
    symvers: t.symvers ?? null,
  });
}

// --- inline-notrace: a listed out-of-line copy of a plain inline is certain to stop kpatch-build.

test('inline-notrace: a small static inline is a warning without facts, an error when the target lists its out-of-line copy', async () => {
  const dir = caseDir('inline-notrace', 'static-inline-in-c');
  const [without] = ofRule(await runCase(dir), 'inline-notrace');
  assert.equal(without.severity, 'warning');
  assert.match(without.message, /if any copy stays out of line/);

  const [withFacts, ...rest] = ofRule(await runCase(dir, { facts: facts({ map: ['demo_append:T', 'demo_room'] }) }), 'inline-notrace');
  assert.equal(rest.length, 0);
  assert.equal(withFacts.severity, 'error');
  assert.match(withFacts.message, /System\.map of 6\.1\.0-test-amd64 lists `demo_room` \(t, vmlinux\)/);
  assert.match(withFacts.message, /doesn't have patchable function entry/);
  assert.doesNotMatch(withFacts.message, /if any copy stays out of line/);
  // The rest of the message (what it is, how to fix it) is today's.
  assert.equal(withFacts.message.split('. ')[0], without.message.split('. ')[0]);
});

test("inline-notrace: a target that lists no copy but lists the file's other functions says it was inlined, and stays a warning", async () => {
  const dir = caseDir('inline-notrace', 'static-inline-in-c');
  const [f] = ofRule(await runCase(dir, { facts: facts({ map: ['demo_append:T'] }) }), 'inline-notrace');
  assert.equal(f.severity, 'warning');
  assert.match(f.message, /System\.map of 6\.1\.0-test-amd64 lists no out-of-line copy of it \(it lists demo_append of the same file\)/);
});

test('inline-notrace: without the release the message says "of the target"', async () => {
  const dir = caseDir('inline-notrace', 'static-inline-in-c');
  const [f] = ofRule(await runCase(dir, { facts: facts({ map: ['demo_room'], release: null }) }), 'inline-notrace');
  assert.equal(f.severity, 'error');
  assert.match(f.message, /System\.map of the target lists `demo_room`/);
});

test('inline-notrace: facts without the tree still decide', async () => {
  const dir = caseDir('inline-notrace', 'static-inline-in-c');
  const [f] = ofRule(await runCase(dir, { withoutTree: true, facts: facts({ map: ['demo_room'] }) }), 'inline-notrace');
  assert.equal(f.severity, 'error');
});

// --- inline-callers: a static function the target does not list was inlined into every caller.

test('inline-callers: a static function with two callers is not reported without facts, and is when the target lists no copy of it', async () => {
  const dir = caseDir('inline-callers', 'static-two-callers');
  assert.deepEqual(ofRule(await runCase(dir), 'inline-callers'), []);
  const f = ofRule(await runCase(dir, { facts: facts({ map: ['demo_verify:T', 'demo_rescale:T', 'demo_checksum'] }) }), 'inline-callers');
  assert.deepEqual(
    f.map((x) => [x.function, x.severity]),
    [['demo_scale', 'warning']],
  );
  assert.match(
    f[0].message,
    /demo_scale\(\) is static and System\.map of 6\.1\.0-test-amd64 lists no out-of-line copy of it \(it lists demo_verify\(\) of the same file\): gcc inlined it into every caller/,
  );
  assert.deepEqual(
    f[0].related.map((r) => r.message),
    ['demo_verify() calls demo_scale()', 'demo_rescale() calls demo_scale()'],
  );
});

test('inline-callers: no certainty when the target lists the function, a clone of it, or nothing of the file', async () => {
  const dir = caseDir('inline-callers', 'static-two-callers');
  for (const map of [['demo_verify:T', 'demo_scale'], ['demo_verify:T', 'demo_scale.constprop.0'], ['other_function:T']]) {
    assert.deepEqual(ofRule(await runCase(dir, { facts: facts({ map }) }), 'inline-callers'), [], map.join(' '));
  }
});

test('inline-callers: a single-caller static is a warning without facts, info when the target lists it out of line', async () => {
  const dir = caseDir('inline-callers', 'static-single-caller');
  const [without] = ofRule(await runCase(dir), 'inline-callers');
  assert.equal(without.severity, 'warning');
  assert.match(without.message, /almost certainly inlined it there/);
  const [f, ...rest] = ofRule(await runCase(dir, { facts: facts({ map: ['demo_verify:T', 'demo_checksum'] }) }), 'inline-callers');
  assert.equal(rest.length, 0);
  assert.equal(f.severity, 'info');
  assert.match(f.message, /lists `demo_checksum` \(t, vmlinux\) out of line: gcc did not inline it there/);
  // Listed as inlined (absent): the certainty replaces the guess.
  const [gone] = ofRule(await runCase(dir, { facts: facts({ map: ['demo_verify:T'] }) }), 'inline-callers');
  assert.equal(gone.severity, 'warning');
  assert.match(gone.message, /lists no out-of-line copy of it/);
});

test('inline-callers: an __always_inline function keeps its wording: the target adds nothing to a certainty', async () => {
  const dir = caseDir('inline-notrace', 'always-inline-changed');
  const without = ofRule(await runCase(dir), 'inline-callers');
  assert.deepEqual(
    without.map((x) => x.function),
    ['demo_full'],
  );
  const withFacts = ofRule(await runCase(dir, { facts: facts({ map: ['demo_append:T'] }) }), 'inline-callers');
  assert.deepEqual(
    withFacts.map((x) => x.message),
    without.map((x) => x.message),
  );
});

// --- ipa-clone: listed clones make a new call or a changed argument certain to matter.

test('ipa-clone: a fifth call site is not reported without facts, and is when the target lists a clone', async () => {
  const dir = caseDir('ipa-clone', 'new-call-with-four-callers');
  assert.deepEqual(ofRule(await runCase(dir), 'ipa-clone'), []);
  const f = ofRule(await runCase(dir, { facts: facts({ map: ['demo_limit0:T', 'demo_clamp.constprop.0'] }) }), 'ipa-clone');
  assert.deepEqual(
    f.map((x) => [x.function, x.symbol, x.severity]),
    [['demo_scale', 'demo_clamp', 'warning']],
  );
  assert.match(
    f[0].message,
    /adds a call to static demo_clamp\(\) \(4 call sites before, 5 after\), and the target kernel runs specialised clones of it: System\.map of 6\.1\.0-test-amd64 lists `demo_clamp\.constprop\.0` \(t, vmlinux\)/,
  );
});

test('ipa-clone: a changed variable argument matters only when the target lists a clone', async () => {
  const dir = caseDir('ipa-clone', 'changed-variable-arg');
  assert.deepEqual(ofRule(await runCase(dir), 'ipa-clone'), []);
  assert.deepEqual(ofRule(await runCase(dir, { facts: facts({ map: ['demo_fill'] }) }), 'ipa-clone'), []);
  const f = ofRule(await runCase(dir, { facts: facts({ map: ['demo_fill.isra.0', 'demo_fill.isra.0.cold'] }) }), 'ipa-clone');
  assert.equal(f.length, 1);
  assert.match(f[0].message, /changes the argument #2 \(len -> n\) of a call to static demo_fill\(\)/);
  assert.match(f[0].message, /lists `demo_fill\.isra\.0` \(t, vmlinux\) and `demo_fill\.isra\.0\.cold` \(t, vmlinux\)/);
});

test('ipa-clone: a prototype change names the listed clones instead of guessing', async () => {
  const dir = caseDir('ipa-clone', 'static-prototype-changed');
  const [without] = ofRule(await runCase(dir), 'ipa-clone');
  assert.match(without.message, /gcc may have built specialised clones/);
  const [f] = ofRule(await runCase(dir, { facts: facts({ map: ['demo_fill.constprop.0'] }) }), 'ipa-clone');
  assert.match(
    f.message,
    /the target kernel runs specialised clones of it: System\.map of 6\.1\.0-test-amd64 lists `demo_fill\.constprop\.0`/,
  );
  // Listed facts without a clone: today's wording.
  const [plain] = ofRule(await runCase(dir, { facts: facts({ map: ['demo_fill'] }) }), 'ipa-clone');
  assert.equal(plain.message, without.message);
});

// --- symbol-namespace: Module.symvers says which exports are namespaced.

const SYMVERS =
  [
    '0x12345678\tdemo_lib_reset\tvmlinux\tEXPORT_SYMBOL_GPL\tDEMO_LIB',
    '0x9abcdef0\tdemo_lib_plain\tdrivers/demolib/demolib\tEXPORT_SYMBOL_GPL\tDEMO_LIB',
    '0x0badcafe\tdemo_other\tvmlinux\tEXPORT_SYMBOL\t',
  ].join('\n') + '\n';

test('symbol-namespace: Module.symvers makes the finding an error and names where it comes from', async () => {
  const dir = caseDir('symbol-namespace', 'builtin-starts-using-ns-export');
  const [without] = ofRule(await runCase(dir), 'symbol-namespace');
  assert.equal(without.severity, 'warning');
  assert.match(without.message, /which drivers\/demolib\/lib\.c exports in namespace DEMO_LIB/);
  const [f] = ofRule(await runCase(dir, { facts: facts({ symvers: SYMVERS }) }), 'symbol-namespace');
  assert.equal(f.severity, 'error');
  assert.match(
    f.message,
    /demo_lib_reset\(\), which Module\.symvers of 6\.1\.0-test-amd64 lists as exported by vmlinux \(EXPORT_SYMBOL_GPL\) in namespace DEMO_LIB/,
  );
  assert.match(f.message, /MODULE_IMPORT_NS\(DEMO_LIB\)/);
});

/** A hunk that shows the whole function, so a hunk-only analysis sees it. */
const HUNK_ONLY_PATCH = `diff --git a/kernel/demo_user.c b/kernel/demo_user.c
--- a/kernel/demo_user.c
+++ b/kernel/demo_user.c
@@ -7,6 +7,7 @@ void demo_lib_plain(int unit);
 int demo_user_fixup(int unit)
 {
 \tif (unit < 0)
 \t\treturn -EINVAL;
+\tdemo_lib_reset(unit);
 \treturn 0;
 }
`;

test('symbol-namespace: without the tree the rule is skipped, unless Module.symvers is given', async () => {
  const run = (f: TargetFacts | null) => analyzePatches([{ name: 'hunk.patch', text: HUNK_ONLY_PATCH }], { tree: null, facts: f });
  const bare = await run(null);
  assert.deepEqual(ofRule(bare, 'symbol-namespace'), []);
  assert.match(bare.notes.join('\n'), /skipped: .*symbol-namespace/);
  const withSymvers = await run(facts({ symvers: SYMVERS }));
  assert.deepEqual(
    ofRule(withSymvers, 'symbol-namespace').map((x) => [x.symbol, x.severity]),
    [['demo_lib_reset', 'error']],
  );
  assert.doesNotMatch(withSymvers.notes.join('\n'), /skipped: .*symbol-namespace/);
  // Symbols alone cannot answer for it: still skipped, and the note says so.
  const symbolsOnly = await run(facts({ map: ['demo_lib_reset:T'] }));
  assert.match(symbolsOnly.notes.join('\n'), /skipped: .*symbol-namespace/);
});

test('symbol-namespace: the target decides where it and the source disagree', async () => {
  // The tree exports demo_lib_plain without a namespace; this target's build has one.
  const plain = caseDir('symbol-namespace', 'plain-export');
  assert.deepEqual(ofRule(await runCase(plain), 'symbol-namespace'), []);
  const [f] = ofRule(await runCase(plain, { facts: facts({ symvers: SYMVERS }) }), 'symbol-namespace');
  assert.match(f.message, /exported by drivers\/demolib\/demolib \(EXPORT_SYMBOL_GPL\) in namespace DEMO_LIB/);
  // And the other way round: the target exports it with no namespace.
  const ns = caseDir('symbol-namespace', 'builtin-starts-using-ns-export');
  const noNs = SYMVERS.replace('\tDEMO_LIB\n', '\t\n');
  assert.deepEqual(ofRule(await runCase(ns, { facts: facts({ symvers: noNs }) }), 'symbol-namespace'), []);
});

test('facts are named in the notes', async () => {
  const r = await runCase(caseDir('inline-notrace', 'static-inline-in-c'), { facts: facts({ map: ['demo_room'], symvers: SYMVERS }) });
  assert.ok(r.notes.includes(`target facts of ${RELEASE}: 1 symbol names (System.map), 3 exports (Module.symvers)`), r.notes.join('\n'));
  const none = await runCase(caseDir('inline-notrace', 'static-inline-in-c'));
  assert.ok(!none.notes.some((n) => n.startsWith('target facts')));
});
