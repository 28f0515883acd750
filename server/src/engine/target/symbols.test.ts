import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Kallsyms, parseSymversEntries, parseSymversObjects } from './symbols';

const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81001000 t dump_stack_lvl',
  'ffffffff81002000 t ext4_fill_super.cold',
  'ffffffff81003000 t mb_find_extent.constprop.0.isra.0',
  'ffffffff81004000 t count.12',
  'ffffffff81005000 t helper.part.0',
  'ffffffff81006000 t helper.part.0',
  'ffffffffc0a01000 t ext4_fill_super\t[ext4]',
  'ffffffffc0a02000 t ext4_fill_super.cold\t[ext4]',
  'ffffffffc0a03000 d count.7\t[ext4]',
  '0000000000000000 A fixed_percpu_data',
  'not a line',
].join('\n');

test('kallsyms: entries per object, coverage, static locals', () => {
  const k = new Kallsyms(KALLSYMS);
  assert.deepEqual(k.entries('ext4_fill_super'), [{ type: 't', object: 'ext4' }]);
  assert.deepEqual(k.objectsOf('ext4_fill_super.cold'), ['vmlinux', 'ext4']);
  assert.ok(k.covers('ext4') && k.covers('vmlinux') && !k.covers('xfs'));
  assert.deepEqual(k.staticLocalCandidates('count', 'ext4'), ['count.7']);
  assert.deepEqual(k.staticLocalCandidates('count', 'vmlinux'), ['count.12']);
  assert.equal(k.entries('fixed_percpu_data')[0].type, 'A');
});

test('kallsyms: clones by base name, stacked suffixes included, each name once, filtered by object', () => {
  const k = new Kallsyms(KALLSYMS);
  assert.deepEqual(k.clonesOf('ext4_fill_super'), ['ext4_fill_super.cold']);
  assert.deepEqual(k.clonesOf('mb_find_extent'), ['mb_find_extent.constprop.0.isra.0']);
  assert.deepEqual(k.clonesOf('helper'), ['helper.part.0']);
  assert.deepEqual(k.entries('helper.part.0').length, 2);
  assert.deepEqual(k.clonesOf('mb_find_extent', ['ext4']), []);
  assert.deepEqual(k.clonesOf('ext4_fill_super', ['ext4']), ['ext4_fill_super.cold']);
  // A static local is not a clone, nor a clone a static local.
  assert.deepEqual(k.clonesOf('count'), []);
  assert.deepEqual(k.staticLocalCandidates('helper', 'vmlinux'), []);
});

test("kallsyms: symbols added one by one (a module's symbol table) behave like listed ones", () => {
  const k = new Kallsyms();
  k.add('xfs_foo.isra.0', 't', 'xfs');
  assert.ok(k.covers('xfs'));
  assert.deepEqual(k.clonesOf('xfs_foo', ['xfs']), ['xfs_foo.isra.0']);
  assert.equal(k.size, 1);
});

const SYMVERS = [
  '0x4c9d28b0\tphys_base\tvmlinux\tEXPORT_SYMBOL\t',
  '0x84b45156\tinsert_resource_expand_to_fit\tvmlinux\tEXPORT_SYMBOL_GPL\tCXL',
  '0x12345678\tnf_ct_foo\tnet/netfilter/nf-conntrack\tEXPORT_SYMBOL_GPL\t',
  '0x00000001\told_style\tvmlinux\tEXPORT_SYMBOL',
  'garbage',
].join('\n');

test('Module.symvers: CRC, module, object name, export type and namespace', () => {
  const m = parseSymversEntries(SYMVERS);
  assert.equal(m.size, 4);
  assert.deepEqual(m.get('insert_resource_expand_to_fit'), {
    symbol: 'insert_resource_expand_to_fit',
    crc: '0x84b45156',
    module: 'vmlinux',
    object: 'vmlinux',
    exportType: 'EXPORT_SYMBOL_GPL',
    namespace: 'CXL',
  });
  assert.equal(m.get('phys_base')!.namespace, null);
  assert.equal(m.get('old_style')!.namespace, null);
  assert.equal(m.get('nf_ct_foo')!.object, 'nf_conntrack');
  assert.equal(m.get('nf_ct_foo')!.module, 'net/netfilter/nf-conntrack');
});

test("Module.symvers: the generator's symbol -> object map is derived from the same parser", () => {
  assert.deepEqual(
    [...parseSymversObjects(SYMVERS)],
    [
      ['phys_base', 'vmlinux'],
      ['insert_resource_expand_to_fit', 'vmlinux'],
      ['nf_ct_foo', 'nf_conntrack'],
      ['old_style', 'vmlinux'],
    ],
  );
});
