// Hover on a finding: the rule in a few sentences and what the build tool would
// print, taken from the rule's documentation page.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Hover, Position } from 'vscode-languageserver';
import { MarkupKind } from 'vscode-languageserver';
import { findingKind } from '../engine/rules';
import type { DocAnalysis } from './documentAnalyzer';

const docCache = new Map<string, Record<string, string>>();

/** `**Why:** ...` style sections of docs/rules/<id>.md. */
export function ruleDocSections(docsDir: string | null, id: string): Record<string, string> {
  if (!docsDir) return {};
  if (!docCache.has(id)) {
    const sections: Record<string, string> = {};
    try {
      const text = fs.readFileSync(path.join(docsDir, `${id}.md`), 'utf8');
      const re = /^\*\*([^*]+):\*\*\s*([\s\S]*?)(?=^\*\*[^*]+:\*\*|(?![\s\S]))/gm;
      let m: RegExpExecArray | null;
      while ((m = re.exec(text))) sections[m[1].trim().toLowerCase()] = m[2].trim().replace(/\n(?!\n)/g, ' ');
    } catch {
      // No page for this rule: the hover falls back to the rule title.
    }
    docCache.set(id, sections);
  }
  return docCache.get(id)!;
}

export function hoverAt(a: DocAnalysis, pos: Position, docsDir: string | null): Hover | null {
  const hits = a.diagnostics.filter((d) => d.code && d.range.start.line <= pos.line && pos.line <= d.range.end.line && d.data);
  if (!hits.length) return null;
  const parts: string[] = [];
  for (const d of hits) {
    const id = String(d.code);
    const rule = findingKind(id);
    const s = ruleDocSections(docsDir, id);
    const lines = [`**${id}** — ${rule?.title ?? ''}`];
    if (s.why) lines.push('', s.why);
    const prints = s['kpatch-build prints'] ?? s['build tools print'];
    if (prints) lines.push('', `kpatch-build: ${prints}`);
    if (s.instead) lines.push('', `Instead: ${s.instead}`);
    parts.push(lines.join('\n'));
  }
  return { contents: { kind: MarkupKind.Markdown, value: parts.join('\n\n---\n\n') }, range: hits[0].range };
}
