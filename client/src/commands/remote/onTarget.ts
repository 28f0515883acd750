// How a command acts on the test VM. targetCommand() makes the handler of a command whose
// body runs only in a trusted workspace with a configured target, and hands it an OnTarget. Its
// runOnTarget(title, fn) is the one way to act on the VM: a cancellable progress
// notification, this window's per-target mutex and the lock on the VM, always together;
// failures become one clear message with a way to the log, and the Patch State view is
// refreshed afterwards. runWithoutLock(title, fn) is the named exception, for reads that
// must not queue behind the lock and for breaking the lock itself.

import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { LoadInterrupted, type Progress } from '../../deploy/operations';
import { withTargetLock } from '../../deploy/targetLock';
import { SshError } from '../../remote/ssh';
import type { LivepatchState } from '../../remote/state';
import type { Targets, Target } from '../../targets';
import type { StateView } from '../../views/stateTree';
import type { Log } from '../../log';
import { failureText } from '../failureText';

/** What the remote commands share. */
export interface Ctx {
  context: vscode.ExtensionContext;
  client: LanguageClient;
  targets: Targets;
  view: StateView;
  log: Log;
  buildDiagnostics: vscode.DiagnosticCollection;
}

/** The active target, for a command body that may act on it. */
export interface OnTarget {
  readonly target: Target;
  /** Runs `fn` on the target under the per-VM lock, in a cancellable notification; undefined when it failed or was cancelled (already said). */
  runOnTarget<T>(title: string, fn: (p: Progress) => Promise<T>): Promise<T | undefined>;
  /** As runOnTarget, without the lock: reads that must not wait for it, and breaking it. */
  runWithoutLock<T>(title: string, fn: (p: Progress) => Promise<T>): Promise<T | undefined>;
}

/** The handler of a command that acts on the VM: trust is checked and the target looked up before `body` runs with them. */
export function targetCommand<A extends unknown[]>(
  c: Ctx,
  body: (vm: OnTarget, ...args: A) => Promise<unknown>,
): (...args: A) => Promise<unknown> {
  return async (...args: A) => {
    if (!requireTrust()) return;
    const t = await activeTarget(c);
    if (!t) return;
    return body(onTarget(c, t), ...args);
  };
}

/** True in a trusted workspace; otherwise says why the command does not run, and false. */
export function requireTrust(): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window
    .showWarningMessage(
      'Livepatch: building and loading patches runs commands on the test VM, so it needs a trusted workspace. Diagnostics keep working.',
      'Manage Workspace Trust',
    )
    .then((a) => a && vscode.commands.executeCommand('workbench.trust.manage'));
  return false;
}

async function activeTarget(c: Ctx): Promise<Target | undefined> {
  let t: Target | undefined;
  try {
    t = c.targets.active();
  } catch (err) {
    void vscode.window.showErrorMessage(`Livepatch: invalid target configuration: ${(err as Error).message}`);
    return undefined;
  }
  if (!t) {
    const a = await vscode.window.showWarningMessage(
      'Livepatch: no test VM is configured (livepatch.targets).',
      'Select Test VM',
      'Create Local Test VM',
    );
    if (a === 'Select Test VM') await vscode.commands.executeCommand('livepatch.selectTarget');
    if (a === 'Create Local Test VM') await vscode.commands.executeCommand('livepatch.createTestVm');
    return undefined;
  }
  return t;
}

function onTarget(c: Ctx, t: Target): OnTarget {
  return {
    target: t,
    // One action at a time per target: a second one is refused, naming the first. exclusive()
    // covers this window; the lock on the target covers other windows, machines and scripts.
    runOnTarget: (title, fn) =>
      inProgress(c, title, (p) =>
        t.ssh.exclusive(
          title,
          () =>
            withTargetLock(t.ssh, t.settings, title, () => fn(p), {
              signal: p.signal,
              onUnlocked: (why) => c.log.warn(`${t.settings.name}: running "${title}" without the target lock: ${why}`),
            }),
          { signal: p.signal },
        ),
      ),
    runWithoutLock: (title, fn) => inProgress(c, title, fn),
  };
}

function isState(x: unknown): x is LivepatchState {
  return (
    !!x && typeof x === 'object' && Array.isArray((x as LivepatchState).patches) && typeof (x as LivepatchState).kernelRelease === 'string'
  );
}

/** Runs `fn` in a cancellable notification; failures become one clear message with a way to the log. */
async function inProgress<T>(c: Ctx, title: string, fn: (p: Progress) => Promise<T>): Promise<T | undefined> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Livepatch: ${title}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      const sub = token.onCancellationRequested(() => abort.abort());
      let shown = false;
      c.log.info(`${title}…`);
      try {
        const p: Progress = {
          signal: abort.signal,
          onStep: (step) => (progress.report({ message: step }), c.log.info(step)),
          onOutput: (text) => c.log.append(text),
        };
        const result = await fn(p);
        if (isState(result)) {
          // Load, disable and unload end with the state they read: show it, don't read it again.
          c.view.show(result);
          shown = true;
        }
        return result;
      } catch (err) {
        // A load may complete although it was cancelled or failed: say what is loaded now.
        const loaded = err instanceof LoadInterrupted ? ` ${err.loadedNote}` : '';
        if (err instanceof LoadInterrupted && err.state) {
          c.view.show(err.state);
          shown = true;
        }
        if (abort.signal.aborted || (err instanceof SshError && err.kind === 'cancelled')) {
          c.log.info(`${title}: cancelled.${loaded}`);
          void vscode.window.showInformationMessage(`Livepatch: ${title} cancelled.${loaded}`);
          return undefined;
        }
        // A short toast; the remote stderr and ssh's own messages go to the log only.
        const text = failureText(title, err);
        c.log.error(text.log);
        void vscode.window.showErrorMessage(text.toast, 'Show Log').then((a) => a && c.log.channel.show(true));
        return undefined;
      } finally {
        sub.dispose();
        if (!shown) void c.view.refresh();
      }
    },
  );
}
