// The Patch State view as plain data: a tree of nodes built from a
// LivepatchState. No vscode import, so it is unit-tested; stateTree.ts turns
// nodes into TreeItems.

import type { LivepatchState } from '../remote/state';

export interface StateNode {
  id: string;
  label: string;
  description?: string;
  tooltip?: string;
  /** Codicon id. */
  icon?: string;
  /** For view/item/context menus: patch.enabled, patch.transition, patch.disabled, module.loaded, task... */
  contextValue?: string;
  /** The patch or module name actions act on. */
  subject?: string;
  children: StateNode[];
}

export function stateNodes(target: string, s: LivepatchState): StateNode[] {
  const nodes: StateNode[] = [];
  nodes.push({
    id: `${target}/kernel`,
    label: 'Kernel',
    description: s.kernelRelease || 'unknown',
    icon: 'server',
    children: [],
  });
  nodes.push({
    id: `${target}/support`,
    label: 'Livepatch',
    description: s.livepatchSupported ? 'supported' : 'not supported (no /sys/kernel/livepatch)',
    icon: s.livepatchSupported ? 'pass' : 'error',
    children: [],
  });
  const t = s.taint;
  nodes.push({
    id: `${target}/taint`,
    label: 'Taint',
    description: t.value === undefined ? 'unreadable' : t.value === 0 ? 'none' : `${t.value} (${t.flags.join('')})`,
    tooltip: t.details.map((d) => `${d.letter}: ${d.description}`).join('\n') || undefined,
    icon: t.livepatch ? 'warning' : 'shield',
    children: t.details.map((d) => ({ id: `${target}/taint/${d.bit}`, label: d.letter, description: d.description, children: [] })),
  });
  for (const p of s.patches) {
    const inTransition = p.transition;
    const state = inTransition ? (p.enabled ? 'patching…' : 'unpatching…') : p.enabled ? 'enabled' : 'disabled';
    const extra = [p.replace === undefined ? null : p.replace ? 'replace' : 'no-replace', p.stackOrder ? `#${p.stackOrder}` : null]
      .filter(Boolean)
      .join(', ');
    nodes.push({
      id: `${target}/patch/${p.name}`,
      label: p.name,
      description: extra ? `${state} · ${extra}` : state,
      icon: inTransition ? 'sync~spin' : p.enabled ? 'check' : 'circle-slash',
      contextValue: inTransition ? 'patch.transition' : p.enabled ? 'patch.enabled' : 'patch.disabled',
      subject: p.name,
      children: p.objects.map((o) => ({
        id: `${target}/patch/${p.name}/${o.name}`,
        label: o.name,
        description: o.patched === undefined ? undefined : o.patched ? 'patched' : 'not patched (module not loaded)',
        icon: o.name === 'vmlinux' ? 'chip' : 'package',
        children: o.functions.map((f) => ({
          id: `${target}/patch/${p.name}/${o.name}/${f.name},${f.sympos}`,
          label: f.name,
          description: `sympos ${f.sympos}`,
          icon: 'symbol-function',
          children: [],
        })),
      })),
    });
  }
  for (const m of s.livepatchModules.filter((x) => !x.hasPatchDir)) {
    nodes.push({
      id: `${target}/module/${m.name}`,
      label: m.name,
      description: 'disabled, still loaded',
      icon: 'debug-disconnect',
      contextValue: 'module.loaded',
      subject: m.name,
      children: [],
    });
  }
  if (s.transition && s.stalledTasks.length) {
    nodes.push({
      id: `${target}/stalled`,
      label: 'Stalled tasks',
      description: `${s.stalledTasks.length} not yet ${s.transition.target ? 'patched' : 'unpatched'}`,
      icon: 'watch',
      children: s.stalledTasks.map((task) => ({
        id: `${target}/stalled/${task.tid}`,
        label: `${task.comm}`,
        description: `pid ${task.pid}${task.tid !== task.pid ? ` tid ${task.tid}` : ''}`,
        contextValue: 'task',
        icon: 'debug-stackframe',
        children: task.stackUnreadable
          ? [{ id: `${target}/stalled/${task.tid}/x`, label: 'stack unreadable (needs root)', children: [] }]
          : task.stack.map((line, i) => ({ id: `${target}/stalled/${task.tid}/${i}`, label: line, children: [] })),
      })),
    });
  }
  return nodes;
}

/** Status bar text: target name and how many patches are loaded. */
export function statusText(target: string, s: LivepatchState | null, error: string | null): string {
  if (error) return `$(debug-disconnect) ${target}: unreachable`;
  if (!s) return `$(vm) ${target}`;
  const n = s.patches.length;
  const busy = s.transition ? ' $(sync~spin)' : '';
  return `$(vm) ${target}: ${n} patch${n === 1 ? '' : 'es'}${busy}`;
}
