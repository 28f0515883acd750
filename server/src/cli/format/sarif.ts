// SARIF 2.1.0 for code-scanning uploads.

import type { AnalysisResult } from '../../engine';
import { allRules, engineFindingIds } from '../../engine';

const LEVEL = { error: 'error', warning: 'warning', info: 'note' } as const;

export function formatSarif(r: AnalysisResult, version: string): string {
  const used = [...new Set(r.findings.map((f) => f.rule))];
  const rules = [...allRules, ...engineFindingIds]
    .filter(() => used.length >= 0)
    .map((x) => ({
      id: x.id,
      name: x.id.replace(/(^|-)(\w)/g, (_m, _d, c: string) => c.toUpperCase()),
      shortDescription: { text: x.title },
      defaultConfiguration: { level: LEVEL[x.severity] },
      helpUri: `https://github.com/kernel-livepatch/kernel-livepatch/blob/main/docs/rules/${x.id}.md`,
    }));
  const index = new Map(rules.map((x, i) => [x.id, i]));
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: { name: 'livepatch-check', version, informationUri: 'https://github.com/kernel-livepatch/kernel-livepatch', rules },
        },
        originalUriBaseIds: r.tree ? { KERNEL: { uri: 'file://' + r.tree.replace(/\/?$/, '/') } } : undefined,
        invocations: [
          { executionSuccessful: true, toolExecutionNotifications: r.notes.map((n) => ({ level: 'note', message: { text: n } })) },
        ],
        results: r.findings.map((f) => ({
          ruleId: f.rule,
          ruleIndex: index.get(f.rule),
          level: LEVEL[f.severity],
          message: { text: f.message },
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: f.file, uriBaseId: r.tree ? 'KERNEL' : undefined },
                region: { startLine: f.line + 1, endLine: f.endLine + 1 },
              },
              logicalLocations: f.function
                ? [{ name: f.function, kind: 'function' }]
                : f.symbol
                  ? [{ name: f.symbol, kind: 'type' }]
                  : undefined,
            },
          ],
          relatedLocations: f.related.map((x, i) => ({
            id: i + 1,
            message: { text: x.message },
            physicalLocation: {
              artifactLocation: { uri: x.file, uriBaseId: r.tree ? 'KERNEL' : undefined },
              region: { startLine: x.line + 1 },
            },
          })),
          partialFingerprints: { 'livepatchFinding/v1': `${f.rule}:${f.file}:${f.symbol ?? f.function ?? ''}` },
        })),
      },
    ],
  };
  return JSON.stringify(log, null, 2) + '\n';
}
