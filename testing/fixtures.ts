// Test support: a fixture case is a folder with `before/` (the kernel tree the
// patch applies to) and `after/` (the same files after the change). The patch
// is generated from the two with jsdiff, so fixtures stay readable C and the
// diff reader is exercised on every case.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { analyzePatches, type AnalysisResult, type AnalyzeOptions } from '../server/src/engine/analyze';
import type { Finding } from '../server/src/engine/model';

function listFiles(dir: string, rel = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, r));
    else out.push(r);
  }
  return out.sort();
}

/** A git-style patch turning `before/` into `after/`. */
export function makePatch(caseDir: string): string {
  const before = path.join(caseDir, 'before');
  const after = path.join(caseDir, 'after');
  const names = [...new Set([...listFiles(before), ...listFiles(after)])].sort();
  let out = '';
  for (const n of names) {
    const a = fs.existsSync(path.join(before, n)) ? fs.readFileSync(path.join(before, n), 'utf8') : null;
    const b = fs.existsSync(path.join(after, n)) ? fs.readFileSync(path.join(after, n), 'utf8') : null;
    if (a === b) continue;
    const p = createTwoFilesPatch(a === null ? '/dev/null' : `a/${n}`, b === null ? '/dev/null' : `b/${n}`, a ?? '', b ?? '', '', '', {
      context: 3,
    });
    // jsdiff writes an "Index:"/"====" preamble; git-style headers are what kernel patches carry,
    // including git's default hunk heading (the last line above the hunk that starts with a letter).
    const oldLines = (a ?? '').split('\n');
    const body = p
      .split('\n')
      .filter((l) => !l.startsWith('Index: ') && !/^=+$/.test(l))
      .map((l) => {
        const m = /^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@$/.exec(l);
        if (!m) return l;
        for (let i = Number(m[1]) - 2; i >= 0; i--) if (/^[A-Za-z_$]/.test(oldLines[i] ?? '')) return `${l} ${oldLines[i].slice(0, 40)}`;
        return l;
      })
      .join('\n');
    out +=
      `diff --git a/${n} b/${n}\n` +
      (a === null ? 'new file mode 100644\n' : b === null ? 'deleted file mode 100644\n' : '') +
      body.replace(/^--- (.*?)\t$/m, '--- $1').replace(/^\+\+\+ (.*?)\t$/m, '+++ $1');
  }
  return out;
}

export const FIXTURES = path.join(__dirname, '..', 'server', 'src', 'engine', 'rules', 'fixtures');

export function caseDir(rule: string, name: string): string {
  return path.join(FIXTURES, rule, name);
}

/** Runs the engine on a fixture case, with its `before/` as the tree (or no tree). */
export async function runCase(
  dir: string,
  opts: AnalyzeOptions & { withoutTree?: boolean } = {},
): Promise<AnalysisResult & { patch: string }> {
  const patch = makePatch(dir);
  const tree = opts.withoutTree ? null : path.join(dir, 'before');
  const result = await analyzePatches([{ name: 'case.patch', text: patch }], { tree, ...opts });
  return { ...result, patch };
}

/** Findings of one rule. */
export function ofRule(r: AnalysisResult, rule: string): Finding[] {
  return r.findings.filter((f) => f.rule === rule);
}
