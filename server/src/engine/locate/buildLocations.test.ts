import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { createParser } from '../parse/parser';
import { KernelTree } from '../tree/kernelTree';
import { BuildLocator, nameFromSection } from './buildLocations';

const TREE = path.join(__dirname, 'fixtures', 'kpatch-build-errors');
const FILES = ['fs/proc/klpstat.c', 'kernel/klpsys.c'];

async function locator() {
  return new BuildLocator(KernelTree.open(TREE), await createParser(), FILES);
}

test('functions named by create-diff-object land on their definition, through gcc clone suffixes', async () => {
  const l = await locator();
  assert.deepEqual(l.locate({ object: 'fs/proc/klpstat.o', function: 'klpstat_show' }), {
    file: 'fs/proc/klpstat.c',
    line: 6,
    endLine: 6,
    what: 'function klpstat_show',
  });
  assert.equal(l.locate({ function: 'klpstat_show.isra.0' })?.line, 6);
  assert.equal(l.locate({ function: 'klpstat_init.cold' })?.line, 16);
});

test('syscall wrappers resolve to the SYSCALL_DEFINE line', async () => {
  const l = await locator();
  assert.deepEqual(l.locate({ object: 'kernel/klpsys.o', function: '__do_sys_klpsys' }), {
    file: 'kernel/klpsys.c',
    line: 3,
    endLine: 3,
    what: 'function klpsys',
  });
  assert.equal(l.locate({ function: '__x64_sys_klpsys' })?.file, 'kernel/klpsys.c');
});

test('sections resolve to the function or variable they hold', async () => {
  const l = await locator();
  assert.equal(l.locate({ section: '.text.unlikely.klpstat_show' })?.what, 'function klpstat_show');
  assert.deepEqual(l.locate({ object: 'fs/proc/klpstat.o', section: '.bss.klpstat_hits' }), {
    file: 'fs/proc/klpstat.c',
    line: 4,
    endLine: 4,
    what: 'variable klpstat_hits',
  });
  assert.equal(l.locate({ section: '.init.text' }), undefined, 'a section without a name has no single place');
  assert.deepEqual(nameFromSection('.data.rel.ro.klp_ops'), { kind: 'variable', name: 'klp_ops' });
});

test('static locals are found by their numbered symbol name', async () => {
  const l = await locator();
  assert.equal(l.locate({ symbol: 'calls.1', function: undefined })?.what, 'static local calls in klpstat_show()');
  assert.equal(l.locate({ symbol: 'calls.1' })?.line, 8);
});

test('compiler paths from a build copy of the tree map back into it; others are not ours', async () => {
  const l = await locator();
  assert.deepEqual(l.locate({ file: '/root/.kpatch/src/fs/proc/klpstat.c', line: 12 }), {
    file: 'fs/proc/klpstat.c',
    line: 11,
    endLine: 11,
    what: 'fs/proc/klpstat.c:12',
  });
  assert.equal(l.locate({ file: 'livepatch_x.c', line: 3 }), undefined);
  assert.equal(l.locate({ file: '../../etc/passwd', line: 1 }), undefined);
  assert.equal(l.locate({ function: 'not_in_the_patch' }), undefined);
});
