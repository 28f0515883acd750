// The pure part of build diagnostics (no vscode import): which build events are
// problems, what the server's locator is asked about each, and where each one lands
// once located. buildDiagnostics.ts turns the result into VS Code diagnostics.

import type { BuildEvent } from '../remote/buildMessages';
import type { LocateBuildReferencesParams, LocateBuildReferencesResult } from '../../../server/src/protocol';

/** A build problem placed on the tree: 0-based lines and columns, as VS Code ranges use. */
export interface PlacedProblem {
  /** Tree-relative path. */
  file: string;
  line: number;
  column: number;
  endLine: number;
  severity: 'error' | 'warning';
  message: string;
  /** The tool that printed it (kpatch-build, create-diff-object, objtool, klp-build, compiler). */
  source: string;
  /** The engine's rule id, when the message corresponds to one. */
  rule?: string;
  /** What the locator resolved it to ("function klpstat_show"). */
  what: string;
}

export interface Placement {
  placed: PlacedProblem[];
  /** The lines of problems that name nothing in the tree: they go to the log. */
  unplaced: string[];
}

/** Errors and warnings, without the aggregates ("2 error(s) encountered") that repeat the lines before them. */
export function buildProblems(events: BuildEvent[]): BuildEvent[] {
  return events.filter((e) => (e.kind === 'error' || e.kind === 'warning') && !e.aggregate);
}

/** What the locator is asked for each problem. */
export function buildReferences(problems: BuildEvent[]): LocateBuildReferencesParams['references'] {
  return problems.map((e) => ({
    object: e.object,
    function: e.function,
    symbol: e.symbol,
    section: e.section,
    file: e.file,
    line: e.lineNumber,
  }));
}

/** Joins the problems with the locator's answers (one per problem, null when not found). */
export function placeProblems(problems: BuildEvent[], where: LocateBuildReferencesResult): Placement {
  const out: Placement = { placed: [], unplaced: [] };
  problems.forEach((e, i) => {
    const loc = where[i];
    if (!loc) {
      out.unplaced.push(e.line.trim());
      return;
    }
    out.placed.push({
      file: loc.file,
      line: loc.line,
      // A compiler names the column; other tools name a whole definition.
      column: e.lineNumber && e.column ? e.column - 1 : 0,
      endLine: loc.endLine,
      severity: e.severity === 'error' ? 'error' : 'warning',
      message: e.message,
      source: e.tool,
      ...(e.rule ? { rule: e.rule } : {}),
      what: loc.what,
    });
  });
  return out;
}
