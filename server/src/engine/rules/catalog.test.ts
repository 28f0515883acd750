// Every rule is one file, one test, one fixture set and one documentation page,
// and its id is one of the catalog's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { allRules, engineFindingIds, findingKind } from '.';

const CATALOG_IDS = [
  'init-section',
  'exit-section',
  'probe-once-state',
  'section-attr-func',
  'notrace',
  'inline-notrace',
  'syscall',
  'inline-callers',
  'ipa-clone',
  'line-macro',
  'no-functional-change',
  'static-local-removed',
  'static-local-new',
  'special-static',
  'once-read-mostly',
  'data-global-changed',
  'data-size-changed',
  'struct-layout',
  'data-semantic',
  'special-data-section',
  'new-global-data',
  'jump-label',
  'static-call',
  'exported-abi',
  'symbol-namespace',
  'unsupported-file',
  'code-removal',
  'printk-cold',
  'always-on-stack',
  'kthread-no-switch',
  'kprobe-conflict',
  'late-module',
  'replace-callbacks',
  'sibling-call',
  'kconfig-env',
];

const root = path.join(__dirname, '..', '..', '..', '..');

/** Catalog ids docs/catalog-ids-without-rules.md explains (one `## id` section each). */
function explainedIds(): { id: string; text: string }[] {
  const text = fs.readFileSync(path.join(root, 'docs', 'catalog-ids-without-rules.md'), 'utf8');
  return text
    .split(/^## /m)
    .slice(1)
    .map((sec) => ({ id: sec.split('\n')[0].trim(), text: sec.slice(sec.indexOf('\n')).trim() }));
}

/** Every other catalog id has a trigger, so the engine must implement it. */
const REQUIRED = CATALOG_IDS.filter((id) => !explainedIds().some((e) => e.id === id));

test('every required catalog rule is implemented, once', () => {
  const ids = allRules.map((r) => r.id);
  assert.deepEqual(
    ids.filter((id, i) => ids.indexOf(id) !== i),
    [],
    'duplicate ids',
  );
  for (const id of REQUIRED) assert.ok(ids.includes(id), `missing rule ${id}`);
  for (const id of ids) assert.ok(CATALOG_IDS.includes(id), `${id} is not a catalog id`);
});

test('every rule has its own source file, test, fixtures and documentation page', () => {
  for (const r of allRules) {
    assert.ok(fs.existsSync(path.join(__dirname, `${r.id}.ts`)), `${r.id}.ts`);
    assert.ok(fs.existsSync(path.join(__dirname, `${r.id}.test.ts`)), `${r.id}.test.ts`);
    assert.ok(fs.existsSync(path.join(__dirname, 'fixtures', r.id)), `fixtures/${r.id}`);
    const doc = path.join(root, 'docs', 'rules', `${r.id}.md`);
    assert.ok(fs.existsSync(doc), `docs/rules/${r.id}.md`);
    const text = fs.readFileSync(doc, 'utf8');
    assert.match(text, new RegExp(`^# ${r.id}$`, 'm'), `${r.id}: title`);
    for (const section of ['Severity', 'Why', 'Instead'])
      assert.match(text, new RegExp(`^\\*\\*${section}[^*]*:\\*\\*`, 'm'), `${r.id}: ${section}`);
    assert.ok(r.title.length > 10, `${r.id}: title`);
  }
});

// `not-analysed` is no rule: the engine reports it when it could not run the rules on a file,
// so it has no rule source, test or fixtures (analyze.test.ts covers it). It is a diagnostic
// like any other, though, and every diagnostic links to its page.
test('engine findings are not rules, and have a documentation page', () => {
  assert.deepEqual(
    engineFindingIds.map((e) => e.id),
    ['not-analysed'],
  );
  for (const e of engineFindingIds) {
    assert.ok(!allRules.some((r) => r.id === e.id), `${e.id} is also a rule`);
    assert.equal(findingKind(e.id), e);
    const text = fs.readFileSync(path.join(root, 'docs', 'rules', `${e.id}.md`), 'utf8');
    assert.match(text, new RegExp(`^# ${e.id}$`, 'm'), `${e.id}: title`);
    for (const section of ['Severity', 'Why', 'Instead'])
      assert.match(text, new RegExp(`^\\*\\*${section}[^*]*:\\*\\*`, 'm'), `${e.id}: ${section}`);
  }
});

test('every page in docs/rules belongs to a rule or an engine finding', () => {
  const ids = new Set([...allRules.map((r) => r.id), ...engineFindingIds.map((e) => e.id)]);
  for (const f of fs.readdirSync(path.join(root, 'docs', 'rules'))) {
    assert.ok(ids.has(f.replace(/\.md$/, '')), `docs/rules/${f} has no rule`);
  }
});

test('every catalog id without a rule is explained in docs/catalog-ids-without-rules.md, and only those', () => {
  const ids = new Set(allRules.map((r) => r.id));
  const explained = explainedIds();
  assert.deepEqual(explained.map((e) => e.id).sort(), CATALOG_IDS.filter((id) => !ids.has(id)).sort());
  for (const e of explained) assert.ok(e.text.length > 200, `${e.id}: say why no trigger exists`);
});
