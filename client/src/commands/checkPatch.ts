// "Livepatch: Check Patch": the engine's verdict on the active .patch, or on the
// working tree against the base ref, shown in a quick pick that jumps to each finding.

import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { AnalyzeWorkspaceChangesRequest, type AnalyzeWorkspaceChangesResult, type WireFinding } from '../../../server/src/protocol';
import type { Log } from '../log';
import { trustVerdict } from './trustPolicy';

export interface CheckOutcome {
  errors: number;
  warnings: number;
  findings: WireFinding[];
  tree: string | null;
}

const ICON = { error: '$(error)', warning: '$(warning)', info: '$(info)' } as const;

export async function checkWorkspace(client: LanguageClient, uri?: vscode.Uri): Promise<AnalyzeWorkspaceChangesResult> {
  return client.sendRequest(AnalyzeWorkspaceChangesRequest, { uri: uri?.toString() });
}

export function registerCheckCommand(context: vscode.ExtensionContext, client: LanguageClient, log: Log): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('livepatch.checkPatch', async (): Promise<CheckOutcome | undefined> => {
      const editor = vscode.window.activeTextEditor;
      const doc = editor?.document;
      if (doc && (doc.languageId === 'diff' || /\.(patch|diff)$/.test(doc.fileName))) {
        // The server already analysed the open patch: its diagnostics are the answer.
        const diags = vscode.languages.getDiagnostics(doc.uri).filter((d) => d.source === 'livepatch');
        const errors = diags.filter((d) => d.severity === vscode.DiagnosticSeverity.Error).length;
        const warnings = diags.filter((d) => d.severity === vscode.DiagnosticSeverity.Warning).length;
        void vscode.window.showInformationMessage(
          `Livepatch: ${path.basename(doc.fileName)}: ${errors} error(s), ${warnings} warning(s). See the Problems panel.`,
        );
        if (diags.length) void vscode.commands.executeCommand('workbench.actions.view.problems');
        return { errors, warnings, findings: [], tree: null };
      }
      // Untrusted, the server runs no git: it checks unsaved buffers only, and the message says so.
      const verdict = trustVerdict('checkPatch', 'working-tree', vscode.workspace.isTrusted);
      const note = verdict.run && verdict.note ? ` ${verdict.note}` : '';
      const r = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Livepatch: checking working-tree changes' },
        () => checkWorkspace(client, doc?.uri),
      );
      log.info(
        `check: ${r.files.length} file(s) vs ${r.baseRef}: ${r.findings.length} finding(s)${r.notes.length ? '; ' + r.notes.join('; ') : ''}`,
      );
      if (!r.tree) {
        void vscode.window.showWarningMessage(
          'Livepatch: no kernel tree in this workspace (a folder with Kbuild and a Makefile setting VERSION).',
        );
        return undefined;
      }
      if (!r.findings.length) {
        void vscode.window.showInformationMessage(
          (r.files.length
            ? `Livepatch: no findings in ${r.files.length} changed file(s) against ${r.baseRef}.`
            : `Livepatch: no changes against ${r.baseRef}.`) + note,
        );
        return { errors: 0, warnings: 0, findings: [], tree: r.tree };
      }
      const items = r.findings.map((f) => ({
        label: `${ICON[f.severity]} ${f.rule}`,
        description: `${f.file}:${f.line}`,
        detail: f.message,
        f,
      }));
      if (note) void vscode.window.showInformationMessage(`Livepatch:${note}`);
      const pick = await vscode.window.showQuickPick(items, { title: `Livepatch findings vs ${r.baseRef}`, matchOnDetail: true });
      if (pick) {
        const target = vscode.Uri.file(path.join(r.tree, pick.f.file));
        const line = Math.max(0, pick.f.line - 1);
        await vscode.window.showTextDocument(target, { selection: new vscode.Range(line, 0, line, 0) });
      }
      const errors = r.findings.filter((f) => f.severity === 'error').length;
      return { errors, warnings: r.findings.filter((f) => f.severity === 'warning').length, findings: r.findings, tree: r.tree };
    }),
  );
}
