// The JSON contract (version 1). Lines are 1-based post-image lines of the kernel file.

import { toWireFinding, type AnalysisResult } from '../../engine';

export function toJson(r: AnalysisResult): object {
  return {
    version: 1,
    tree: r.tree,
    patches: r.patches,
    notes: r.notes,
    findings: r.findings.map((f) => toWireFinding(f, r.patches)),
  };
}

export function formatJson(r: AnalysisResult): string {
  return JSON.stringify(toJson(r), null, 2) + '\n';
}
