import { test } from 'node:test';
import { installedHeaders, kernelHeaders } from '../../../../testing/requirements';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runCase } from '../../../../testing/fixtures';
import { KernelTree } from '../tree/kernelTree';
import { createParser } from '../parse/parser';
import { indexSource } from '../index/indexer';
import { generateModule, GenerateError, freeIdentifiers, moduleNameFrom, parseSymvers } from './moduleGenerator';
import { tempDir } from '../../../../testing/tempDir';

const fixture = (name: string) => path.join(__dirname, 'fixtures', name);

async function generate(name: string, opts: { exported?: Set<string>; kallsyms?: string; replace?: boolean } = {}) {
  const dir = fixture(name);
  const r = await runCase(dir);
  return generateModule(r, { name: 'livepatch_test', tree: KernelTree.open(path.join(dir, 'before')), ...opts });
}

test('a body change becomes a renamed copy with the static helpers, types and macros it needs', async () => {
  const m = await generate('body-change-with-helper');
  const c = m.files['livepatch_test.c'];
  assert.match(c, /static int livepatch_klpdemo_show\(struct seq_file \*m, void \*v\)/);
  assert.match(c, /seq_puts\(m, " klp_marker=1"\);/);
  assert.match(c, /static void klpdemo_put\(/, 'the static helper is copied');
  assert.match(c, /struct klpdemo_line \{/, 'the file-local type is copied');
  assert.match(c, /#define KLPDEMO_GREETING/, 'the macro is copied');
  assert.match(c, /static const struct klpdemo_line klpdemo_default/, 'const static data is copied');
  assert.doesNotMatch(c, /klpdemo_unused/, 'untouched functions are left out');
  assert.match(c, /\.old_name = "klpdemo_show",\s*\n\s*\.new_func = livepatch_klpdemo_show,/);
  assert.match(c, /MODULE_INFO\(livepatch, "Y"\);/);
  assert.match(c, /\.replace = false,/, 'atomic replace only when asked');
  assert.equal(m.files.Kbuild, 'obj-m += livepatch_test.o\n');
  assert.deepEqual(
    m.functions.map((f) => [f.object, f.oldName]),
    [['vmlinux', 'klpdemo_show']],
  );
  // The generated C is clean C for the parser too.
  const ix = indexSource(await createParser(), 'gen.c', c);
  assert.ok(ix.functions.some((f) => f.name === 'livepatch_klpdemo_show'));
});

test('a function using static data is refused, naming the variable', async () => {
  await assert.rejects(generate('static-data-reference'), (e: GenerateError) => {
    assert.ok(e instanceof GenerateError);
    assert.deepEqual(
      e.refusals.map((r) => r.symbol),
      ['counter_hits'],
    );
    assert.match(e.message, /static variable 'counter_hits'/);
    return true;
  });
});

test('calls to symbols that are not exported are refused when Module.symvers is known', async () => {
  const exported = parseSymvers('0x12345678\tseq_puts\tvmlinux\tEXPORT_SYMBOL\t\n');
  await assert.rejects(generate('body-change-with-helper', { exported }), (e: GenerateError) => {
    assert.deepEqual(
      e.refusals.map((r) => r.symbol),
      ['seq_putc'],
    );
    return true;
  });
});

test('a kernel variable that is not exported is refused (from kallsyms)', async () => {
  // The tree does not define saved_command_line: only the target's kallsyms says it is a kernel variable.
  const exported = parseSymvers('0x12345678\tseq_puts\tvmlinux\tEXPORT_SYMBOL\t\n');
  const kallsyms = 'ffffffff82a0b000 D saved_command_line\nffffffff81234560 t klpcmd_show\n';
  await assert.rejects(generate('kernel-variable-from-kallsyms', { exported, kallsyms }), (e: GenerateError) => {
    assert.ok(e instanceof GenerateError, String(e));
    assert.deepEqual(
      e.refusals.map((r) => [r.symbol, r.file, r.line]),
      [['saved_command_line', 'fs/proc/klpcmd.c', 5]],
    );
    assert.match(e.refusals[0].message, /klpcmd_show\(\) uses the kernel variable 'saved_command_line', which is not exported/);
    return true;
  });
  // Exported, it is linked like any other symbol; and without kallsyms nothing says it is a variable.
  const ok = await generate('kernel-variable-from-kallsyms', {
    exported: parseSymvers('0x1\tseq_puts\tvmlinux\tEXPORT_SYMBOL\t\n0x2\tsaved_command_line\tvmlinux\tEXPORT_SYMBOL\t\n'),
    kallsyms,
  });
  assert.match(ok.files['livepatch_test.c'], /seq_puts\(m, saved_command_line\);/);
  await generate('kernel-variable-from-kallsyms', { exported });
  assert.deepEqual(
    [
      ...freeIdentifiers(
        'static int f(struct seq_file *m, void *v)\n{\n\tint i = 0;\n\tseq_puts(m, saved_command_line);\n\treturn m->count + i;\n}',
      ),
    ],
    ['saved_command_line'],
  );
});

test('an object built as a module gets a named klp_object', async () => {
  const m = await generate('module-object');
  assert.match(m.files['livepatch_test.c'], /\.name = "demo_drv",/);
  assert.equal(m.functions[0].object, 'demo_drv');
});

test('engine errors refuse generation', async () => {
  const r = await runCase(path.join(__dirname, '..', 'rules', 'fixtures', 'init-section', 'changed-init-function'));
  assert.throws(() => generateModule(r, { name: 'x' }), /init-section/);
});

test('ambiguous names need old_sympos', async () => {
  const kallsyms = 'ffffffff81000000 t klpdemo_show\nffffffff81000100 t klpdemo_show\n';
  await assert.rejects(generate('body-change-with-helper', { kallsyms }), /not unique/);
});

test('module names are kernel-safe', () => {
  assert.equal(moduleNameFrom('fix CVE-2024-1.patch'), 'livepatch_fix_cve_2024_1');
});

// Compiles the generated module against Debian's 6.1 headers when they are installed
// (CI installs them: .ci/run); KLP_REQUIRE_KERNEL_HEADERS=1 makes their absence a failure.
const headers = installedHeaders();
test('the generated module builds against the 6.1 headers', { skip: kernelHeaders() ?? false }, async () => {
  assert.ok(headers, 'linux-headers-6.1.0-*-amd64 is required');
  const kdir = path.join('/usr/src', headers);
  const m = await generate('body-change-with-helper', {
    exported: parseSymvers(fs.readFileSync(path.join(kdir, 'Module.symvers'), 'utf8')),
  });
  const out = tempDir('klp-gen-');
  for (const [f, text] of Object.entries(m.files)) fs.writeFileSync(path.join(out, f), text);
  execFileSync('make', ['-C', kdir, `M=${out}`, 'modules'], { stdio: 'pipe' });
  // The .modinfo section is what modinfo prints (objcopy comes with the compiler; kmod may be absent).
  execFileSync('objcopy', ['-O', 'binary', '--only-section=.modinfo', path.join(out, 'livepatch_test.ko'), path.join(out, 'modinfo.bin')]);
  const info = fs.readFileSync(path.join(out, 'modinfo.bin'), 'latin1').split('\0');
  assert.ok(info.includes('livepatch=Y'), info.join(' | '));
  assert.ok(
    info.some((l) => /^vermagic=6\.1\./.test(l)),
    info.join(' | '),
  );
  fs.rmSync(out, { recursive: true, force: true });
});

test(
  'copied code keeps its kernel file and line, so a compile error points at the patched source',
  { skip: kernelHeaders() ?? false },
  async () => {
    assert.ok(headers, 'linux-headers-6.1.0-*-amd64 is required');
    const kdir = path.join('/usr/src', headers);
    const m = await generate('body-change-compile-error');
    const c = m.files['livepatch_test.c'];
    assert.match(c, /#line 5 "fs\/proc\/klpcount.c"\nstatic int livepatch_klpcount_show/);
    const out = tempDir('klp-gen-');
    for (const [f, text] of Object.entries(m.files)) fs.writeFileSync(path.join(out, f), text);
    const r = spawnSync('make', ['-C', kdir, `M=${out}`, 'modules'], { encoding: 'utf8' });
    fs.rmSync(out, { recursive: true, force: true });
    assert.notEqual(r.status, 0);
    // Line 8 of the post-image is the line the patch added.
    assert.match(r.stderr, /fs\/proc\/klpcount\.c:8:\d+: error: .klpcount_typo. undeclared/);
    // The module's own code (klp tables, init) is reported against the module file again.
    const lines = c.split('\n');
    const reset = lines.findIndex((l, i) => l === `#line ${i + 2} "livepatch_test.c"`);
    assert.ok(reset > 0, 'a #line directive hands the numbering back to the module file');
  },
);

test("atomic replace is the caller's choice: .replace = true only with replace: true", async () => {
  assert.match((await generate('body-change-with-helper', { replace: true })).files['livepatch_test.c'], /^\t\.replace = true,$/m);
  assert.match((await generate('body-change-with-helper', { replace: false })).files['livepatch_test.c'], /^\t\.replace = false,$/m);
});

test('a module name that is not one is refused, not silently rewritten', async () => {
  const r = await runCase(fixture('body-change-with-helper'));
  for (const name of ['', 'live-patch', '9lives', 'x'.repeat(56)]) {
    assert.throws(
      () => generateModule(r, { name, tree: KernelTree.open(path.join(fixture('body-change-with-helper'), 'before')) }),
      (e: GenerateError) => {
        assert.ok(e instanceof GenerateError, name);
        assert.match(e.message, /not a module name: it /, name);
        return true;
      },
    );
  }
});
