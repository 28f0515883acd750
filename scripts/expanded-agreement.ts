// The raw view (tree-sitter on the source) against the preprocessor's view (gcc -E with the
// headers package's kbuild flags) over the parse-accuracy sample of real 6.1 files: how often
// they agree on function attributes (sections, notrace), how many definitions only the
// expanded view shows (made by macros), and what a gcc -E run costs per file.
// node --import tsx scripts/expanded-agreement.ts [--tree DIR] [--headers DIR] [--count N]

import * as fs from 'node:fs';
import * as path from 'node:path';
import { ACCURACY_DIRS, defaultKernelTree, listSourceFiles, sampleFiles } from '../tools/parse-accuracy/accuracy';
import { createParser } from '../server/src/engine/parse/parser';
import { indexSource } from '../server/src/engine/index/indexer';
import { applyExpanded } from '../server/src/engine/expand/expanded';
import { ExpandedViews, kbuildCompiler } from '../server/src/build/preprocess';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};

(async () => {
  const tree = arg('--tree', defaultKernelTree());
  const headers = arg('--headers', '/usr/src/linux-headers-6.1.0-57-amd64');
  const count = Number(arg('--count', '60'));
  const parser = await createParser('wasm');
  const views = new ExpandedViews(kbuildCompiler(headers), tree, 4);
  const files = sampleFiles(listSourceFiles(tree, ACCURACY_DIRS), count).filter((f) => f.endsWith('.c'));
  let matched = 0,
    agree = 0,
    added = 0,
    dropped = 0,
    onlyExpanded = 0,
    onlyRaw = 0,
    failed = 0;
  const examples: string[] = [];
  for (const rel of files) {
    const text = fs.readFileSync(path.join(tree, rel), 'utf8');
    const view = views.getSync(rel, text);
    if (!view) {
      failed++;
      console.log(`  ${rel}: ${views.failure(rel, text)}`);
      continue;
    }
    const raw = indexSource(parser, rel, text);
    const out = applyExpanded(raw, view);
    const rawNames = new Set(raw.functions.map((f) => f.name));
    const viewNames = new Set(view.functions.map((f) => f.name));
    for (const f of out.functions) {
      if (!viewNames.has(f.name)) continue;
      matched++;
      if (!f.expansion) agree++;
      else {
        added += f.expansion.added.length ? 1 : 0;
        dropped += f.expansion.dropped.length ? 1 : 0;
        if (examples.length < 12)
          examples.push(`${rel}: ${f.name}() +[${f.expansion.added.join(' ')}] -[${f.expansion.dropped.join(' ')}]`);
      }
    }
    onlyExpanded += [...viewNames].filter((n) => !rawNames.has(n)).length;
    onlyRaw += [...rawNames].filter((n) => !viewNames.has(n)).length;
  }
  const c = [...views.costs].sort((a, b) => a - b);
  const q = (p: number) => Math.round(c[Math.min(c.length - 1, Math.floor(p * c.length))] ?? 0);
  console.log(`files: ${files.length} (.c of the parse-accuracy sample, ${ACCURACY_DIRS.join(' ')}), gcc -E failed on ${failed}`);
  console.log(
    `functions in both views: ${matched}; attributes agree: ${agree} (${((100 * agree) / Math.max(1, matched)).toFixed(1)}%); expanded view adds to ${added}, drops from ${dropped}`,
  );
  console.log(
    `definitions only the expanded view has (made by macros, named differently): ${onlyExpanded}; only the raw view has (#if'd out for this config, or misparsed): ${onlyRaw}`,
  );
  console.log(`gcc -E + read per file: median ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms`);
  for (const e of examples) console.log(`  ${e}`);
})();
