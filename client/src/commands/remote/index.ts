// Commands that act on the test VM, one module per job: build, load, transition (disable,
// unload, force), targets and the kernel log. Each acts on the VM only through
// onTarget.ts: trust, the active target, progress and the per-VM lock together.

import * as vscode from 'vscode';
import { registerBuildCommands } from './build';
import { registerKernelLogCommands } from './kernelLog';
import { registerLoadCommands } from './load';
import type { Ctx } from './onTarget';
import { registerTargetCommands } from './targets';
import { registerTransitionCommands } from './transition';

export type { Ctx } from './onTarget';

export function registerRemoteCommands(c: Ctx): void {
  c.context.subscriptions.push(
    vscode.commands.registerCommand('livepatch.refresh', () => c.view.refresh()),
    vscode.commands.registerCommand('livepatch.showLog', () => c.log.channel.show()),
    ...registerTargetCommands(c),
    ...registerBuildCommands(c),
    ...registerLoadCommands(c),
    ...registerTransitionCommands(c),
    ...registerKernelLogCommands(c),
  );
}
