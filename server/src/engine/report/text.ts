// gcc-style text: `file:line:col: severity: message [rule-id]`, then a summary. The format
// problem matchers (VS Code tasks, CI annotations) parse; both CLIs print it.

import type { AnalysisResult } from '../analyze';
import { toWireFinding } from './wire';

export function formatText(r: AnalysisResult): string {
  const out: string[] = [];
  for (const n of r.notes) out.push(`livepatch-check: note: ${n}`);
  for (const f of r.findings.map((x) => toWireFinding(x))) {
    out.push(`${f.file}:${f.line}:1: ${f.severity}: ${f.message} [${f.rule}]`);
    for (const rel of f.related)
      out.push(`${rel.file}:${rel.line}:1: note: ${rel.message}${rel.image === 'pre' ? ' (line before the patch)' : ''}`);
  }
  const count = (s: string) => r.findings.filter((f) => f.severity === s).length;
  const files = new Set(r.patches.flatMap((p) => p.files)).size;
  out.push(
    `livepatch-check: ${r.patches.length} patch(es), ${files} file(s): ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} note(s)`,
  );
  return out.join('\n') + '\n';
}
