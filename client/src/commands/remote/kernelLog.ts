// Show Kernel Log: the target's livepatch messages, in an editor.

import * as vscode from 'vscode';
import { kernelLog } from '../../deploy/operations';
import { targetCommand, type Ctx } from './onTarget';

export function registerKernelLogCommands(c: Ctx): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(
      'livepatch.showKernelLog',
      targetCommand(c, async (vm) => {
        const t = vm.target;
        const text = await vm.runOnTarget(`reading the kernel log of ${t.settings.name}`, (p) => kernelLog(t.ssh, p));
        if (text !== undefined) {
          const doc = await vscode.workspace.openTextDocument({ content: text || '(no livepatch messages)', language: 'log' });
          await vscode.window.showTextDocument(doc, { preview: true });
        }
      }),
    ),
  ];
}
