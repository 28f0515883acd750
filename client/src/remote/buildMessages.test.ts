import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BuildOutputParser, parseBuildLine, parseBuildOutput, ruleForSection } from './buildMessages';

// Logs written in the formats the tools print (kpatch-build 0.9.x,
// create-diff-object, upstream klp-build + objtool klp diff).

const KPATCH_SUCCESS = `Using source directory at /root/linux-6.1
Testing patch file(s)
Reading special section data
Building original source
Building patched source
Extracting new and modified ELF sections
fs/proc/cmdline.o: changed function: cmdline_proc_show
fs/proc/meminfo.o: changed function: meminfo_proc_show
fs/proc/meminfo.o: new function: show_extra_counters
Patched objects: vmlinux
Building patch module: livepatch-fix-proc.ko
SUCCESS
`;

const KPATCH_NOTRACE = `Using source directory at /root/linux-6.1
Testing patch file(s)
Reading special section data
Building original source
Building patched source
Extracting new and modified ELF sections
kernel/sched/core.o: changed function: schedule_tail
ERROR: function __schedule doesn't have patchable function entry, unable to patch
ERROR: function native_sched_clock has no fentry/mcount call, unable to patch
ERROR: kernel/sched/core.o: 2 function(s) can not be patched
/usr/libexec/kpatch/create-diff-object: unreconcilable difference
ERROR: 1 error(s) encountered. Check /root/.kpatch/build.log for more details.
`;

test('a successful kpatch-build run: stages, changed and new functions, module, success', () => {
  const ev = parseBuildOutput(KPATCH_SUCCESS);
  assert.deepEqual(
    ev.filter((e) => e.kind === 'stage').map((e) => e.stage),
    [
      'Using source directory',
      'Testing patch file(s)',
      'Reading special section data',
      'Building original source',
      'Building patched source',
      'Extracting new and modified ELF sections',
      'Building patch module',
    ],
  );
  const changed = ev.filter((e) => e.kind === 'changed-function');
  assert.deepEqual(
    changed.map((e) => [e.object, e.function]),
    [
      ['fs/proc/cmdline.o', 'cmdline_proc_show'],
      ['fs/proc/meminfo.o', 'meminfo_proc_show'],
    ],
  );
  const added = ev.find((e) => e.kind === 'new-function');
  assert.equal(added?.function, 'show_extra_counters');
  assert.deepEqual(ev.find((e) => e.kind === 'patched-objects')?.objects, ['vmlinux']);
  assert.equal(ev.find((e) => e.stage === 'Building patch module')?.module, 'livepatch-fix-proc.ko');
  assert.equal(ev.at(-1)?.kind, 'success');
  assert.ok(ev.every((e) => e.severity === 'info'));
});

test('notrace errors map to the notrace rule and get their object from the summary line', () => {
  const ev = parseBuildOutput(KPATCH_NOTRACE);
  const errors = ev.filter((e) => e.severity === 'error');
  const fns = errors.filter((e) => e.function);
  assert.deepEqual(
    fns.map((e) => [e.function, e.rule, e.object]),
    [
      ['__schedule', 'notrace', 'kernel/sched/core.o'],
      ['native_sched_clock', 'notrace', 'kernel/sched/core.o'],
    ],
  );
  const agg = errors.find((e) => e.count === 2);
  assert.equal(agg?.aggregate, true);
  assert.equal(agg?.object, 'kernel/sched/core.o');
  const unrec = errors.find((e) => /unreconcilable/.test(e.message));
  assert.equal(unrec?.tool, 'create-diff-object');
  assert.equal(unrec?.fatal, true);
  const last = ev.at(-1)!;
  assert.equal(last.logFile, '/root/.kpatch/build.log');
  assert.equal(last.message, '1 error(s) encountered');
  assert.equal(last.fatal, true);
});

test('create-diff-object messages map to catalog rules', () => {
  const cases: Array<[string, Partial<Record<'rule' | 'function' | 'symbol' | 'section' | 'object' | 'severity', string>>]> = [
    ['ERROR: changed section .init.text not selected for inclusion', { rule: 'init-section', section: '.init.text' }],
    [
      'fs/foo.o: changed section .exit.text not selected for inclusion',
      { rule: 'exit-section', section: '.exit.text', object: 'fs/foo.o' },
    ],
    ['ERROR: changed section .data..read_mostly not selected for inclusion', { rule: 'special-data-section' }],
    ['ERROR: data section .data.counter selected for inclusion', { rule: 'data-global-changed', section: '.data.counter' }],
    ['ERROR: changed section .sched.text not selected for inclusion', { rule: 'section-attr-func' }],
    [
      "ERROR: function __do_sys_uname doesn't have patchable function entry, unable to patch",
      { rule: 'syscall', function: '__do_sys_uname' },
    ],
    [
      'ERROR: fs/proc/cmdline.o: reference to static local variable count.1 in cmdline_proc_show was removed',
      { rule: 'static-local-removed', symbol: 'count.1', function: 'cmdline_proc_show', object: 'fs/proc/cmdline.o' },
    ],
    [
      'ERROR: a.o: static local count.3 has been correlated with count.2, but patched foo is missing a reference to it',
      { rule: 'static-local-removed', function: 'foo' },
    ],
    [
      'fs/proc/cmdline.o: WARNING: unable to correlate static local variable calls.0 used by cmdline_proc_show, assuming variable is new',
      { rule: 'static-local-new', severity: 'warning', symbol: 'calls.0', function: 'cmdline_proc_show' },
    ],
    ['ERROR: net/core/dev.o: object size mismatch: netdev_stats', { rule: 'data-size-changed', symbol: 'netdev_stats' }],
    ['ERROR: mm/slab.o: symbol changed sections: kmalloc_order', { rule: 'section-attr-func', symbol: 'kmalloc_order' }],
    [
      'ERROR: Found a jump label at foo_show()+0x1c, using key foo_key, which is defined in a module.  Use static_key_enabled() instead.',
      { rule: 'jump-label', function: 'foo_show', symbol: 'foo_key' },
    ],
    [
      "ERROR: Found a jump label at bar()+0x2a, using key bar_key.  Jump labels aren't supported with this kernel.  Use static_key_enabled() instead.",
      { rule: 'jump-label', function: 'bar', symbol: 'bar_key' },
    ],
    [
      'ERROR: Found a static call at baz()+0x10, using key sc_key, which is defined in a module.  Use KPATCH_STATIC_CALL() instead.',
      { rule: 'static-call', function: 'baz', symbol: 'sc_key' },
    ],
    [
      'create-diff-object: ERROR: drivers/x.o: kpatch_check_relocations: 2874: Found 1 unsupported jump label(s) in the patched code.',
      { rule: 'jump-label', object: 'drivers/x.o' },
    ],
    ['ERROR: Version disagreement for symbol printk', { rule: 'exported-abi', symbol: 'printk' }],
    ['ERROR: Patch module references vfs_read with invalid version', { rule: 'exported-abi', symbol: 'vfs_read' }],
    ['ERROR: no functional changes found. Check /root/.kpatch/build.log for more details.', { rule: 'no-functional-change' }],
    ['ERROR: fix.patch: unsupported patch to lib/: lib/string.c', { rule: 'unsupported-file', symbol: 'lib/string.c' }],
    ['ERROR: fix.patch: unsupported patch to assembly: arch/x86/entry/entry_64.S', { rule: 'unsupported-file' }],
  ];
  for (const [line, want] of cases) {
    const ev = parseBuildLine(line);
    assert.ok(ev, line);
    for (const [k, v] of Object.entries(want)) assert.equal((ev as unknown as Record<string, unknown>)[k], v, `${k} of: ${line}`);
    if (!want.severity) assert.equal(ev.severity, 'error', line);
  }
});

test('klp-build and objtool klp diff output', () => {
  const log = [
    'Validating patch(es)',
    'Building original kernel',
    'Copying original object files',
    'Fixing patch(es)',
    'Building patched kernel',
    'Copying patched object files',
    'Diffing objects',
    'vmlinux.o: changed function: cmdline_proc_show',
    'vmlinux.o: changed data: saved_command_line_len',
    'vmlinux.o: no correlation: __already_done.12',
    'cmdline_proc_show: disabling unsupported pr_debug()',
    'foo_show+0x12: unsupported static branch key foo_key.  Use static_key_enabled() instead',
    'error: klp-build: no changes detected',
  ].join('\n');
  const ev = parseBuildOutput(log);
  assert.equal(ev.filter((e) => e.kind === 'stage' && e.tool === 'klp-build').length, 7);
  assert.equal(ev.find((e) => e.kind === 'changed-function')?.function, 'cmdline_proc_show');
  const data = ev.find((e) => e.symbol === 'saved_command_line_len');
  assert.equal(data?.rule, 'data-global-changed');
  assert.equal(ev.find((e) => /no correlation/.test(e.message))?.severity, 'warning');
  assert.equal(ev.find((e) => /pr_debug/.test(e.message))?.rule, 'special-static');
  const key = ev.find((e) => e.symbol === 'foo_key');
  assert.deepEqual([key?.rule, key?.function], ['jump-label', 'foo_show']);
  const last = ev.at(-1)!;
  assert.deepEqual([last.tool, last.rule, last.fatal, last.message], ['klp-build', 'no-functional-change', true, 'no changes detected']);
});

test('kernel log and kpatch CLI lines', () => {
  const dmesg = [
    '[  101.123456] livepatch_sample: tainting kernel with TAINT_LIVEPATCH',
    "[  101.130000] livepatch: enabling patch 'livepatch_sample'",
    "livepatch: 'livepatch_sample': starting patching transition",
    'livepatch: signaling remaining tasks',
    'livepatch_bad: disagrees about version of symbol module_layout',
    'kpatch: error: failed to load module livepatch_x (transition stalled)',
  ];
  const ev = dmesg.map((l) => parseBuildLine(l));
  assert.deepEqual(
    ev.map((e) => e?.tool),
    ['kernel', 'kernel', 'kernel', 'kernel', 'kernel', 'kpatch'],
  );
  assert.equal(ev[1]?.module, 'livepatch_sample');
  assert.equal(ev[3]?.severity, 'warning');
  assert.equal(ev[4]?.rule, 'exported-abi');
  assert.equal(ev[5]?.fatal, true);
});

test('noise is ignored, ANSI and CR are stripped, and chunks split mid-line still parse', () => {
  assert.equal(parseBuildLine('  CC      fs/proc/cmdline.o'), undefined);
  assert.equal(parseBuildLine(''), undefined);
  assert.equal(parseBuildLine('\x1b[1mSUCCESS\x1b[0m\r')?.kind, 'success');
  const p = new BuildOutputParser();
  const text = KPATCH_SUCCESS;
  const got = [];
  for (let i = 0; i < text.length; i += 7) got.push(...p.push(text.slice(i, i + 7)));
  got.push(...p.end());
  assert.deepEqual(
    got.map((e) => e.kind),
    parseBuildOutput(text).map((e) => e.kind),
  );
  assert.equal(got.length, 12);
});

test('section names map to rules, and ordinary function sections to none', () => {
  assert.equal(ruleForSection('.init.data'), 'init-section');
  assert.equal(ruleForSection('.meminit.text'), 'init-section');
  assert.equal(ruleForSection('.data..percpu'), 'special-data-section');
  assert.equal(ruleForSection('.data.once'), 'special-static');
  assert.equal(ruleForSection('.bss.counter'), 'data-global-changed');
  assert.equal(ruleForSection('.noinstr.text'), 'section-attr-func');
  assert.equal(ruleForSection('.text.cmdline_proc_show'), undefined);
  assert.equal(ruleForSection('.text.unlikely.foo'), undefined);
});
