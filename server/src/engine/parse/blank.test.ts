import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { test } from '../../../../testing/nodeTest';
import { ANNOTATION_FUNCTION_MACROS, ANNOTATION_MACROS, blank, blankEveryToken } from './blank';
import { createParser } from './parser';
import { indexSource } from '../index/indexer';
import type { FileIndex } from '../model';

async function index(text: string): Promise<FileIndex> {
  return indexSource(await createParser(), 'x.c', text);
}

/** name -> [first line, last line], 0-based. */
function spans(idx: FileIndex): Record<string, [number, number]> {
  return Object.fromEntries(idx.functions.map((f) => [f.name, [f.span.start, f.span.end]]));
}

function newlines(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) if (s[i] === '\n') out.push(i);
  return out;
}

const KERNEL = `// SPDX-License-Identifier: GPL-2.0
#include <linux/init.h>

static DEFINE_PER_CPU(int, demo_count);

static int __init demo_init(void)
{
	return 0;
}

SYSCALL_DEFINE3(demo_open, const char __user *, filename, int, flags, umode_t, mode)
{
	return do_open(filename, flags, mode);
}

static void demo_walk(struct list_head *head)
{
	struct demo *d;

	list_for_each_entry(d, head, node) {
		d->seen++;
	}
}

static void set_skip(struct sched_entity *se)
{
	for_each_sched_entity(se)
		cfs_rq_of(se)->skip = se;
}

static void after_skip(struct rq *rq)
{
	rq->nr++;
}
`;

test('blank() keeps the length and every newline', () => {
  const out = blank(KERNEL);
  assert.equal(out.length, KERNEL.length);
  assert.deepEqual(newlines(out), newlines(KERNEL));
  const crlf = KERNEL.replace(/\n/g, '\r\n');
  const outCrlf = blank(crlf);
  assert.equal(outCrlf.length, crlf.length);
  assert.deepEqual(newlines(outCrlf), newlines(crlf));
});

test('static int __init f(void) is indexed as f', async () => {
  const idx = await index(KERNEL);
  const f = idx.functions.find((x) => x.name === 'demo_init');
  assert.ok(f, `functions: ${idx.functions.map((x) => x.name).join(', ')}`);
  assert.deepEqual([f.span.start, f.span.end], [5, 8]);
  assert.ok(!idx.functions.some((x) => x.name === 'void' || x.name === '__init'));
});

test('SYSCALL_DEFINE3 becomes a function named by its first argument', async () => {
  const idx = await index(KERNEL);
  const f = idx.functions.find((x) => x.name === 'demo_open');
  assert.ok(f);
  assert.equal(f.syscallMacro, 'SYSCALL_DEFINE3');
  assert.deepEqual([f.span.start, f.span.end], [10, 13]);
  assert.match(blank(KERNEL).split('\n')[10], /^long\s+demo_open\(\s*const char\s+\*\s+filename, int\s+flags, umode_t\s+mode\)$/);
});

test('a braced list_for_each_entry loop stays inside its function', async () => {
  const idx = await index(KERNEL);
  assert.deepEqual(spans(idx).demo_walk, [15, 22]);
  assert.match(blank(KERNEL).split('\n')[19], /^\twhile\s+\(d, head, node\) \{$/);
  assert.ok(
    idx.functions.find((x) => x.name === 'demo_walk')!.identifiers.has('seen') ||
      idx.functions.find((x) => x.name === 'demo_walk')!.normBody.includes('seen'),
  );
});

test('an unbraced for_each_* loop does not swallow the next function', async () => {
  const s = spans(await index(KERNEL));
  assert.deepEqual(s.set_skip, [24, 28]);
  assert.deepEqual(s.after_skip, [30, 33]);
});

test('DEFINE_PER_CPU(type, name) declares name', async () => {
  const idx = await index(KERNEL);
  const v = idx.variables.find((x) => x.name === 'demo_count');
  assert.ok(v, `variables: ${idx.variables.map((x) => x.name).join(', ')}`);
  assert.equal(v.storage, 'static');
  assert.ok(v.attributes.includes('DEFINE_PER_CPU'));
  assert.equal(blank(KERNEL).split('\n')[3], 'static                int  demo_count ;');
});

test('calls named like iterators, and macros in strings and comments, are left alone', () => {
  const text = [
    'static void f(void)',
    '{',
    '\tidr_for_each(&demo_idr, demo_free, NULL);',
    '\tlist_for_each_entry_safe_call(a, b);',
    '\tpr_info("__init list_for_each_entry(x, y, z) { SYSCALL_DEFINE1(a, int, b)");',
    '\t/* __user notrace for_each_cpu(cpu) { */',
    '\t// DEFINE_PER_CPU(int, x) __always_inline',
    '}',
    '',
  ].join('\n');
  assert.equal(blank(text), text);
});

test('kernel annotations with arguments are blanked with their arguments', async () => {
  const text = [
    'bool irq_wait_for_poll(struct irq_desc *desc)',
    '\t__must_hold(&desc->lock)',
    '{',
    '\treturn true;',
    '}',
    '',
    'static __printf(2, 3) void demo_log(int level, const char *fmt, ...)',
    '{',
    '}',
    '',
  ].join('\n');
  assert.equal(blank(text).split('\n')[1].trim(), '');
  const s = spans(await index(text));
  assert.deepEqual(s.irq_wait_for_poll, [0, 4]);
  assert.deepEqual(s.demo_log, [6, 8]);
});

test('a column-0 macro statement without ";" is not glued onto the next function', async () => {
  const text = [
    'static int handler(void)',
    '{',
    '\treturn 0;',
    '}',
    'NOKPROBE_SYMBOL(handler)',
    '',
    'static void *seq_start(struct seq_file *m, loff_t *pos)',
    '{',
    '\treturn NULL;',
    '}',
    'BTF_SET_START(demo_ids)',
    'BTF_ID(func, handler)',
    'BTF_SET_END(demo_ids)',
    '',
    'static int',
    'register_for_each_vma(struct uprobe *uprobe)',
    '{',
    '\treturn 0;',
    '}',
    '',
  ].join('\n');
  const out = blank(text);
  assert.equal(out.split('\n')[4].trim(), '');
  assert.equal(out.split('\n')[11].trim(), '');
  // A function whose name contains for_each, at column 0, is not a loop.
  assert.equal(out.split('\n')[15], text.split('\n')[15]);
  const s = spans(await index(text));
  assert.deepEqual(s.seq_start, [6, 9]);
  assert.deepEqual(s.register_for_each_vma, [14, 18]);
});

test('a MACRO(x) line that belongs to a function head is kept', () => {
  const text = ['DEMO_RETTYPE(int)', 'demo(int a)', '{', '\treturn a;', '}', ''].join('\n');
  assert.equal(blank(text), text);
});

test('do_each_thread / while_each_thread loops close their do-while', async () => {
  const text = [
    'static void walk(void)',
    '{',
    '\tstruct task_struct *g, *t;',
    '',
    '\tdo_each_thread(g, t) {',
    '\t\tt->seen = 1;',
    '\t} while_each_thread(g, t);',
    '\tdo {',
    '\t\tcount++;',
    '\t} while_each_subsys_mask();',
    '}',
    '',
    'static void next_fn(void)',
    '{',
    '}',
    '',
  ].join('\n');
  const out = blank(text).split('\n');
  assert.match(out[4], /^\tdo\s+\{$/);
  assert.match(out[6], /^\t\} while\s+\(g, t\);$/);
  assert.match(out[9], /^\t\} while\(0\)\s*;$/);
  const s = spans(await index(text));
  assert.deepEqual(s.walk, [0, 10]);
  assert.deepEqual(s.next_fn, [12, 14]);
});

test('#ifdef inside an expression keeps the function whole; comments in a multi-line #define do not end it', async () => {
  const text = [
    'int copy_creds(struct task_struct *p, unsigned long clone_flags)',
    '{',
    '\tif (',
    '#ifdef CONFIG_KEYS',
    '\t\t!p->cred->thread_keyring &&',
    '#endif',
    '\t\tclone_flags & CLONE_THREAD',
    '\t    ) {',
    '\t\treturn 0;',
    '\t}',
    '#ifdef CONFIG_KEYS',
    '\tkey_put(p->keyring);',
    '#endif',
    '\treturn 1;',
    '}',
    '',
    '#define FLAGS \\',
    '\tpf(IPV6)\t/* v6 */\t\\',
    '\tpf(NODE)\t/* node */\t\\',
    '',
    'static int after(void)',
    '{',
    '\treturn 0;',
    '}',
    '',
  ].join('\n');
  const out = blank(text).split('\n');
  assert.equal(out[3].trim(), '');
  assert.equal(out[5].trim(), '');
  assert.equal(out[10], '#ifdef CONFIG_KEYS'); // statement level: tree-sitter handles it
  assert.equal(out[17], '\tpf(IPV6)\t' + ' '.repeat('/* v6 */'.length) + '\t\\');
  const s = spans(await index(text));
  assert.deepEqual(s.copy_creds, [0, 14]);
  assert.deepEqual(s.after, [20, 23]);
});

test('COMPAT_SYSCALL_DEFINE with a macro-generated parameter and NOTRACE_BPF_CALL are named', async () => {
  const text = [
    'COMPAT_SYSCALL_DEFINE4(readahead, int, fd, compat_arg_u64_dual(offset), size_t, count)',
    '{',
    '\treturn ksys_readahead(fd, compat_arg_u64_glue(offset), count);',
    '}',
    '',
    'NOTRACE_BPF_CALL_1(bpf_spin_lock, struct bpf_spin_lock *, lock)',
    '{',
    '\treturn 0;',
    '}',
    '',
  ].join('\n');
  const s = spans(await index(text));
  assert.deepEqual(s.readahead, [0, 3]);
  assert.deepEqual(s.bpf_spin_lock, [5, 8]);
});

// blank() scans with a regex that returns only the identifiers it can act on; the one
// that returns every identifier (blankEveryToken) is kept as the reference.

const PIECES = [
  ...['__init', '__user', 'notrace', '__printf(1, 2)', '__must_hold(l)', '__aligned(8)', 'asmlinkage'],
  ...['list_for_each_entry(p, h, n)', 'for_each_cpu(c)', 'xa_for_each', 'Xfor_each', '0for_each', 'do_each_thread(g, t)'],
  ...['while_each_thread(g, t)', 'while_each_pid()', 'SYSCALL_DEFINE2(f, int, a, int, b)', 'BPF_CALL_1(g, u64, x)'],
  ...['KPATCH_SYSCALL_DEFINE0(h)', 'DEFINE_PER_CPU(int, v)', 'DEFINE_PER_CPU_ALIGNED(int, w)', 'MACRO(x)', 'f(', 'g ('],
  ...['x__init', '__init_x', '0x1fUL', 'L"s"', '"a(b"', "'('", '/* ( */', '// )\n', '/*', '*/', '"', "'", '\\'],
  ...['\n', '\n', '\n\n', '\r\n', ' ', '\t', '\n#ifdef A\n', '\n#endif\n', '#define M(a) \\\n a /* c */ \\\n', '\n#'],
  ...['(', ')', '(', ')', '{', '}', '\n{', '\n}', ';', ',', 'int', 'static', 'while', 'do'],
];

test('property: blank() equals the every-identifier scan', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 40 }), (parts) => {
      const s = parts.join('');
      assert.equal(blank(s), blankEveryToken(s));
    }),
    { seed: 15, numRuns: 30000 },
  );
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
      assert.equal(blank(s), blankEveryToken(s));
    }),
    { seed: 15, numRuns: 5000 },
  );
});

test('the annotation names are plain words (they go into a regex as they are)', () => {
  for (const w of [...ANNOTATION_MACROS, ...ANNOTATION_FUNCTION_MACROS]) assert.match(w, /^[A-Za-z_]\w*$/);
});

const TREE = path.join(os.homedir(), '.cache/kernel-livepatch/linux-6.1');
test(
  'on the 6.1 tree: blank() equals the every-identifier scan on the files of a few directories',
  { skip: fs.existsSync(path.join(TREE, 'Makefile')) ? false : `no kernel tree at ${TREE}` },
  () => {
    let n = 0;
    for (const d of ['arch/x86/kvm', 'kernel', 'kernel/sched', 'net/core', 'fs/ext4', 'include/linux']) {
      for (const f of fs.readdirSync(path.join(TREE, d)).filter((x) => /\.[ch]$/.test(x))) {
        const text = fs.readFileSync(path.join(TREE, d, f), 'utf8');
        assert.equal(blank(text), blankEveryToken(text), path.join(d, f));
        n++;
      }
    }
    assert.ok(n > 500, `${n} files`);
  },
);
