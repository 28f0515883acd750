// Disable, Unload and Force Transition: the patch state changes on the target, and the
// memory of forced patches, whose modules the kernel keeps until the VM reboots.

import * as vscode from 'vscode';
import { disablePatch, forceTransition, keptByForce, unloadModule } from '../../deploy/operations';
import type { StateNode } from '../../views/stateNodes';
import { targetCommand, type Ctx } from './onTarget';

/** Per target: the patches whose transition was forced, and the boot they were forced in. */
const FORCED_KEY = 'livepatch.forcedPatches';
type ForcedRecord = { bootId: string; names: string[] };

function forcedRecord(c: Ctx, target: string): ForcedRecord | undefined {
  return c.context.workspaceState.get<Record<string, ForcedRecord>>(FORCED_KEY)?.[target];
}

async function rememberForced(c: Ctx, target: string, r: ForcedRecord): Promise<void> {
  const all = c.context.workspaceState.get<Record<string, ForcedRecord>>(FORCED_KEY) ?? {};
  const prev = all[target];
  all[target] = { bootId: r.bootId, names: [...new Set([...(prev && prev.bootId === r.bootId ? prev.names : []), ...r.names])] };
  await c.context.workspaceState.update(FORCED_KEY, all);
}

/** The patch a command acts on: the view node it was invoked on, the only candidate, or the user's pick. */
async function pickPatch(c: Ctx, node: StateNode | undefined, what: string, filter: (ctx: string) => boolean): Promise<string | undefined> {
  if (node?.subject) return node.subject;
  await c.view.refresh();
  const names = [
    ...(c.view.state?.patches ?? [])
      .filter((p) => filter(p.transition ? 'patch.transition' : p.enabled ? 'patch.enabled' : 'patch.disabled'))
      .map((p) => p.name),
    ...(c.view.state?.livepatchModules ?? []).filter((m) => !m.hasPatchDir && filter('module.loaded')).map((m) => m.name),
  ];
  if (!names.length) {
    void vscode.window.showInformationMessage(`Livepatch: no patch to ${what} on the target.`);
    return undefined;
  }
  return names.length === 1 ? names[0] : vscode.window.showQuickPick(names, { title: `Patch to ${what}` });
}

export function registerTransitionCommands(c: Ctx): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(
      'livepatch.disable',
      targetCommand(c, async (vm, node?: StateNode) => {
        const t = vm.target;
        const name = await pickPatch(c, node, 'disable', (x) => x === 'patch.enabled' || x === 'patch.transition');
        if (name) await vm.runOnTarget(`disabling ${name}`, (p) => disablePatch(t.ssh, t.settings, name, p));
      }),
    ),

    vscode.commands.registerCommand(
      'livepatch.unload',
      targetCommand(c, async (vm, node?: StateNode) => {
        const t = vm.target;
        const name = await pickPatch(c, node, 'unload', () => true);
        if (!name) return;
        // The module of a patch whose removal was forced can never be removed (the kernel keeps its reference): say so, and only disable it.
        const forced = forcedRecord(c, t.settings.name);
        // The boot id comes with the state snapshot; a patch picked from the view may come with an older one.
        if (forced?.names.includes(name) && node?.subject) await c.view.refresh();
        const bootId = forced?.names.includes(name) ? (c.view.state?.bootId ?? '') : '';
        if (forced && bootId && forced.bootId === bootId) {
          const ok = await vscode.window.showWarningMessage(
            `Livepatch: the removal of ${name} was forced on this boot of ${t.settings.name}, so the kernel never releases its module: ` +
              `it can be disabled but not removed until the VM reboots. Disable ${name}?`,
            { modal: true },
            'Disable',
          );
          if (ok === 'Disable') await vm.runOnTarget(`disabling ${name}`, (p) => disablePatch(t.ssh, t.settings, name, p));
          return;
        }
        const ok = await vscode.window.showWarningMessage(
          `Livepatch: disable and remove ${name} from ${t.settings.name}?`,
          { modal: true },
          'Unload',
        );
        if (ok === 'Unload') await vm.runOnTarget(`unloading ${name}`, (p) => unloadModule(t.ssh, t.settings, name, p));
      }),
    ),

    vscode.commands.registerCommand(
      'livepatch.forceTransition',
      targetCommand(c, async (vm, node?: StateNode) => {
        const t = vm.target;
        const name = await pickPatch(c, node, 'force', (x) => x === 'patch.transition');
        if (!name) return;
        const kept = c.view.state ? keptByForce(c.view.state, name) : [];
        const ok = await vscode.window.showWarningMessage(
          `Force the transition of ${name}? Tasks still running old code are switched without the consistency check, which can crash the kernel.` +
            (kept.length ? ` The kernel then keeps the module of ${kept.join(', ')} until the VM reboots (it cannot be removed).` : ''),
          { modal: true },
          'Force Transition',
        );
        if (ok !== 'Force Transition') return;
        const r = await vm.runOnTarget(`forcing ${name}`, (p) => forceTransition(t.ssh, t.settings, name, p));
        if (r) {
          await rememberForced(c, t.settings.name, { bootId: r.bootId, names: r.forced });
          c.log.warn(
            `forced the transition of ${name} on ${t.settings.name}` +
              (r.forced.length
                ? `; these modules can no longer be removed until reboot: ${r.forced.join(', ')}`
                : '; it removed no patch, so no module is kept'),
          );
        }
      }),
    ),
  ];
}
