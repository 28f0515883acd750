// Load Patch Module and Enable Patch: insmod of a built module (sha256-checked when it is
// the one built here), after naming what a replace patch would take the place of.

import * as path from 'node:path';
import * as vscode from 'vscode';
import { enablePatch, loadModule } from '../../deploy/operations';
import { replaceQuestion } from '../../deploy/replace';
import { lastBuilt } from './build';
import { targetCommand, type Ctx } from './onTarget';

export function registerLoadCommands(c: Ctx): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(
      'livepatch.load',
      targetCommand(c, async (vm) => {
        const t = vm.target;
        const m = lastBuilt(c, t.settings.name);
        const ko =
          m?.path ??
          (await vscode.window.showInputBox({
            title: 'Remote path of the livepatch .ko',
            prompt: `on ${t.settings.destination}`,
            validateInput: (v) => (/\.ko$/.test(v) ? undefined : 'a .ko path'),
          }));
        if (!ko) return;
        const name = m?.name ?? path.posix.basename(ko, '.ko').replace(/-/g, '_');
        // The module built here is loaded only if its sha256 still matches the build's.
        const sha256 = m && m.path === ko ? m.sha256 : undefined;
        if (!sha256) c.log.warn(`${ko}: no build-time sha256 is known for it, so it is loaded unverified.`);
        // A replace patch takes the place of every other livepatch: say which, now, before loading.
        if (m?.replace && m.path === ko) {
          await c.view.refresh();
          const question = c.view.state ? replaceQuestion(c.view.state, name.replace(/-/g, '_'), t.settings.name, 'load') : null;
          if (
            question &&
            (await vscode.window.showWarningMessage(`Livepatch: ${question}`, { modal: true }, 'Load and Replace')) !== 'Load and Replace'
          )
            return;
        }
        await vm.runOnTarget(`loading ${name} on ${t.settings.name}`, (p) =>
          loadModule(t.ssh, t.settings, ko, name.replace(/-/g, '_'), p, { sha256 }),
        );
      }),
    ),

    vscode.commands.registerCommand(
      'livepatch.enable',
      targetCommand(c, async (vm) => {
        // The kernel does not re-enable a disabled patch: enabling means loading the module again.
        const t = vm.target;
        const m = lastBuilt(c, t.settings.name);
        if (!m) {
          void vscode.window.showInformationMessage(
            'Livepatch: build a patch module first; a disabled patch cannot be re-enabled, only loaded again.',
          );
          return;
        }
        if (m.replace) {
          await c.view.refresh();
          const question = c.view.state ? replaceQuestion(c.view.state, m.name, t.settings.name, 'load') : null;
          if (
            question &&
            (await vscode.window.showWarningMessage(`Livepatch: ${question}`, { modal: true }, 'Load and Replace')) !== 'Load and Replace'
          )
            return;
        }
        await vm.runOnTarget(`enabling ${m.name}`, (p) => enablePatch(t.ssh, t.settings, m.path, m.name, p, { sha256: m.sha256 }));
      }),
    ),
  ];
}
