// The preprocessor's view: make's kbuild command read once, gcc -E on a file's text, and what
// it changes in the findings. Kernel-style fixtures (server/src/build/fixtures/expand) and two
// patches against real 6.1 files; both need the Debian 6.1 headers, the real ones the tree too.

import { describe, it } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { headersRoot, installedHeaders, kernelHeaders, kernelTree, kernelTreePath } from '../../../testing/requirements';
import { makePatch } from '../../../testing/fixtures';
import { analyzePatches, type AnalyzeOptions } from '../engine/analyze';
import type { Finding } from '../engine/model';
import { compilerFromCommand, directoryFlags, ExpandedViews, kbuildCompiler, shellWords } from './preprocess';

const FIX = path.join(__dirname, 'fixtures', 'expand');

describe('kbuild command parsing', () => {
  it('splits quoted words as the shell does', () => {
    assert.deepEqual(shellWords(`gcc -DKBUILD_BASENAME='"probe"' -D"A=1 2" a\\ b`), ['gcc', '-DKBUILD_BASENAME="probe"', '-DA=1 2', 'a b']);
  });
  it('keeps the common flags, makes relative include paths absolute and drops the per-object ones', () => {
    const c = compilerFromCommand(
      `  gcc-12 -E -Wp,-MMD,/tmp/m/.probe.i.d -nostdinc -I/src/common/include -I./include -include /src/common/include/linux/kconfig.h -fmacro-prefix-map=/src/common/= -O2 -DMODULE -DKBUILD_BASENAME='"probe"' -DKBUILD_MODNAME='"probe"' -D__KBUILD_MODNAME=kmod_probe -o /tmp/m/probe.i /tmp/m/probe.c`,
      '/usr/src/h',
    );
    assert.equal(c.compiler, 'gcc-12');
    assert.equal(c.sourceDir, '/src/common');
    assert.deepEqual(c.args, [
      '-nostdinc',
      '-I/src/common/include',
      '-I/usr/src/h/include',
      '-include',
      '/src/common/include/linux/kconfig.h',
      '-fmacro-prefix-map=/src/common/=',
      '-O2',
    ]);
  });
  it("reads a directory Makefile's ccflags: -D and -I, with $(srctree) and $(src)", () => {
    assert.deepEqual(directoryFlags(path.join(FIX, 'default-ns', 'before'), 'drivers/demo/demo_lib.c'), [
      '-DDEFAULT_SYMBOL_NAMESPACE=DEMO_LIB',
    ]);
  });
});

const headersSkip = kernelHeaders();

/** Findings of `rule` for a fixture case, with and without the preprocessor's view. */
async function both(
  name: string,
  rule: string,
  opts: AnalyzeOptions = {},
): Promise<{ raw: Finding[]; expanded: Finding[]; views: ExpandedViews }> {
  const dir = path.join(FIX, name);
  const tree = path.join(dir, 'before');
  const text = makePatch(dir);
  const views = new ExpandedViews(kbuildCompiler(path.join(headersRoot(), installedHeaders()!)), tree);
  const raw = (await analyzePatches([{ name: 'case.patch', text }], { tree, ...opts })).findings.filter((f) => f.rule === rule);
  const expanded = (
    await analyzePatches([{ name: 'case.patch', text }], {
      tree,
      ...opts,
      expanded: (p, t) => (p.endsWith('.c') ? views.getSync(p, t) : null),
    })
  ).findings.filter((f) => f.rule === rule);
  return { raw, expanded, views };
}

describe("the preprocessor's view on kernel-style fixtures", { skip: headersSkip, timeout: 120_000 }, () => {
  it('a function defined through DEFINE_IDTENTRY_RAW is noinstr: an error kpatch cannot patch it, missed by the raw view', async () => {
    const { raw, expanded, views } = await both('idtentry', 'notrace');
    assert.deepEqual(raw, [], 'the raw view sees no attribute: the macros hide them');
    const byFn = new Map(expanded.map((f) => [f.function, f]));
    assert.ok(byFn.get('exc_demo_trap'), JSON.stringify(expanded.map((f) => f.message)));
    assert.equal(byFn.get('exc_demo_trap')!.severity, 'error');
    assert.match(
      byFn.get('exc_demo_trap')!.message,
      /exc_demo_trap\(\) is noinstr \(which implies notrace\): its head `DEFINE_IDTENTRY_RAW\(exc_demo_trap\)` expands to it \(the preprocessor's view\)/,
    );
    assert.match(byFn.get('exc_demo_trap')!.message, /doesn't have patchable function entry/);
    // The changed line of the definition, mapped back through the line markers.
    assert.equal(byFn.get('exc_demo_trap')!.line, 12);
    assert.ok(views.costs.length >= 1);
  });

  it('__init through a local macro is seen as __init', async () => {
    const { raw, expanded } = await both('idtentry', 'init-section');
    assert.equal(raw.length, 0);
    assert.deepEqual(
      expanded.map((f) => [f.function, f.severity]),
      [['demo_setup', 'error']],
    );
  });

  it('notrace through a local macro: the raw view misses it, the expanded view makes it an error', async () => {
    const { expanded } = await both('idtentry', 'notrace');
    const f = expanded.find((x) => x.function === 'demo_count');
    assert.ok(f, JSON.stringify(expanded.map((x) => x.function)));
    assert.match(f.message, /demo_count\(\) is notrace: its head `static void DEMO_HOT_PATH demo_count\(void\)` expands to it/);
  });

  it('a static-call key made by token pasting: the raw view could not find it (warning), the expanded view finds its module (error)', async () => {
    const { raw, expanded } = await both('pasted-key', 'static-call');
    assert.deepEqual(
      raw.map((f) => f.severity),
      ['warning'],
    );
    assert.match(raw[0].message, /could not find where the static call 'demo_op_run' is defined/);
    assert.deepEqual(
      expanded.map((f) => f.severity),
      ['error'],
    );
    assert.match(
      expanded[0].message,
      /the static call 'demo_op_run' is defined in arch\/x86\/demo\/demo_ops\.c \(through a macro that pastes its name, as the preprocessor shows\), which is built as module demo/,
    );
    assert.deepEqual(
      expanded[0].related.map((r) => r.file),
      ['arch/x86/demo/demo_ops.c'],
    );
  });

  it('an export namespaced by the Makefile (DEFAULT_SYMBOL_NAMESPACE): missed by the raw view, found by the expanded view', async () => {
    const { raw, expanded } = await both('default-ns', 'symbol-namespace');
    assert.deepEqual(raw, []);
    assert.deepEqual(
      expanded.map((f) => [f.function, f.symbol, f.severity]),
      [['demo_user_value', 'demo_lib_get', 'warning']],
    );
    assert.match(
      expanded[0].message,
      /which drivers\/demo\/demo_lib\.c exports in namespace DEMO_LIB \(its EXPORT_SYMBOL names no namespace/,
    );
    assert.match(expanded[0].message, /MODULE_IMPORT_NS\(DEMO_LIB\)/);
  });

  it('the same text is preprocessed once (cached by content); another text again', () => {
    const tree = path.join(FIX, 'idtentry', 'before');
    const views = new ExpandedViews(kbuildCompiler(path.join(headersRoot(), installedHeaders()!)), tree);
    const rel = 'arch/x86/kernel/demo_entry.c';
    const text = fs.readFileSync(path.join(tree, rel), 'utf8');
    const a = views.getSync(rel, text);
    assert.equal(views.getSync(rel, text), a);
    assert.equal(views.costs.length, 1);
    views.getSync(rel, `${text}\n`);
    assert.equal(views.costs.length, 2);
    // A file gcc cannot preprocess is no view, with the reason kept.
    assert.equal(views.getSync(rel, '#include <no/such/header.h>\n'), null);
    assert.match(views.failure(rel, '#include <no/such/header.h>\n')!, /no\/such\/header\.h/);
  });
});

describe("the preprocessor's view on real 6.1 files", { skip: headersSkip ?? kernelTree(), timeout: 300_000 }, () => {
  const run = async (patch: string, rule: string, expand: boolean) => {
    const tree = kernelTreePath();
    const headers = path.join(headersRoot(), installedHeaders()!);
    const views = new ExpandedViews(kbuildCompiler(headers), tree);
    const r = await analyzePatches([{ name: patch, text: fs.readFileSync(path.join(FIX, 'real', patch)) }], {
      tree,
      config: path.join(headers, '.config'),
      expanded: expand ? (p, t) => (p.endsWith('.c') ? views.getSync(p, t) : null) : undefined,
    });
    return r.findings.filter((f) => f.rule === rule);
  };

  it('arch/x86/kernel/nmi.c: exc_nmi() (DEFINE_IDTENTRY_RAW) is noinstr: no finding raw, an error expanded', async () => {
    assert.deepEqual(await run('nmi-idtentry.patch', 'notrace', false), []);
    const [f, ...rest] = await run('nmi-idtentry.patch', 'notrace', true);
    assert.equal(rest.length, 0);
    assert.equal(f.function, 'exc_nmi');
    assert.equal(f.severity, 'error');
    assert.match(f.message, /DEFINE_IDTENTRY_RAW\(exc_nmi\)/);
  });

  it('arch/x86/kvm/lapic.c: static_call(kvm_x86_hwapic_isr_update) is a hedge raw, an error expanded (KVM_X86_OP in x86.c, module kvm)', async () => {
    const [raw] = await run('lapic-static-call.patch', 'static-call', false);
    assert.equal(raw.severity, 'warning');
    const [f] = await run('lapic-static-call.patch', 'static-call', true);
    assert.equal(f.severity, 'error');
    assert.match(
      f.message,
      /defined in arch\/x86\/kvm\/x86\.c \(through a macro that pastes its name, as the preprocessor shows\), which is built as module kvm/,
    );
  });
});
