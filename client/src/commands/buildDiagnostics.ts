// Build errors as diagnostics on the kernel source: the server's locator turns the
// names build tools print (functions, sections, symbols, compiler file:line) into
// ranges in the tree, so a refused section or a compile error lands where the author
// can act on it. What cannot be placed stays in the log.

import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { LocateBuildReferencesRequest, type LocateBuildReferencesResult } from '../../../server/src/lsp/protocol';
import type { BuildEvent } from '../remote/buildMessages';
import type { Log } from '../log';

export async function showBuildDiagnostics(
  client: LanguageClient, collection: vscode.DiagnosticCollection, log: Log,
  events: BuildEvent[], tree: vscode.Uri | undefined, files: string[],
): Promise<void> {
  collection.clear();
  // Aggregates ("2 error(s) encountered") repeat what the individual lines said.
  const problems = events.filter((e) => (e.kind === 'error' || e.kind === 'warning') && !e.aggregate);
  if (!problems.length) return;
  let where: LocateBuildReferencesResult = problems.map(() => null);
  if (tree) {
    const references = problems.map((e) => ({
      object: e.object, function: e.function, symbol: e.symbol, section: e.section, file: e.file, line: e.lineNumber,
    }));
    try {
      where = await client.sendRequest(LocateBuildReferencesRequest, { uri: tree.toString(), files, references });
    } catch (err) {
      log.warn(`build: could not locate build messages in the tree: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const byFile = new Map<string, vscode.Diagnostic[]>();
  problems.forEach((e, i) => {
    const loc = where[i];
    if (!loc || !tree) {
      log.warn(`build: ${e.line.trim()}`);
      return;
    }
    const col = e.lineNumber && e.column ? e.column - 1 : 0;
    const d = new vscode.Diagnostic(
      new vscode.Range(loc.line, col, loc.endLine, Number.MAX_SAFE_INTEGER),
      e.message,
      e.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
    );
    d.source = e.tool;
    if (e.rule) d.code = e.rule;
    const uri = vscode.Uri.joinPath(tree, loc.file).toString();
    byFile.set(uri, [...(byFile.get(uri) ?? []), d]);
  });
  for (const [u, ds] of byFile) collection.set(vscode.Uri.parse(u), ds);
}
