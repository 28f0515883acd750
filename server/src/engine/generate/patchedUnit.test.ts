// The patched-unit transformation on small kernel-style files: what each kind of
// definition becomes, checked in the text and, compiled with gcc against the
// fixtures' minimal headers, in the object's symbol table.

import { describe, it } from '../../../../testing/nodeTest';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCase } from '../../../../testing/fixtures';
import { KernelTree } from '../tree/kernelTree';
import { createParser } from '../parse/parser';
import { generatePatchedUnit, type PatchedUnitModule } from './patchedUnit';
import { GenerateError } from './moduleGenerator';
import { Kallsyms, parseSymversObjects } from './symbols';
import { tempDir } from '../../../../testing/tempDir';

const FIXTURES = path.join(__dirname, 'fixtures', 'patched-unit');
const fixture = (name: string) => path.join(FIXTURES, name);

async function generate(name: string, opts: { kallsyms?: string; symvers?: string; replace?: boolean } = {}): Promise<PatchedUnitModule> {
  const dir = fixture(name);
  const r = await runCase(dir);
  return generatePatchedUnit(r, {
    name: 'livepatch_test',
    tree: KernelTree.open(path.join(dir, 'before')),
    parser: await createParser(),
    kallsyms: opts.kallsyms === undefined ? null : new Kallsyms(opts.kallsyms),
    exported: opts.symvers === undefined ? null : parseSymversObjects(opts.symvers),
    replace: opts.replace,
  });
}

/** Compiles the unit with gcc (x86_64, -O2, as kbuild would) and returns `nm` of the object. */
function compileUnit(m: PatchedUnitModule): { nm: string; sections: string } {
  const dir = tempDir('klp-unit-');
  for (const [rel, text] of Object.entries(m.files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  const unit = m.units[0];
  const obj = path.join(dir, 'unit.o');
  execFileSync(
    'gcc',
    [
      '-O2',
      '-fno-pie',
      '-mcmodel=kernel',
      '-c',
      '-Wall',
      '-I',
      path.join(FIXTURES, 'include'),
      '-I',
      path.join(dir, 'src', path.posix.dirname(unit.path)),
      '-o',
      obj,
      path.join(dir, unit.unit),
    ],
    { stdio: 'pipe' },
  );
  return {
    nm: execFileSync('nm', [obj], { encoding: 'utf8' }),
    sections: execFileSync('readelf', ['-SW', obj], { encoding: 'utf8' }),
  };
}

const KALLSYMS_BUILTIN = [
  'ffffffff81100000 t klpunit_sum',
  'ffffffff81100040 T klpunit_check',
  'ffffffff81100080 t klpunit_helper',
  'ffffffff811000c0 T klpunit_name',
  'ffffffff81200000 d klpunit_table',
  'ffffffff81200020 d klpunit_lock',
  'ffffffff81200040 d klpunit_list',
  'ffffffff81200060 D klpunit_threshold',
  'ffffffff81300000 r klpunit_names',
  '0000000000012340 d klpunit_hits',
  '',
].join('\n');

describe('patched unit: a built-in file with every kind of file-scope object', () => {
  it('keeps the changed body under a new name and binds everything else to placeholders', async () => {
    const m = await generate('builtin-file-statics');
    const c = m.files[m.units[0].unit];
    assert.deepEqual(
      m.functions.map((f) => [f.object, f.oldName, f.newName]),
      [['vmlinux', 'klpunit_check', 'livepatch_klpunit_check']],
    );
    // Built-in code: compiled without MODULE, as in the kernel; then the kernel file's own line numbers.
    assert.match(c, /^#undef MODULE\n#line 1 "kernel\/klpunit\.c"\n/);
    assert.match(
      c,
      /\nint klpunit_check\(int v\) __asm__\("__klp_sym_7_vmlinux_13_klpunit_check_0"\) __attribute__\(\(__weak__\)\); int livepatch_klpunit_check\(int v\)\n\{/,
    );
    assert.match(c, /\nint klpunit_sum\(void\) __asm__\("__klp_sym_7_vmlinux_11_klpunit_sum_0"\) __attribute__\(\(__weak__\)\);/);
    // The forward declaration of a static function loses `static` and gets the same label.
    assert.match(
      c,
      /\nint klpunit_helper\(int v\) __asm__\("__klp_sym_7_vmlinux_14_klpunit_helper_0"\) __attribute__\(\(__weak__\)\);\n\nstatic inline int klpunit_double/,
    );
    assert.match(c, /static inline int klpunit_double\(int v\)\n\{\n\treturn v \* 2;/, 'a static inline helper keeps its body');
    assert.match(
      c,
      /static int __klp_orig_klpunit_table\[\] = \{ 2, 3, 5 \}; extern __typeof__\(__klp_orig_klpunit_table\) klpunit_table __asm__\("__klp_sym_7_vmlinux_13_klpunit_table_0"\)/,
    );
    assert.match(c, /static DEFINE_MUTEX\(__klp_orig_klpunit_lock\); extern __typeof__\(__klp_orig_klpunit_lock\) klpunit_lock __asm__/);
    assert.match(c, /static LIST_HEAD\(__klp_orig_klpunit_list\); extern __typeof__\(__klp_orig_klpunit_list\) klpunit_list __asm__/);
    assert.match(c, /DECLARE_PER_CPU\(unsigned long, klpunit_hits\) __asm__\("__klp_sym_7_vmlinux_12_klpunit_hits_0"\)/);
    for (const gone of [
      /__setup\(/,
      /module_init\(/,
      /late_initcall\(/,
      /MODULE_LICENSE/,
      /MODULE_DESCRIPTION/,
      /description"\);/,
      /EXPORT_SYMBOL_GPL/,
    ])
      assert.doesNotMatch(c, gone);
    // Removed text keeps its newlines: the kernel file's line numbers still hold.
    const original = fs.readFileSync(path.join(fixture('builtin-file-statics'), 'after', 'kernel', 'klpunit.c'), 'utf8');
    const lines = c.split('\n').slice(2);
    assert.equal(lines.length, original.split('\n').length);
    assert.equal(
      lines.findIndex((l) => l.endsWith(' int livepatch_klpunit_check(int v)')),
      original.split('\n').indexOf('int klpunit_check(int v)'),
    );
    assert.equal(
      m.files['src/kernel/klpunit_internal.h'],
      fs.readFileSync(path.join(fixture('builtin-file-statics'), 'before', 'kernel', 'klpunit_internal.h'), 'utf8'),
    );
    assert.match(
      m.files.Kbuild,
      /^obj-m := livepatch_test\.o\nlivepatch_test-y := patched_0_klpunit\.o klp_patch_tables\.o\nCFLAGS_patched_0_klpunit\.o \+= -I\$\(src\)\/src\/kernel\n/,
    );
    assert.match(m.files['klp_patch_tables.c'], /\.old_name = "klpunit_check",\n\t\t\.new_func = livepatch_klpunit_check,/);
    assert.match(m.files['klp_patch_tables.c'], /\.replace = false,/);
  });

  it("compiles: only placeholders stay undefined, the originals and the registrations are gone, sizeof is the kernel array's", async () => {
    const m = await generate('builtin-file-statics');
    const { nm, sections } = compileUnit(m);
    // Defined: the new function and WARN_ONCE's own flag; no copy of kernel data or registrations.
    const defined = nm
      .split('\n')
      .filter((l) => / [TtDdBbRr] /.test(l))
      .map((l) => l.split(' ').pop()!)
      .filter((s) => !s.startsWith('.'));
    assert.deepEqual(defined.map((s) => s.replace(/\.\d+$/, '.N')).sort(), ['__already_done.N', 'livepatch_klpunit_check'], nm);
    // sizeof needs no reference: the type alone carries the kernel array's size.
    assert.doesNotMatch(nm, /klpunit_table/);
    for (const sym of ['klpunit_lock', 'klpunit_list', 'klpunit_hits', 'klpunit_helper', 'klpunit_sum']) {
      assert.match(nm, new RegExp(` w __klp_sym_7_vmlinux_${sym.length}_${sym}_0\\n`), `${sym} is a weak placeholder reference`);
    }
    assert.doesNotMatch(sections, /\.modinfo|\.init\.setup|\.initcall|___ksymtab/);
  });

  it('--replace is opt-in', async () => {
    const m = await generate('builtin-file-statics', { replace: true });
    assert.match(m.files['klp_patch_tables.c'], /\.replace = true,/);
  });

  it('an export of vmlinux is called directly, without a placeholder', async () => {
    const m = await generate('builtin-file-statics', { symvers: '0x1\tklpunit_threshold\tvmlinux\tEXPORT_SYMBOL\t\n' });
    const c = m.files[m.units[0].unit];
    assert.match(c, /extern __typeof__\(__klp_orig_klpunit_threshold\) klpunit_threshold;/);
    assert.ok(!m.bindings.some((b) => b.name === 'klpunit_threshold'));
  });

  it('with kallsyms: a static function the kernel inlined everywhere is compiled into the module', async () => {
    const m = await generate('builtin-file-statics', { kallsyms: KALLSYMS_BUILTIN.replace('ffffffff81100000 t klpunit_sum\n', '') });
    const c = m.files[m.units[0].unit];
    assert.match(c, /\nstatic int klpunit_sum\(void\)\n\{/);
    assert.ok(m.notes.some((n) => /klpunit_sum\(\) is not a unique symbol/.test(n)));
    assert.ok(!m.bindings.some((b) => b.name === 'klpunit_sum'));
  });

  it('with kallsyms: same-named static data the kept code uses is refused, naming it; unused ones are not', async () => {
    const twice = KALLSYMS_BUILTIN + 'ffffffff81200100 d klpunit_lock\nffffffff81300100 r klpunit_names\n';
    await assert.rejects(generate('builtin-file-statics', { kallsyms: twice }), (e: GenerateError) => {
      assert.ok(e instanceof GenerateError);
      assert.deepEqual(
        e.refusals.map((r) => r.symbol),
        ['klpunit_lock'],
      );
      assert.match(
        e.refusals[0].message,
        /vmlinux has 2 symbols named klpunit_lock and kallsyms does not say which one kernel\/klpunit\.c defines/,
      );
      return true;
    });
  });

  it('with kallsyms: a changed function the kernel does not have is refused', async () => {
    await assert.rejects(
      generate('builtin-file-statics', { kallsyms: KALLSYMS_BUILTIN.replace('ffffffff81100040 T klpunit_check\n', '') }),
      /klpunit_check is not in the target's kallsyms for vmlinux/,
    );
  });
});

describe('patched unit: static locals of the changed function', () => {
  const kallsyms = 'ffffffff81100000 T klpstat_count\nffffffff81200000 d calls.7\nffffffff81200010 b last.3\nffffffff81200020 b last.9\n';

  it("binds a static local to the kernel's only `name.N`, keeps read-only and once-only statics as new copies", async () => {
    const m = await generate('static-locals', { kallsyms: kallsyms.replace('ffffffff81200020 b last.9\n', '') });
    const c = m.files[m.units[0].unit];
    assert.match(
      c,
      /static int __klp_orig_calls; extern __typeof__\(__klp_orig_calls\) calls __asm__\("__klp_sym_7_vmlinux_7_calls\.7_0"\) __attribute__\(\(__weak__\)\);/,
    );
    assert.match(c, /static const char prefix\[\] = "klpstat: ";/, 'read-only data is copied');
    assert.match(c, /static bool __warned;/, "the kernel's once-only static gets a new copy");
    assert.match(c, /\tstatic int negatives;\n/, "a static local the patch adds is the module's own");
    const { nm } = compileUnit(m);
    assert.match(nm, / w __klp_sym_7_vmlinux_7_calls\.7_0\n/);
    assert.match(nm, / w __klp_sym_7_vmlinux_6_last\.3_0\n/);
  });

  it('refuses a static local with two candidates, naming the function and the local', async () => {
    await assert.rejects(generate('static-locals', { kallsyms }), (e: GenerateError) => {
      assert.deepEqual(
        e.refusals.map((r) => r.symbol),
        ['klpstat_count:last'],
      );
      assert.match(e.refusals[0].message, /has 2 candidates \(last\.N\) in vmlinux's kallsyms/);
      return true;
    });
  });

  it('refuses static locals without kallsyms: only the target names them', async () => {
    await assert.rejects(generate('static-locals'), (e: GenerateError) => {
      assert.deepEqual(e.refusals.map((r) => r.symbol).sort(), ['klpstat_count:calls', 'klpstat_count:last']);
      assert.match(e.message, /pass --kallsyms/);
      return true;
    });
  });
});

describe('patched unit: a file built into a module', () => {
  it('binds to the module object and names it in the klp_object', async () => {
    const m = await generate('module-object');
    assert.deepEqual(m.objects, ['klpmod']);
    assert.match(m.files[m.units[0].unit], /__asm__\("__klp_sym_6_klpmod_13_klpmod_values_0"\)/);
    assert.match(m.files['klp_patch_tables.c'], /\.name = "klpmod",\n\t\t\.funcs = klpmod_funcs,/);
    assert.doesNotMatch(m.files[m.units[0].unit], /module_exit|MODULE_AUTHOR/);
  });
});

describe('patched unit: a changed inline helper', () => {
  it('patches every caller in the file, which keep the new helper inline; the helper gets no klp_func', async () => {
    const m = await generate('inline-helper-changed');
    assert.deepEqual(m.functions.map((f) => f.oldName).sort(), ['klpinl_read', 'klpinl_write']);
    const c = m.files[m.units[0].unit];
    assert.match(c, /static inline int klpinl_clamp\(int v\)\n\{\n\tif \(v < 0\)/);
    assert.match(c, /int livepatch_klpinl_read\(int v\)/);
    assert.match(c, /int klpinl_other\(int v\) __asm__/);
    assert.ok(m.notes.some((n) => /klpinl_write\(\) is patched too: it carries an inlined copy of the changed klpinl_clamp\(\)/.test(n)));
    const { nm } = compileUnit(m);
    assert.match(nm, / T livepatch_klpinl_read\n/);
    assert.match(nm, / T livepatch_klpinl_write\n/);
    assert.match(nm, / w __klp_sym_7_vmlinux_12_klpinl_limit_0\n/);
  });
});

describe("patched unit: kpatch-build's callback macros", () => {
  it("registers KPATCH_*_CALLBACK functions as the object's klp callbacks, with no function to patch", async () => {
    const m = await generate('kpatch-callbacks');
    assert.deepEqual(m.functions, []);
    assert.deepEqual(m.objects, ['klpcb']);
    assert.ok(m.files['kpatch-macros.h'], 'the stand-in header is written');
    assert.match(m.files.Kbuild, /CFLAGS_patched_0_klpcb\.o \+= -D__LIVEPATCH_OBJECT=klpcb/);
    const tables = m.files['klp_patch_tables.c'];
    assert.match(tables, /int __livepatch_cb_klpcb_pre_patch\(struct klp_object \*obj\);/);
    assert.match(
      tables,
      /\.name = "klpcb",\n\t\t\.funcs = klpcb_funcs,\n\t\t\.callbacks = \{\n\t\t\t\.pre_patch = __livepatch_cb_klpcb_pre_patch,\n\t\t\t\.post_unpatch = __livepatch_cb_klpcb_post_unpatch,\n\t\t\},/,
    );
    // Compiled with the unit's -D, the aliases the tables name exist.
    const dir = tempDir('klp-unit-cb-');
    for (const [rel, text] of Object.entries(m.files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    const obj = path.join(dir, 'u.o');
    execFileSync(
      'gcc',
      ['-O2', '-c', '-D__LIVEPATCH_OBJECT=klpcb', '-I', path.join(FIXTURES, 'include'), '-o', obj, path.join(dir, m.units[0].unit)],
      { stdio: 'pipe' },
    );
    const nm = execFileSync('nm', [obj], { encoding: 'utf8' });
    assert.match(nm, / T __livepatch_cb_klpcb_pre_patch\n/);
    assert.match(nm, / T __livepatch_cb_klpcb_post_unpatch\n/);
  });
});

describe('patched unit: kallsyms without the module', () => {
  it('a module the target has not loaded is not judged by kallsyms: its symbols are bound with sympos 0, and a note says so', async () => {
    const m = await generate('module-object', { kallsyms: 'ffffffff81000000 T _stext\nffffffffc0001000 t other_fn\t[othermod]\n' });
    assert.match(m.files[m.units[0].unit], /__asm__\("__klp_sym_6_klpmod_13_klpmod_values_0"\)/);
    assert.ok(m.notes.some((n) => /has no symbol of klpmod \(not loaded\)/.test(n)));
  });
});

describe('patched unit: refusals', () => {
  it('a changed signature is refused, naming the function', async () => {
    await assert.rejects(generate('signature-change'), (e: GenerateError) => {
      assert.deepEqual(
        e.refusals.map((r) => r.symbol),
        ['klpsig_get'],
      );
      assert.match(e.refusals[0].message, /signature of klpsig_get\(\) changed/);
      return true;
    });
  });
});

describe('patched unit: data annotated by net_namespace.h', () => {
  it('binds `klpnet_ops __net_initdata` by its own name, and the unit compiles', async () => {
    const m = await generate('net-initdata-object');
    const c = m.files[m.units[0].unit];
    assert.deepEqual(
      m.functions.map((f) => f.oldName),
      ['klpnet_id'],
    );
    assert.match(
      c,
      /static struct klpnet_ops __klp_orig_klpnet_ops __net_initdata = \{[^]*?\}; extern __typeof__\(__klp_orig_klpnet_ops\) klpnet_ops __asm__\("__klp_sym_7_vmlinux_10_klpnet_ops_0"\)/,
    );
    assert.doesNotMatch(c, /__klp_orig___net_initdata/);
    const { nm } = compileUnit(m);
    assert.match(nm, / w __klp_sym_7_vmlinux_10_klpnet_ops_0$/m);
  });
});

describe("patched unit: one function defined twice under #if/#else (as kernel/dma.c's proc_dma_show)", () => {
  it('patches the one function: both definitions renamed, one klp_func, and the unit compiles', async () => {
    const m = await generate('ifdef-alternative-definitions');
    const c = m.files[m.units[0].unit];
    assert.deepEqual(
      m.functions.map((f) => [f.object, f.oldName]),
      [['vmlinux', 'klpalt_show']],
    );
    assert.equal(c.match(/int livepatch_klpalt_show\(int v\)\n\{/g)?.length, 2);
    const { nm } = compileUnit(m);
    assert.match(nm, / t livepatch_klpalt_show$| T livepatch_klpalt_show$/m);
  });
});
