import { test } from 'node:test';
import { kernelTree } from '../../testing/requirements';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createParser } from '../../server/src/engine/parse/parser';
import { defaultKernelTree, headName, listSourceFiles, measure, missPatterns, oracleFunctions, pct, sampleFiles } from './accuracy';

// Measured over all 848 files of kernel/, mm/, fs/ext4/, net/ipv4/ of Debian 6.1
// (npm run bench:parse): 99.99% name+range with blank(), 97.9% without.
const THRESHOLD = 0.995;
const SAMPLE = 40;

const tree = defaultKernelTree();
const haveTree = fs.existsSync(tree);

test('the oracle reads kernel-style heads', () => {
  assert.deepEqual(headName('static int __init foo_init(void)'), { name: 'foo_init', macro: null });
  assert.deepEqual(headName('static __printf(2, 3) void bar(int a, const char *fmt, ...)'), { name: 'bar', macro: null });
  assert.deepEqual(headName('bool irq_wait_for_poll(struct irq_desc *desc) __must_hold(&desc->lock)'), {
    name: 'irq_wait_for_poll',
    macro: null,
  });
  assert.deepEqual(headName('SYSCALL_DEFINE3(open, const char __user *, filename, int, flags, umode_t, mode)'), {
    name: 'open',
    macro: 'SYSCALL_DEFINE3',
  });
  assert.deepEqual(headName('void (*signal_fn(int sig))(int)'), { name: 'signal_fn', macro: null });
  assert.equal(headName('static const struct file_operations fops ='), null);
  assert.equal(headName('struct foo'), null);
  // A macro that pastes the name cannot be known without cpp.
  assert.equal(headName('int PRINT_TYPE_FUNC_NAME(symbol)(struct trace_seq *s, void *data)'), null);
});

test('the oracle finds bodies between column-0 braces and skips #if continuation lines', () => {
  const text = [
    '#if defined(A) && \\',
    '    defined(B)',
    'static void f(int a)',
    '{',
    '\tif (a) {',
    '\t\ta++;',
    '\t}',
    '}',
    '#endif',
    '',
    'static struct x y = {',
    '};',
    'int',
    'g(void)',
    '{',
    '}',
  ].join('\n');
  const fns = oracleFunctions(text);
  assert.deepEqual(
    fns.map((f) => [f.name, f.headStart, f.braceLine, f.closeLine]),
    [
      ['f', 2, 3, 7],
      ['g', 12, 14, 15],
    ],
  );
});

test(
  `indexer names and ranges on a sample of the 6.1 tree are >= ${THRESHOLD * 100}% right`,
  {
    skip: kernelTree() ?? false,
  },
  async () => {
    assert.ok(haveTree, `needed (KLP_REQUIRE_KERNEL_TREE=1 or present) but there is no kernel tree at ${tree}`);
    const files = sampleFiles(listSourceFiles(tree), SAMPLE);
    assert.ok(files.length >= SAMPLE * 0.9, `only ${files.length} files sampled`);
    const parser = await createParser();
    const s = await measure(parser, tree, files, 'blanked');
    // A broken oracle must not pass by finding nothing.
    assert.ok(s.oracle >= 500, `the oracle found only ${s.oracle} functions in ${files.length} files`);
    const misses = missPatterns(s.misses)
      .slice(0, 5)
      .map((p) => `${p.count} ${p.pattern} (e.g. ${p.example.file}:${p.example.fn.braceLine + 1})`);
    assert.ok(
      s.rangeOk / s.oracle >= THRESHOLD,
      `name+range ${pct(s.rangeOk, s.oracle)} of ${s.oracle} functions in ${files.length} files; top misses: ${misses.join('; ')}`,
    );
  },
);
