// Reading gcc -E output: the file's own definitions through the line markers, attributes
// from macro expansions, static-call keys and export namespaces wherever the macro was written.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyExpanded, readExpanded } from './expanded';
import { createParser } from '../parse/parser';
import { indexSource } from '../index/indexer';

const I = [
  '# 1 "drivers/demo/a.c"',
  '# 1 "/tree/include/linux/x.h" 1',
  'static inline __attribute__((no_instrument_function)) int helper(void) { return 1; }',
  '# 3 "drivers/demo/a.c" 2',
  '',
  '__attribute__((__noinline__)) __attribute((__section__(".noinstr.text"))) void exc_x(struct pt_regs *regs)',
  '{',
  ' char *s = "}{";',
  '}',
  'static int __attribute__((__section__(".init.text"))) __attribute__((__cold__)) setup_x(void) { return 0; }',
  'int table[2] = { 1, 2 };',
  'struct static_call_key __SCK__demo_run = { .func = 0, };',
  'asm("__kstrtabns_" "demo_get" ":\\t\\t\\t\\t\\t\\n" "\\t.asciz \\t\\"" "DEMO" "\\"\\t\\t\\t\\t\\t\\n"); asm("\\t.section \\"___ksymtab" "_gpl" "+" "demo_get" "\\", \\"a\\"\\n");',
  'int plain(void) { return 0; }',
  '',
].join('\n');

test("the file's own definitions with their source lines and attributes; headers' are left out", () => {
  const v = readExpanded(I, 'drivers/demo/a.c', '/tree');
  assert.deepEqual(
    v.functions.map((f) => [f.name, f.line, f.section]),
    [
      ['exc_x', 3, '.noinstr.text'],
      ['setup_x', 7, '.init.text'],
      ['plain', 11, null],
    ],
  );
  assert.deepEqual(v.functions[1].gccAttributes, ['section', 'cold']);
  assert.deepEqual([...v.staticCallKeys], [['demo_run', { file: 'drivers/demo/a.c', line: 9 }]]);
  assert.deepEqual([...v.exports], [['demo_get', { namespace: 'DEMO', gpl: true, file: 'drivers/demo/a.c', line: 10 }]]);
});

test('applyExpanded adds what a macro hid and drops what expands to nothing, on a copy', async () => {
  const parser = await createParser('wasm');
  const src = 'DEFINE_THING(exc_x)\n{\n}\nstatic int __kprobes setup_x(void) { return 0; }\nint plain(void) { return 0; }\n';
  const idx = indexSource(parser, 'drivers/demo/a.c', src);
  const v = readExpanded(I, 'drivers/demo/a.c');
  const out = applyExpanded(idx, v);
  const fn = (n: string) => out.functions.find((f) => f.name === n)!;
  assert.deepEqual(fn('exc_x').attributes, ['noinstr']);
  assert.deepEqual(fn('exc_x').expansion, { added: ['noinstr'], dropped: [] });
  // __kprobes is no section here (the view shows .init.text): corrected; __cold comes with __init.
  assert.deepEqual(fn('setup_x').attributes, ['__init']);
  assert.deepEqual(fn('setup_x').expansion?.dropped, ['__kprobes']);
  // A corrected copy still reads its body: the facts are the original's.
  const orig = idx.functions.find((f) => f.name === 'setup_x')!;
  assert.equal(fn('setup_x').normBody, orig.normBody);
  assert.ok(fn('setup_x').normBody.includes('return 0'), fn('setup_x').normBody);
  assert.deepEqual([...fn('setup_x').identifiers], [...orig.identifiers]);
  assert.deepEqual(fn('setup_x').calls, orig.calls);
  assert.equal(
    fn('plain'),
    idx.functions.find((f) => f.name === 'plain'),
    'unchanged functions are the same objects',
  );
  assert.deepEqual(idx.functions.find((f) => f.name === 'exc_x')!.attributes, [], 'the cached index is not touched');
});
