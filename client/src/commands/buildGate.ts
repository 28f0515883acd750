// The Build command's gate: it builds nothing the engine already knows is wrong, or did not
// check (a `not-analysed` file), unless the user chooses Build Anyway. Pure, so it is tested
// without VS Code: the command maps diagnostics or workspace findings to GateFinding.

export interface GateFinding {
  rule: string | null;
  severity: 'error' | 'warning' | 'info';
  file: string | null;
  message: string;
}

export interface GateVerdict {
  /** True: build without asking. */
  pass: boolean;
  /** The modal question when it does not pass. */
  question: string;
  errors: number;
  /** Files no rule checked. */
  notAnalysed: string[];
}

export const NOT_ANALYSED_RULE = 'not-analysed';

export function buildGate(findings: GateFinding[]): GateVerdict {
  const errors = findings.filter((f) => f.severity === 'error');
  const notAnalysed = [
    ...new Set(
      errors
        .filter((f) => f.rule === NOT_ANALYSED_RULE)
        .map((f) => f.file ?? /^(\S+) was not analysed/.exec(f.message)?.[1] ?? 'the patch'),
    ),
  ];
  const others = errors.length - errors.filter((f) => f.rule === NOT_ANALYSED_RULE).length;
  const parts: string[] = [];
  if (others) parts.push(`the patch has ${others} error-level finding(s)`);
  if (notAnalysed.length)
    parts.push(
      `${notAnalysed.join(', ')} ${notAnalysed.length === 1 ? 'was' : 'were'} not analysed, so nothing checked ${notAnalysed.length === 1 ? 'its' : 'their'} change`,
    );
  return {
    pass: errors.length === 0,
    question: parts.length ? `Livepatch: ${parts.join('; ')}. Build anyway?` : '',
    errors: errors.length,
    notAnalysed,
  };
}

/** A VS Code diagnostic (structurally) from the livepatch server, as a GateFinding; other sources are ignored. */
export function gateFindingFromDiagnostic(d: { source?: string; severity: number; code?: unknown; message: string }): GateFinding | null {
  if (d.source !== 'livepatch') return null;
  // vscode.DiagnosticSeverity: Error 0, Warning 1, Information 2, Hint 3.
  const severity = d.severity === 0 ? 'error' : d.severity === 1 ? 'warning' : 'info';
  const code = typeof d.code === 'object' && d.code !== null ? (d.code as { value?: unknown }).value : d.code;
  return { rule: code === undefined ? null : String(code), severity, file: null, message: d.message };
}
