// Build errors as diagnostics on the kernel source: the server's locator turns the
// names build tools print (functions, sections, symbols, compiler file:line) into
// ranges in the tree, so a refused section or a compile error lands where the author
// can act on it. What cannot be placed stays in the log. The placing itself is in
// buildProblems.ts (no vscode), tested on recorded build output.

import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { LocateBuildReferencesRequest, type LocateBuildReferencesResult } from '../../../server/src/protocol';
import type { BuildEvent } from '../remote/buildMessages';
import type { Log } from '../log';
import { buildProblems, buildReferences, placeProblems } from './buildProblems';

export async function showBuildDiagnostics(
  client: LanguageClient,
  collection: vscode.DiagnosticCollection,
  log: Log,
  events: BuildEvent[],
  tree: vscode.Uri | undefined,
  files: string[],
): Promise<void> {
  collection.clear();
  const problems = buildProblems(events);
  if (!problems.length) return;
  let where: LocateBuildReferencesResult = problems.map(() => null);
  if (tree) {
    try {
      where = await client.sendRequest(LocateBuildReferencesRequest, {
        uri: tree.toString(),
        files,
        references: buildReferences(problems),
      });
    } catch (err) {
      log.warn(`build: could not locate build messages in the tree: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const { placed, unplaced } = placeProblems(problems, where);
  for (const line of unplaced) log.warn(`build: ${line}`);
  if (!tree) return;
  const byFile = new Map<string, vscode.Diagnostic[]>();
  for (const p of placed) {
    const d = new vscode.Diagnostic(
      new vscode.Range(p.line, p.column, p.endLine, Number.MAX_SAFE_INTEGER),
      p.message,
      p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
    );
    d.source = p.source;
    if (p.rule) d.code = p.rule;
    const uri = vscode.Uri.joinPath(tree, p.file).toString();
    byFile.set(uri, [...(byFile.get(uri) ?? []), d]);
  }
  for (const [u, ds] of byFile) collection.set(vscode.Uri.parse(u), ds);
}
