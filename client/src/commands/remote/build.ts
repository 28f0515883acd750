// Generate Livepatch Module (the source, written where the user says) and Build Patch
// Module (on the target, or here against the target's headers), and the memory of the
// last module built per target that Load and Enable use.

import * as crypto from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  AnalyzeWorkspaceChangesRequest,
  type AnalyzeWorkspaceChangesResult,
  GenerateModuleRequest,
  type GenerateModuleResult,
  formatRefusal,
  moduleNameFrom,
} from '../../../../server/src/protocol';
import { BuildFailed, buildWithTool, type BuiltModule } from '../../deploy/operations';
import { buildUnit, generateWithCurrentKallsyms, readUnitInputs } from '../../deploy/unitBuild';
import { replaceQuestion, replaceSummary } from '../../deploy/replace';
import { showBuildDiagnostics } from '../buildDiagnostics';
import { trustVerdict } from '../trustPolicy';
import { buildGate, gateFindingFromDiagnostic, type GateFinding } from '../buildGate';
import { targetCommand, type Ctx } from './onTarget';

const BUILT_KEY = 'livepatch.builtModules';

/** A module built here: the build, the patch it came from and whether it is a replace patch. */
export type Remembered = BuiltModule & { diffHash?: string; replace?: boolean };

/** The last module built on `target` from this workspace. */
export function lastBuilt(c: Ctx, target: string): Remembered | undefined {
  return c.context.workspaceState.get<Record<string, Remembered>>(BUILT_KEY)?.[target];
}

async function remember(c: Ctx, target: string, m: Remembered & { diffHash: string }): Promise<void> {
  const all = c.context.workspaceState.get<Record<string, BuiltModule>>(BUILT_KEY) ?? {};
  all[target] = m;
  await c.context.workspaceState.update(BUILT_KEY, all);
}

/** The patch to build: the active .patch document, or the working tree against the base ref. */
async function currentPatch(
  c: Ctx,
): Promise<{ text: string; name: string; uri?: vscode.Uri; check: AnalyzeWorkspaceChangesResult | null } | undefined> {
  const doc = vscode.window.activeTextEditor?.document;
  if (doc && (doc.languageId === 'diff' || /\.(patch|diff)$/.test(doc.fileName))) {
    return { text: doc.getText(), name: path.basename(doc.fileName), uri: doc.uri, check: null };
  }
  const r = await c.client.sendRequest(AnalyzeWorkspaceChangesRequest, { uri: doc?.uri.toString() });
  if (!r.diff) {
    void vscode.window.showWarningMessage(`Livepatch: nothing to build: ${r.notes.join('; ') || 'no changes'}.`);
    return undefined;
  }
  return { text: r.diff, name: `working-tree-${r.baseRef}`, uri: r.tree ? vscode.Uri.file(r.tree) : undefined, check: r };
}

export function registerBuildCommands(c: Ctx): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('livepatch.generateModule', async () => {
      // Untrusted: from an open .patch only (see trustPolicy.ts).
      const doc = vscode.window.activeTextEditor?.document;
      const verdict = trustVerdict(
        'generateModule',
        doc && (doc.languageId === 'diff' || /\.(patch|diff)$/.test(doc.fileName)) ? 'patch-document' : 'working-tree',
        vscode.workspace.isTrusted,
      );
      if (!verdict.run) {
        void vscode.window
          .showWarningMessage(`Livepatch: ${verdict.reason}`, 'Manage Workspace Trust')
          .then((a) => a && vscode.commands.executeCommand('workbench.trust.manage'));
        return;
      }
      const patch = await currentPatch(c);
      if (!patch) return;
      const g = await c.client.sendRequest(GenerateModuleRequest, {
        patch: patch.text,
        uri: patch.uri?.toString(),
        name: moduleNameFrom(patch.name),
      });
      if (!g.ok) {
        const text = g.refusals.map(formatRefusal).join('\n');
        c.log.error(`cannot generate a module:\n${text}`);
        void vscode.window
          .showErrorMessage(`Livepatch: cannot generate a module: ${g.refusals[0]?.message ?? ''}`, 'Show Log')
          .then((a) => a && c.log.channel.show(true));
        return;
      }
      const dest = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        openLabel: 'Write module source here',
      });
      if (!dest?.[0]) return;
      const dir = vscode.Uri.joinPath(dest[0], g.name);
      for (const [f, text] of Object.entries(g.files))
        await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(dir, f), Buffer.from(text, 'utf8'));
      await vscode.window.showTextDocument(vscode.Uri.joinPath(dir, `${g.name}.c`));
    }),

    vscode.commands.registerCommand(
      'livepatch.buildModule',
      targetCommand(c, async (vm) => {
        const t = vm.target;
        const patch = await currentPatch(c);
        if (!patch) return;
        // Refuse (unless confirmed) to build what the engine already knows is wrong, or did not check.
        const findings: GateFinding[] = patch.check
          ? patch.check.findings.map((f) => ({ rule: f.rule, severity: f.severity, file: f.file, message: f.message }))
          : vscode.languages
              .getDiagnostics(patch.uri!)
              .map(gateFindingFromDiagnostic)
              .filter((f): f is GateFinding => f !== null);
        const gate = buildGate(findings);
        if (!gate.pass) {
          const go = await vscode.window.showWarningMessage(gate.question, { modal: true }, 'Build Anyway');
          if (go !== 'Build Anyway') return;
        }
        const allowFindings = !gate.pass;
        // Build output, placed on the source lines it is about (the patch's tree and files).
        const showEvents = (events: BuildFailed['events']): Promise<void> =>
          showBuildDiagnostics(
            c.client,
            c.buildDiagnostics,
            c.log,
            events,
            patch.check?.tree ? vscode.Uri.file(patch.check.tree) : undefined,
            patch.check?.files ?? [],
          );
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
        c.log.info(
          c.view.state
            ? replaceSummary(c.view.state, name, t.settings.name, replace)
            : `${name}: ${replace ? 'a replace patch' : 'stacks on other livepatches'}`,
        );
        const diffHash = crypto.createHash('sha256').update(patch.text).digest('hex').slice(0, 16);
        const built = await vm.runOnTarget(`building ${name} on ${t.settings.name}`, async (p) => {
          try {
            if (t.settings.backend === 'kbuild') {
              // kallsyms is cached per release in the extension's global storage.
              const cacheDir = path.join(c.context.globalStorageUri.fsPath, 'targets');
              const inputs = await readUnitInputs(t.ssh, t.settings, { cacheDir }, p);
              c.log.info(`${t.settings.name}: ${inputs.where}`);
              const generate = async (generator: 'unit', kallsyms: string): Promise<GenerateModuleResult & { ok: true }> => {
                p.onStep?.('Generating the livepatch module');
                const g = await c.client.sendRequest(GenerateModuleRequest, {
                  patch: patch.text,
                  uri: patch.uri?.toString(),
                  name,
                  replace,
                  symvers: inputs.symvers || undefined,
                  kallsyms: kallsyms || undefined,
                  generator,
                  allowFindings,
                });
                if (!g.ok) throw new Error(`cannot generate a module:\n${g.refusals.map(formatRefusal).join('\n')}`);
                return g;
              };
              // The patched file itself, compiled here against the target's exact headers, or on the target.
              const g = await generateWithCurrentKallsyms(
                t.ssh,
                t.settings,
                cacheDir,
                inputs,
                p,
                (kallsyms) => generate('unit', kallsyms),
                (x) => x.unit?.objects ?? [],
              );
              if (!g.unit) throw new Error('the language server did not return a patched-unit module (an older server?)');
              for (const n of g.unit.notes) c.log.info(`${g.name}: ${n}`);
              return await buildUnit(t.ssh, t.settings, g.unit, inputs, p);
            }
            return await buildWithTool(t.ssh, t.settings, name, patch.text, p, { replace });
          } catch (err) {
            if (err instanceof BuildFailed) {
              await showEvents(err.events);
              c.log.append(err.output.split('\n').slice(-40).join('\n'));
            }
            throw err;
          }
        });
        if (built) {
          await remember(c, t.settings.name, { ...built, diffHash, replace });
          await showEvents(built.events);
          const load = await vscode.window.showInformationMessage(
            `Livepatch: built ${path.posix.basename(built.path)} on ${t.settings.name}.`,
            'Load',
          );
          if (load) await vscode.commands.executeCommand('livepatch.load');
        }
      }),
    ),
  ];
}
