// The JSON contract (version 1). Lines are 1-based post-image lines of the kernel file.

import type { AnalysisResult } from '../../engine/analyze';

export function toJson(r: AnalysisResult): object {
  return {
    version: 1,
    tree: r.tree,
    patches: r.patches,
    notes: r.notes,
    findings: r.findings.map((f) => ({
      rule: f.rule,
      severity: f.severity,
      file: f.file,
      line: f.line + 1,
      endLine: f.endLine + 1,
      image: f.image,
      function: f.function,
      symbol: f.symbol,
      message: f.message,
      patch: f.patchIndex !== undefined ? r.patches[f.patchIndex]?.name ?? null : null,
      patchLine: f.patchLine !== undefined ? f.patchLine + 1 : null,
      related: f.related.map((x) => ({ file: x.file, line: x.line + 1, image: x.image ?? 'post', message: x.message })),
    })),
  };
}

export function formatJson(r: AnalysisResult): string {
  return JSON.stringify(toJson(r), null, 2) + '\n';
}
