// From build output to source lines: kpatch-build/create-diff-object and compiler lines,
// as they print them, parsed by the client and placed by the engine's locator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { parseBuildOutput } from '../remote/buildMessages';
import { BuildLocator, createParser, KernelTree } from '../../../server/src/engine';

const TREE = path.join(__dirname, '../../../server/src/engine/locate/fixtures/kpatch-build-errors');

const LOG = `Using source directory at /root/linux-6.1
Testing patch file(s)
Reading special section data
Building original source
Building patched source
Extracting new and modified ELF sections
klpstat.o: changed function: klpstat_show
ERROR: klpstat.o: function klpstat_show has no fentry/mcount call, unable to patch
ERROR: klpstat.o: changed section .bss.klpstat_hits not selected for inclusion
ERROR: fs/proc/klpstat.o: 2 unsupported section change(s)
ERROR: klpsys.o: function __do_sys_klpsys has no fentry/mcount call, unable to patch
/usr/libexec/kpatch/create-diff-object: unreconcilable difference
ERROR: 3 error(s) encountered. Check /root/.kpatch/build.log for more details.
`;

test('a failing kpatch-build log: each error lands on the definition it names', async () => {
  const events = parseBuildOutput(LOG).filter((e) => e.severity === 'error' && !e.aggregate);
  const locator = new BuildLocator(KernelTree.open(TREE), await createParser(), ['fs/proc/klpstat.c', 'kernel/klpsys.c']);
  const placed = events.map((e) => [e.rule ?? null, locator.locate({ ...e, line: e.lineNumber })?.what ?? null]);
  assert.deepEqual(placed, [
    ['notrace', 'function klpstat_show'],
    ['data-global-changed', 'variable klpstat_hits'],
    ['syscall', 'function klpsys'],
  ]);
});

test('compiler errors keep file, line and column, and map into the tree from a build copy', async () => {
  const events = parseBuildOutput(
    [
      '  CC [M]  /root/livepatch/livepatch_fix/livepatch_fix.o',
      "fs/proc/klpstat.c:12:9: error: 'klpstat_hitz' undeclared (first use in this function); did you mean 'klpstat_hits'?",
      "/root/.kpatch/src/kernel/klpsys.c:6:16: warning: unused variable 'x' [-Wunused-variable]",
      "livepatch_fix.c:40:1: error: expected ';' before '}' token",
      'make[2]: *** [scripts/Makefile.build:250: livepatch_fix.o] Error 1',
    ].join('\n'),
  );
  const cc = events.filter((e) => e.tool === 'compiler');
  assert.deepEqual(
    cc.map((e) => [e.severity, e.file, e.lineNumber, e.column]),
    [
      ['error', 'fs/proc/klpstat.c', 12, 9],
      ['warning', '/root/.kpatch/src/kernel/klpsys.c', 6, 16],
      ['error', 'livepatch_fix.c', 40, 1],
    ],
  );
  assert.match(cc[0].message, /^'klpstat_hitz' undeclared/);
  const locator = new BuildLocator(KernelTree.open(TREE), await createParser(), ['fs/proc/klpstat.c']);
  assert.deepEqual(
    cc.map((e) => locator.locate({ file: e.file, line: e.lineNumber })?.file ?? null),
    ['fs/proc/klpstat.c', 'kernel/klpsys.c', null],
  );
});
