// The test VMs themselves: create a local one, select, verify, and break a stale lock.

import * as path from 'node:path';
import * as vscode from 'vscode';
import { breakTargetLock, readLockStatus } from '../../deploy/targetLock';
import { requireTrust, targetCommand, type Ctx } from './onTarget';

export function registerTargetCommands(c: Ctx): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('livepatch.createTestVm', async () => {
      if (!requireTrust()) return;
      // Runs the project's own scripts (argv, no shell string) in a terminal the user can watch.
      const up = c.context.asAbsolutePath(path.join('scripts', 'testvm', 'up.sh'));
      const term = vscode.window.createTerminal({ name: 'Livepatch test VM', shellPath: up, shellArgs: ['--port', 'auto'] });
      term.show();
      const cfg = vscode.workspace.getConfiguration('livepatch');
      const targets = (cfg.get<Record<string, unknown>[]>('targets') ?? []).slice();
      if (!targets.some((t) => t.destination === 'klp-testvm')) {
        targets.push({
          name: 'testvm',
          destination: 'klp-testvm',
          backend: 'kbuild',
          workDir: '/root/livepatch',
          sshConfigFile: '~/.cache/kernel-livepatch/testvm/run/default/ssh_config',
        });
        await cfg.update('targets', targets, vscode.ConfigurationTarget.Global);
        await cfg.update('activeTarget', 'testvm', vscode.ConfigurationTarget.Global);
      }
      void vscode.window.showInformationMessage(
        'Livepatch: the test VM is being built and booted in the terminal; the target "testvm" is configured. Refresh the view once it is up.',
      );
    }),

    vscode.commands.registerCommand('livepatch.selectTarget', async () => {
      const list = c.targets.list();
      if (!list.length) {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'livepatch.targets');
        return;
      }
      const pick = await vscode.window.showQuickPick(
        list.map((t) => ({ label: t.name ?? t.destination!, description: `${t.destination} · ${t.backend ?? 'kpatch-build'}` })),
        { title: 'Livepatch test VM' },
      );
      if (pick) await vscode.workspace.getConfiguration('livepatch').update('activeTarget', pick.label, vscode.ConfigurationTarget.Global);
      await c.view.refresh();
    }),

    vscode.commands.registerCommand(
      'livepatch.verifyTarget',
      targetCommand(c, async (vm) => {
        const t = vm.target;
        // A read: it answers even while an action holds the VM.
        const s = await vm.runWithoutLock(`verifying ${t.settings.name}`, async (p) => {
          p.onStep?.('Connecting');
          await c.view.refresh();
          if (c.view.error) throw new Error(c.view.error);
          return c.view.state!;
        });
        if (s) {
          const k = s.taint.livepatch ? ' (K: a livepatch was loaded since boot)' : '';
          void vscode.window.showInformationMessage(
            `Livepatch: ${t.settings.name}: ${s.kernelRelease}, livepatch ${s.livepatchSupported ? 'supported' : 'NOT supported'}, taint ${s.taint.value ?? '?'}${k}.`,
          );
        }
      }),
    ),

    vscode.commands.registerCommand(
      'livepatch.breakLock',
      targetCommand(c, async (vm) => {
        const t = vm.target;
        const name = t.settings.name;
        // Show who holds it first; break only that holder, after a modal confirmation. Neither
        // step can take the lock it looks at.
        const seen = await vm.runWithoutLock(`reading the lock of ${name}`, (p) => readLockStatus(t.ssh, t.settings, p));
        if (!seen) return;
        if (!seen.held) {
          void vscode.window.showInformationMessage(
            `Livepatch: nothing holds ${name}${seen.label ? ` (the last holder was ${seen.label})` : ''}.`,
          );
          return;
        }
        const ok = await vscode.window.showWarningMessage(
          `Livepatch: ${name} is held by ${seen.label ?? 'an action that did not say what it is'}. Break the lock? Its holder on the VM is killed; ` +
            'if that action is still running somewhere, it may be left half done. Break it only when its window, machine or connection is gone.',
          { modal: true },
          'Break Lock',
        );
        if (ok !== 'Break Lock') return;
        const r = await vm.runWithoutLock(`breaking the lock of ${name}`, (p) => breakTargetLock(t.ssh, t.settings, seen, p));
        if (r === 'broken') {
          c.log.warn(`broke the lock of ${name}, held by ${seen.label ?? 'unknown'}`);
          void vscode.window.showInformationMessage(`Livepatch: the lock of ${name} is broken.`);
        } else if (r === 'changed') {
          void vscode.window.showWarningMessage(
            `Livepatch: the lock of ${name} changed hands meanwhile; nothing was broken. Run Break Test VM Lock again to see who holds it now.`,
          );
        }
      }),
    ),
  ];
}
