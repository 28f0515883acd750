// Commands that act on the test VM: build, load, unload, enable, disable,
// force, kernel log, target selection and verification. Each one checks
// workspace trust first, runs in a cancellable progress notification, streams
// remote output to the log, and refreshes the Patch State view afterwards.

import * as crypto from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import {
  AnalyzeWorkspaceChangesRequest, type AnalyzeWorkspaceChangesResult, GenerateModuleRequest, type GenerateModuleResult, formatRefusal, moduleNameFrom,
} from '../../../server/src/protocol';
import {
  BuildFailed, buildKbuildModule, buildWithTool, disablePatch, enablePatch, forceTransition, keptByForce, kernelLog, loadModule, LoadInterrupted, unloadModule,
  type BuiltModule, type Progress,
} from '../deploy/operations';
import { breakTargetLock, readLockStatus, withTargetLock } from '../deploy/targetLock';
import { buildUnitOnHost, cachedKallsyms, kallsymsMissesObjects, readUnitInputs } from '../deploy/unitBuild';
import { showBuildDiagnostics } from './buildDiagnostics';
import { failureText } from './failureText';
import { SshError } from '../remote/ssh';
import type { LivepatchState } from '../remote/state';
import type { Targets, Target } from '../targets';
import type { StateView } from '../views/stateTree';
import type { StateNode } from '../views/stateNodes';
import type { Log } from '../log';
import { trustVerdict } from './trustPolicy';
import { buildGate, gateFindingFromDiagnostic, type GateFinding } from './buildGate';
import { replaceQuestion, replaceSummary } from '../deploy/replace';

interface Ctx {
  context: vscode.ExtensionContext;
  client: LanguageClient;
  targets: Targets;
  view: StateView;
  log: Log;
  buildDiagnostics: vscode.DiagnosticCollection;
}

const BUILT_KEY = 'livepatch.builtModules';
/** Per target: the patches whose transition was forced, and the boot they were forced in. */
const FORCED_KEY = 'livepatch.forcedPatches';
type ForcedRecord = { bootId: string; names: string[] };

function trusted(): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window.showWarningMessage(
    'Livepatch: building and loading patches runs commands on the test VM, so it needs a trusted workspace. Diagnostics keep working.',
    'Manage Workspace Trust',
  ).then((a) => a && vscode.commands.executeCommand('workbench.trust.manage'));
  return false;
}

async function target(c: Ctx): Promise<Target | undefined> {
  let t: Target | undefined;
  try {
    t = c.targets.active();
  } catch (err) {
    void vscode.window.showErrorMessage(`Livepatch: invalid target configuration: ${(err as Error).message}`);
    return undefined;
  }
  if (!t) {
    const a = await vscode.window.showWarningMessage('Livepatch: no test VM is configured (livepatch.targets).', 'Select Test VM', 'Create Local Test VM');
    if (a === 'Select Test VM') await vscode.commands.executeCommand('livepatch.selectTarget');
    if (a === 'Create Local Test VM') await vscode.commands.executeCommand('livepatch.createTestVm');
    return undefined;
  }
  return t;
}

function isState(x: unknown): x is LivepatchState {
  return !!x && typeof x === 'object' && Array.isArray((x as LivepatchState).patches) && typeof (x as LivepatchState).kernelRelease === 'string';
}

/** Runs `fn` in a cancellable notification; failures become one clear message with a way to the log. */
async function remote<T>(c: Ctx, title: string, fn: (p: Progress) => Promise<T>, t?: Target): Promise<T | undefined> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Livepatch: ${title}`, cancellable: true }, async (progress, token) => {
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
      // One action at a time per target: a second one is refused, naming the first. exclusive()
      // covers this window; the lock on the target covers other windows, machines and scripts.
      const locked = (tt: Target): Promise<T> => withTargetLock(tt.ssh, tt.settings, title, () => fn(p), {
        signal: abort.signal,
        onUnlocked: (why) => c.log.warn(`${tt.settings.name}: running "${title}" without the target lock: ${why}`),
      });
      const result = await (t ? t.ssh.exclusive(title, () => locked(t), { signal: abort.signal }) : fn(p));
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
  });
}

/** The patch to build: the active .patch document, or the working tree against the base ref. */
async function currentPatch(c: Ctx): Promise<{ text: string; name: string; uri?: vscode.Uri; check: AnalyzeWorkspaceChangesResult | null } | undefined> {
  const doc = vscode.window.activeTextEditor?.document;
  if (doc && (doc.languageId === 'diff' || /\.(patch|diff)$/.test(doc.fileName))) {
    return { text: doc.getText(), name: path.basename(doc.fileName), uri: doc.uri, check: null };
  }
  const r: AnalyzeWorkspaceChangesResult = await c.client.sendRequest(AnalyzeWorkspaceChangesRequest, { uri: doc?.uri.toString() });
  if (!r.diff) {
    void vscode.window.showWarningMessage(`Livepatch: nothing to build: ${r.notes.join('; ') || 'no changes'}.`);
    return undefined;
  }
  return { text: r.diff, name: `working-tree-${r.baseRef}`, uri: r.tree ? vscode.Uri.file(r.tree) : undefined, check: r };
}

/** A module built here: the build, the patch it came from and whether it is a replace patch. */
type Remembered = BuiltModule & { diffHash?: string; replace?: boolean };

function remembered(c: Ctx, target: string): Remembered | undefined {
  return c.context.workspaceState.get<Record<string, Remembered>>(BUILT_KEY)?.[target];
}

async function remember(c: Ctx, target: string, m: Remembered & { diffHash: string }): Promise<void> {
  const all = c.context.workspaceState.get<Record<string, BuiltModule>>(BUILT_KEY) ?? {};
  all[target] = m;
  await c.context.workspaceState.update(BUILT_KEY, all);
}

function forcedRecord(c: Ctx, target: string): ForcedRecord | undefined {
  return c.context.workspaceState.get<Record<string, ForcedRecord>>(FORCED_KEY)?.[target];
}

async function rememberForced(c: Ctx, target: string, r: ForcedRecord): Promise<void> {
  const all = c.context.workspaceState.get<Record<string, ForcedRecord>>(FORCED_KEY) ?? {};
  const prev = all[target];
  all[target] = { bootId: r.bootId, names: [...new Set([...(prev && prev.bootId === r.bootId ? prev.names : []), ...r.names])] };
  await c.context.workspaceState.update(FORCED_KEY, all);
}

async function pickPatch(c: Ctx, node: StateNode | undefined, what: string, filter: (ctx: string) => boolean): Promise<string | undefined> {
  if (node?.subject) return node.subject;
  await c.view.refresh();
  const names = [
    ...(c.view.state?.patches ?? []).filter((p) => filter(p.transition ? 'patch.transition' : p.enabled ? 'patch.enabled' : 'patch.disabled')).map((p) => p.name),
    ...(c.view.state?.livepatchModules ?? []).filter((m) => !m.hasPatchDir && filter('module.loaded')).map((m) => m.name),
  ];
  if (!names.length) {
    void vscode.window.showInformationMessage(`Livepatch: no patch to ${what} on the target.`);
    return undefined;
  }
  return names.length === 1 ? names[0] : vscode.window.showQuickPick(names, { title: `Patch to ${what}` });
}

export function registerRemoteCommands(c: Ctx): void {
  const reg = (id: string, fn: (...args: any[]) => unknown) => c.context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  reg('livepatch.refresh', () => c.view.refresh());

  reg('livepatch.createTestVm', async () => {
    if (!trusted()) return;
    // Runs the project's own scripts (argv, no shell string) in a terminal the user can watch.
    const up = c.context.asAbsolutePath(path.join('scripts', 'testvm', 'up.sh'));
    const term = vscode.window.createTerminal({ name: 'Livepatch test VM', shellPath: up, shellArgs: ['--port', 'auto'] });
    term.show();
    const cfg = vscode.workspace.getConfiguration('livepatch');
    const targets = (cfg.get<Record<string, unknown>[]>('targets') ?? []).slice();
    if (!targets.some((t) => t.destination === 'klp-testvm')) {
      targets.push({
        name: 'testvm', destination: 'klp-testvm', backend: 'kbuild', workDir: '/root/livepatch',
        sshConfigFile: '~/.cache/kernel-livepatch/testvm/run/default/ssh_config',
      });
      await cfg.update('targets', targets, vscode.ConfigurationTarget.Global);
      await cfg.update('activeTarget', 'testvm', vscode.ConfigurationTarget.Global);
    }
    void vscode.window.showInformationMessage('Livepatch: the test VM is being built and booted in the terminal; the target "testvm" is configured. Refresh the view once it is up.');
  });

  reg('livepatch.generateModule', async () => {
    // Untrusted: from an open .patch only (see trustPolicy.ts).
    const doc = vscode.window.activeTextEditor?.document;
    const verdict = trustVerdict('generateModule', doc && (doc.languageId === 'diff' || /\.(patch|diff)$/.test(doc.fileName)) ? 'patch-document' : 'working-tree', vscode.workspace.isTrusted);
    if (!verdict.run) {
      void vscode.window.showWarningMessage(`Livepatch: ${verdict.reason}`, 'Manage Workspace Trust').then((a) => a && vscode.commands.executeCommand('workbench.trust.manage'));
      return;
    }
    const patch = await currentPatch(c);
    if (!patch) return;
    const g: GenerateModuleResult = await c.client.sendRequest(GenerateModuleRequest, { patch: patch.text, uri: patch.uri?.toString(), name: moduleNameFrom(patch.name) });
    if (!g.ok) {
      const text = g.refusals.map(formatRefusal).join('\n');
      c.log.error(`cannot generate a module:\n${text}`);
      void vscode.window.showErrorMessage(`Livepatch: cannot generate a module: ${g.refusals[0]?.message ?? ''}`, 'Show Log').then((a) => a && c.log.channel.show(true));
      return;
    }
    const dest = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Write module source here' });
    if (!dest?.[0]) return;
    const dir = vscode.Uri.joinPath(dest[0], g.name);
    for (const [f, text] of Object.entries(g.files)) await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, f), Buffer.from(text, 'utf8'));
    await vscode.window.showTextDocument(vscode.Uri.joinPath(dir, `${g.name}.c`));
  });
  reg('livepatch.showLog', () => c.log.channel.show());

  reg('livepatch.selectTarget', async () => {
    const list = c.targets.list();
    if (!list.length) {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'livepatch.targets');
      return;
    }
    const pick = await vscode.window.showQuickPick(list.map((t) => ({ label: t.name ?? t.destination!, description: `${t.destination} · ${t.backend ?? 'kpatch-build'}` })), { title: 'Livepatch test VM' });
    if (pick) await vscode.workspace.getConfiguration('livepatch').update('activeTarget', pick.label, vscode.ConfigurationTarget.Global);
    await c.view.refresh();
  });

  reg('livepatch.verifyTarget', async () => {
    if (!trusted()) return;
    const t = await target(c);
    if (!t) return;
    const s = await remote(c, `verifying ${t.settings.name}`, async (p) => {
      p.onStep?.('Connecting');
      await c.view.refresh();
      if (c.view.error) throw new Error(c.view.error);
      return c.view.state!;
    });
    if (s) {
      const k = s.taint.livepatch ? ' (K: a livepatch was loaded since boot)' : '';
      void vscode.window.showInformationMessage(`Livepatch: ${t.settings.name}: ${s.kernelRelease}, livepatch ${s.livepatchSupported ? 'supported' : 'NOT supported'}, taint ${s.taint.value ?? '?'}${k}.`);
    }
  });

  reg('livepatch.buildModule', async () => {
    if (!trusted()) return;
    const t = await target(c);
    if (!t) return;
    const patch = await currentPatch(c);
    if (!patch) return;
    // Refuse (unless confirmed) to build what the engine already knows is wrong, or did not check.
    const findings: GateFinding[] = patch.check
      ? patch.check.findings.map((f) => ({ rule: f.rule, severity: f.severity, file: f.file, message: f.message }))
      : vscode.languages.getDiagnostics(patch.uri!).map(gateFindingFromDiagnostic).filter((f): f is GateFinding => f !== null);
    const gate = buildGate(findings);
    if (!gate.pass) {
      const go = await vscode.window.showWarningMessage(gate.question, { modal: true }, 'Build Anyway');
      if (go !== 'Build Anyway') return;
    }
    const name = moduleNameFrom(patch.name);
    // Atomic replace only by choice: ask when other livepatches are loaded, naming them.
    await c.view.refresh();
    const question = c.view.state ? replaceQuestion(c.view.state, name, t.settings.name, 'build') : null;
    let replace = false;
    if (question) {
      const a = await vscode.window.showWarningMessage(`Livepatch: ${question}`, { modal: true }, 'Stack on Them', 'Replace Them');
      if (!a) return;
      replace = a === 'Replace Them';
    }
    c.log.info(c.view.state ? replaceSummary(c.view.state, name, t.settings.name, replace) : `${name}: ${replace ? 'a replace patch' : 'stacks on other livepatches'}`);
    const diffHash = crypto.createHash('sha256').update(patch.text).digest('hex').slice(0, 16);
    const built = await remote(c, `building ${name} on ${t.settings.name}`, async (p) => {
      try {
        if (t.settings.backend === 'kbuild') {
          // kallsyms is cached per release in the extension's global storage.
          const cacheDir = path.join(c.context.globalStorageUri.fsPath, 'targets');
          const inputs = await readUnitInputs(t.ssh, t.settings, { cacheDir }, p);
          c.log.info(`${t.settings.name}: ${inputs.where}`);
          const generate = async (generator: 'unit' | 'closure', kallsyms: string): Promise<GenerateModuleResult & { ok: true }> => {
            p.onStep?.('Generating the livepatch module');
            const g: GenerateModuleResult = await c.client.sendRequest(GenerateModuleRequest, {
              patch: patch.text, uri: patch.uri?.toString(), name, replace, symvers: inputs.symvers || undefined, kallsyms: kallsyms || undefined, generator,
            });
            if (!g.ok) throw new Error(`cannot generate a module:\n${g.refusals.map(formatRefusal).join('\n')}`);
            return g;
          };
          if (inputs.hostHeaders) {
            // The patched file itself, compiled here against the target's exact headers.
            let g = await generate('unit', inputs.kallsyms);
            if (g.unit && inputs.kallsymsFromCache && kallsymsMissesObjects(inputs.kallsyms, g.unit.objects)) {
              // A module that was not loaded when kallsyms was cached.
              inputs.kallsyms = (await cachedKallsyms(t.ssh, t.settings, cacheDir, inputs.release, inputs.symversSha256, p, true)).text;
              g = await generate('unit', inputs.kallsyms);
            }
            if (!g.unit) throw new Error('the language server did not return a patched-unit module (an older server?)');
            for (const n of g.unit.notes) c.log.info(`${g.name}: ${n}`);
            return await buildUnitOnHost(t.ssh, t.settings, g.unit, inputs, p);
          }
          // No matching headers here: the target builds the closure generator's module.
          const g = await generate('closure', inputs.kallsyms);
          return await buildKbuildModule(t.ssh, t.settings, g.name, g.files, p, inputs.release);
        }
        return await buildWithTool(t.ssh, t.settings, name, patch.text, p, { replace });
      } catch (err) {
        if (err instanceof BuildFailed) {
          await showBuildDiagnostics(c.client, c.buildDiagnostics, c.log, err.events, patch.check?.tree ? vscode.Uri.file(patch.check.tree) : undefined, patch.check?.files ?? []);
          c.log.append(err.output.split('\n').slice(-40).join('\n'));
        }
        throw err;
      }
    }, t);
    if (built) {
      await remember(c, t.settings.name, { ...built, diffHash, replace });
      await showBuildDiagnostics(c.client, c.buildDiagnostics, c.log, built.events, patch.check?.tree ? vscode.Uri.file(patch.check.tree) : undefined, patch.check?.files ?? []);
      const load = await vscode.window.showInformationMessage(`Livepatch: built ${path.posix.basename(built.path)} on ${t.settings.name}.`, 'Load');
      if (load) await vscode.commands.executeCommand('livepatch.load');
    }
  });

  reg('livepatch.load', async () => {
    if (!trusted()) return;
    const t = await target(c);
    if (!t) return;
    const m = remembered(c, t.settings.name);
    const ko = m?.path ?? (await vscode.window.showInputBox({ title: 'Remote path of the livepatch .ko', prompt: `on ${t.settings.destination}`, validateInput: (v) => (/\.ko$/.test(v) ? undefined : 'a .ko path') }));
    if (!ko) return;
    const name = m?.name ?? path.posix.basename(ko, '.ko').replace(/-/g, '_');
    // The module built here is loaded only if its sha256 still matches the build's.
    const sha256 = m && m.path === ko ? m.sha256 : undefined;
    if (!sha256) c.log.warn(`${ko}: no build-time sha256 is known for it, so it is loaded unverified.`);
    // A replace patch takes the place of every other livepatch: say which, now, before loading.
    if (m?.replace && m.path === ko) {
      await c.view.refresh();
      const question = c.view.state ? replaceQuestion(c.view.state, name.replace(/-/g, '_'), t.settings.name, 'load') : null;
      if (question && (await vscode.window.showWarningMessage(`Livepatch: ${question}`, { modal: true }, 'Load and Replace')) !== 'Load and Replace') return;
    }
    await remote(c, `loading ${name} on ${t.settings.name}`, (p) => loadModule(t.ssh, t.settings, ko, name.replace(/-/g, '_'), p, { sha256 }), t);
  });

  reg('livepatch.enable', async () => {
    // The kernel does not re-enable a disabled patch: enabling means loading the module again.
    if (!trusted()) return;
    const t = await target(c);
    const m = t && remembered(c, t.settings.name);
    if (!t || !m) {
      void vscode.window.showInformationMessage('Livepatch: build a patch module first; a disabled patch cannot be re-enabled, only loaded again.');
      return;
    }
    if (m.replace) {
      await c.view.refresh();
      const question = c.view.state ? replaceQuestion(c.view.state, m.name, t.settings.name, 'load') : null;
      if (question && (await vscode.window.showWarningMessage(`Livepatch: ${question}`, { modal: true }, 'Load and Replace')) !== 'Load and Replace') return;
    }
    await remote(c, `enabling ${m.name}`, (p) => enablePatch(t.ssh, t.settings, m.path, m.name, p, { sha256: m.sha256 }), t);
  });

  reg('livepatch.disable', async (node?: StateNode) => {
    if (!trusted()) return;
    const t = await target(c);
    if (!t) return;
    const name = await pickPatch(c, node, 'disable', (x) => x === 'patch.enabled' || x === 'patch.transition');
    if (name) await remote(c, `disabling ${name}`, (p) => disablePatch(t.ssh, t.settings, name, p), t);
  });

  reg('livepatch.unload', async (node?: StateNode) => {
    if (!trusted()) return;
    const t = await target(c);
    if (!t) return;
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
        { modal: true }, 'Disable');
      if (ok === 'Disable') await remote(c, `disabling ${name}`, (p) => disablePatch(t.ssh, t.settings, name, p), t);
      return;
    }
    const ok = await vscode.window.showWarningMessage(`Livepatch: disable and remove ${name} from ${t.settings.name}?`, { modal: true }, 'Unload');
    if (ok === 'Unload') await remote(c, `unloading ${name}`, (p) => unloadModule(t.ssh, t.settings, name, p), t);
  });

  reg('livepatch.forceTransition', async (node?: StateNode) => {
    if (!trusted()) return;
    const t = await target(c);
    if (!t) return;
    const name = await pickPatch(c, node, 'force', (x) => x === 'patch.transition');
    if (!name) return;
    const kept = c.view.state ? keptByForce(c.view.state, name) : [];
    const ok = await vscode.window.showWarningMessage(
      `Force the transition of ${name}? Tasks still running old code are switched without the consistency check, which can crash the kernel.` +
        (kept.length ? ` The kernel then keeps the module of ${kept.join(', ')} until the VM reboots (it cannot be removed).` : ''),
      { modal: true }, 'Force Transition');
    if (ok !== 'Force Transition') return;
    const r = await remote(c, `forcing ${name}`, (p) => forceTransition(t.ssh, t.settings, name, p), t);
    if (r) {
      await rememberForced(c, t.settings.name, { bootId: r.bootId, names: r.forced });
      c.log.warn(`forced the transition of ${name} on ${t.settings.name}` +
        (r.forced.length ? `; these modules can no longer be removed until reboot: ${r.forced.join(', ')}` : '; it removed no patch, so no module is kept'));
    }
  });

  reg('livepatch.breakLock', async () => {
    if (!trusted()) return;
    const t = await target(c);
    if (!t) return;
    const name = t.settings.name;
    // Show who holds it first; break only that holder, after a modal confirmation.
    const seen = await remote(c, `reading the lock of ${name}`, (p) => readLockStatus(t.ssh, t.settings, p));
    if (!seen) return;
    if (!seen.held) {
      void vscode.window.showInformationMessage(`Livepatch: nothing holds ${name}${seen.label ? ` (the last holder was ${seen.label})` : ''}.`);
      return;
    }
    const ok = await vscode.window.showWarningMessage(
      `Livepatch: ${name} is held by ${seen.label ?? 'an action that did not say what it is'}. Break the lock? Its holder on the VM is killed; ` +
        'if that action is still running somewhere, it may be left half done. Break it only when its window, machine or connection is gone.',
      { modal: true }, 'Break Lock');
    if (ok !== 'Break Lock') return;
    const r = await remote(c, `breaking the lock of ${name}`, (p) => breakTargetLock(t.ssh, t.settings, seen, p));
    if (r === 'broken') {
      c.log.warn(`broke the lock of ${name}, held by ${seen.label ?? 'unknown'}`);
      void vscode.window.showInformationMessage(`Livepatch: the lock of ${name} is broken.`);
    } else if (r === 'changed') {
      void vscode.window.showWarningMessage(`Livepatch: the lock of ${name} changed hands meanwhile; nothing was broken. Run Break Test VM Lock again to see who holds it now.`);
    }
  });

  reg('livepatch.showKernelLog', async () => {
    if (!trusted()) return;
    const t = await target(c);
    if (!t) return;
    const text = await remote(c, `reading the kernel log of ${t.settings.name}`, (p) => kernelLog(t.ssh, p), t);
    if (text !== undefined) {
      const doc = await vscode.workspace.openTextDocument({ content: text || '(no livepatch messages)', language: 'log' });
      await vscode.window.showTextDocument(doc, { preview: true });
    }
  });
}
