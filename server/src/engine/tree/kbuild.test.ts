import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../../../testing/tempDir';
import { kconfigKind, objectFacts } from './kbuild';
import { KernelTree } from './kernelTree';

/** A small kernel-style tree (not a git checkout) from a map of files. */
function tree(files: Record<string, string>, config?: string): KernelTree {
  const root = tempDir('klp-kbuild-');
  for (const [rel, text] of Object.entries({ Makefile: 'VERSION = 6\nPATCHLEVEL = 1\n', Kbuild: '', ...files })) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  if (config !== undefined) fs.writeFileSync(path.join(root, '.config'), config);
  return KernelTree.open(root);
}

const DRIVER = {
  'drivers/demo/Makefile': 'obj-$(CONFIG_DEMO) += demo.o\nobj-y += core.o\ndemo_mod-y := a.o b.o\nobj-$(CONFIG_DEMO_MOD) += demo_mod.o\n',
  'drivers/demo/Kconfig': 'config DEMO\n\ttristate "demo"\n\nconfig DEMO_MOD\n\tbool "demo mod"\n',
};

test('obj-y is built in; obj-$(CONFIG_X) follows the .config, else the tristate in the Kconfig beside it', () => {
  assert.equal(objectFacts(tree(DRIVER), 'drivers/demo/core.c').build, 'builtin');
  const noConfig = objectFacts(tree(DRIVER), 'drivers/demo/demo.c');
  assert.deepEqual([noConfig.build, noConfig.symbol], ['maybe-module', 'CONFIG_DEMO']);
  assert.equal(objectFacts(tree(DRIVER, 'CONFIG_DEMO=m\n'), 'drivers/demo/demo.c').build, 'module');
  assert.equal(objectFacts(tree(DRIVER, 'CONFIG_DEMO=y\n'), 'drivers/demo/demo.c').build, 'builtin');
});

test('the answers kept between analyses follow edits to the Makefile and to the .config', () => {
  const first = tree(DRIVER, 'CONFIG_DEMO=m\n');
  const root = first.root;
  assert.equal(objectFacts(first, 'drivers/demo/demo.c').build, 'module');
  // The language server opens the tree anew for each analysis: the same answer, until a file changes.
  assert.equal(objectFacts(KernelTree.open(root), 'drivers/demo/demo.c').build, 'module');
  fs.writeFileSync(path.join(root, '.config'), 'CONFIG_DEMO=y\n');
  assert.equal(objectFacts(KernelTree.open(root), 'drivers/demo/demo.c').build, 'builtin');
  fs.writeFileSync(path.join(root, 'drivers/demo/Makefile'), 'obj-m += demo.o\n');
  assert.equal(objectFacts(KernelTree.open(root), 'drivers/demo/demo.c').build, 'module');
});

test('a composite module names itself and takes its build from its own obj- line', () => {
  const f = objectFacts(tree(DRIVER), 'drivers/demo/b.c');
  assert.deepEqual([f.moduleName, f.symbol, f.build], ['demo_mod', 'CONFIG_DEMO_MOD', 'builtin']);
});

test('a symbol declared far from the Makefile (init/Kconfig) is found tree-wide, only without a .config', () => {
  const files = {
    'mm/Makefile': 'obj-$(CONFIG_MEMCG_DEMO) += memcontrol_demo.o\n',
    'init/Kconfig': 'menu "General setup"\n\nconfig MEMCG_DEMO\n\tbool "Memory controller"\n\tdepends on CGROUPS\n',
  };
  assert.equal(objectFacts(tree(files), 'mm/memcontrol_demo.c').build, 'builtin');
  assert.equal(kconfigKind(tree(files), 'CONFIG_MEMCG_DEMO', 'mm', false), null, 'the directory walk alone does not reach init/');
  // With a .config that does not set it, the object is not built: nothing to guess from elsewhere.
  assert.equal(objectFacts(tree(files, '# CONFIG_MEMCG_DEMO is not set\n'), 'mm/memcontrol_demo.c').build, 'unknown');
  assert.equal(kconfigKind(tree(files), 'CONFIG_NOWHERE', 'mm'), null);
});

test('the Makefile line that strips ftrace: per object, directory-wide (gated by the .config), or given back', () => {
  const perObject = tree({ 'kernel/x/Makefile': 'obj-y += a.o b.o\nCFLAGS_REMOVE_a.o = \\\n\t$(CC_FLAGS_FTRACE)\n' });
  assert.deepEqual(objectFacts(perObject, 'kernel/x/a.c').ftraceRemoved, {
    makefile: 'kernel/x/Makefile',
    line: 1,
    text: 'CFLAGS_REMOVE_a.o =  \t$(CC_FLAGS_FTRACE)',
  });
  assert.equal(objectFacts(perObject, 'kernel/x/b.c').ftraceRemoved, null);

  const dirWide = {
    'kernel/t/Makefile':
      'ccflags-remove-$(CONFIG_FUNCTION_TRACER) += $(CC_FLAGS_FTRACE)\nobj-y += t.o s.o\nCFLAGS_s.o = $(CC_FLAGS_FTRACE)\n',
  };
  assert.equal(objectFacts(tree(dirWide), 'kernel/t/t.c').ftraceRemoved?.line, 0);
  assert.equal(objectFacts(tree(dirWide, 'CONFIG_FUNCTION_TRACER=y\n'), 'kernel/t/t.c').ftraceRemoved?.line, 0);
  assert.equal(objectFacts(tree(dirWide, '# CONFIG_FUNCTION_TRACER is not set\n'), 'kernel/t/t.c').ftraceRemoved, null);
  assert.equal(objectFacts(tree(dirWide), 'kernel/t/s.c').ftraceRemoved, null, 's.o gets its flags back');

  const filterOut = tree({ 'arch/demo/Makefile': 'KBUILD_CFLAGS := $(filter-out $(CC_FLAGS_FTRACE),$(KBUILD_CFLAGS))\nobj-y += boot.o\n' });
  assert.equal(objectFacts(filterOut, 'arch/demo/boot.c').ftraceRemoved?.line, 0);
});
