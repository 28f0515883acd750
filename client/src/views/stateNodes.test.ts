import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stateNodes, statusText } from './stateNodes';
import { decodeTaint, type LivepatchState } from '../remote/state';

function state(over: Partial<LivepatchState> = {}): LivepatchState {
  return {
    kernelRelease: '6.1.0-56-amd64',
    bootId: '',
    livepatchSupported: true,
    taint: decodeTaint(32768 + 4096),
    patches: [
      {
        name: 'livepatch_cmdline',
        enabled: true,
        transition: false,
        canForce: true,
        attributes: {},
        writeOnly: ['force'],
        objects: [{ name: 'vmlinux', patched: true, functions: [{ name: 'cmdline_proc_show', sympos: 1 }], attributes: {} }],
      },
    ],
    stalledTasks: [],
    livepatchModules: [{ name: 'livepatch_cmdline', taint: 'OK', hasPatchDir: true }],
    warnings: [],
    ...over,
  };
}

test('a loaded patch shows its state, objects and functions, with an action context', () => {
  const nodes = stateNodes('vm', state());
  const p = nodes.find((n) => n.label === 'livepatch_cmdline')!;
  assert.equal(p.contextValue, 'patch.enabled');
  assert.equal(p.description, 'enabled');
  assert.equal(p.children[0].label, 'vmlinux');
  assert.equal(p.children[0].description, 'patched');
  assert.equal(p.children[0].children[0].label, 'cmdline_proc_show');
  const taint = nodes.find((n) => n.label === 'Taint')!;
  assert.match(taint.description!, /^36864 \(.*K.*\)$/);
  assert.equal(statusText('vm', state(), null), '$(vm) vm: 1 patch');
});

test('a transition shows stalled tasks with their stacks, and a disabled but loaded module can be unloaded', () => {
  const s = state({
    transition: { patch: 'livepatch_cmdline', target: 1 },
    stalledTasks: [{ pid: 42, tid: 42, comm: 'kworker/0:1', state: 0, stack: ['[<0>] msleep+0x2a/0x40'], stackUnreadable: false }],
    livepatchModules: [{ name: 'livepatch_old', taint: 'OK', hasPatchDir: false }],
  });
  s.patches[0].transition = true;
  const nodes = stateNodes('vm', s);
  assert.equal(nodes.find((n) => n.label === 'livepatch_cmdline')!.contextValue, 'patch.transition');
  const stalled = nodes.find((n) => n.label === 'Stalled tasks')!;
  assert.equal(stalled.children[0].label, 'kworker/0:1');
  assert.equal(stalled.children[0].children[0].label, '[<0>] msleep+0x2a/0x40');
  assert.equal(nodes.find((n) => n.label === 'livepatch_old')!.contextValue, 'module.loaded');
  assert.match(statusText('vm', s, null), /sync~spin/);
  assert.match(statusText('vm', null, 'refused'), /unreachable/);
});

test('node ids are unique (VS Code needs that to keep expansion state)', () => {
  const ids: string[] = [];
  const walk = (ns: ReturnType<typeof stateNodes>) => ns.forEach((n) => (ids.push(n.id), walk(n.children)));
  walk(stateNodes('vm', state()));
  assert.equal(new Set(ids).size, ids.length);
});
