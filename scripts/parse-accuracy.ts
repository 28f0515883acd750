// npm run bench:parse [-- --tree DIR] [--backend wasm|native] [--top N] [--all-misses]
//
// Share of kernel function definitions whose name and line range the indexer
// gets right, with and without blank(), over every .c/.h under kernel/, mm/,
// fs/ext4/ and net/ipv4/ of the 6.1 tree. The ground truth is the kernel-style
// oracle of tools/parse-accuracy/accuracy.ts (no tree-sitter involved).

import * as fs from 'node:fs';
import { createParser, type Backend } from '../server/src/engine/parse/parser';
import {
  ACCURACY_DIRS,
  defaultKernelTree,
  listSourceFiles,
  measure,
  missPatterns,
  pct,
  type Miss,
  type Mode,
  type Summary,
} from '../tools/parse-accuracy/accuracy';

function parseArgs(argv: string[]): { tree: string; backend: Backend; top: number; allMisses: boolean } {
  const a = { tree: defaultKernelTree(), backend: 'wasm' as Backend, top: 10, allMisses: false };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split('=', 2);
    const v = () => inline ?? argv[++i];
    if (k === '--tree') a.tree = v();
    else if (k === '--backend') a.backend = v() as Backend;
    else if (k === '--top') a.top = Number(v());
    else if (k === '--all-misses') a.allMisses = true;
    else {
      console.error(`parse-accuracy: unknown argument ${argv[i]}`);
      process.exit(2);
    }
  }
  return a;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
}

function where(m: Miss): string {
  return `${m.file}:${m.fn.braceLine + 1}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(args.tree)) {
    console.error(`parse-accuracy: no kernel tree at ${args.tree} (run scripts/fetch-kernel-source.sh or pass --tree)`);
    process.exit(2);
  }
  const files = listSourceFiles(args.tree);
  console.log(`parse accuracy: ${args.tree} (${ACCURACY_DIRS.join(', ')}), ${files.length} files, ${args.backend} parser`);
  const parser = await createParser(args.backend);
  const results: Record<Mode, Summary> = {
    raw: await measure(parser, args.tree, files, 'raw'),
    blanked: await measure(parser, args.tree, files, 'blanked'),
  };
  const w = [16, 6, 5, 10, 8, 8, 9, 13, 12, 7];
  console.log('');
  console.log(row(['mode', 'files', 'MB', 'functions', 'name ok', 'name %', 'range ok', 'name+range %', 'files w/ ERR', 'time s'], w));
  for (const mode of ['raw', 'blanked'] as Mode[]) {
    const s = results[mode];
    console.log(
      row(
        [
          mode === 'raw' ? 'raw (parseRaw)' : 'blank() (parse)',
          s.files,
          (s.bytes / 1048576).toFixed(1),
          s.oracle,
          s.nameOk,
          pct(s.nameOk, s.oracle),
          s.rangeOk,
          pct(s.rangeOk, s.oracle),
          s.filesWithErrors,
          (s.ms / 1000).toFixed(1),
        ],
        w,
      ),
    );
  }
  const macroFns = (s: Summary) => s.misses.filter((m) => m.fn.macro).length;
  console.log(
    `(macro-defined heads such as SYSCALL_DEFINEn among the misses: raw ${macroFns(results.raw)}, blanked ${macroFns(results.blanked)})`,
  );

  for (const mode of ['raw', 'blanked'] as Mode[]) {
    const s = results[mode];
    const pats = missPatterns(s.misses);
    console.log('');
    console.log(`top ${Math.min(args.top, pats.length)} miss patterns, ${mode} (${s.misses.length} misses in ${pats.length} patterns):`);
    for (const p of pats.slice(0, args.top)) {
      const e = p.example;
      console.log(`  ${String(p.count).padStart(5)}  ${p.pattern}`);
      console.log(`         e.g. ${where(e)} ${e.fn.name}() [got ${e.got}]: ${e.fn.head.slice(0, 110)}`);
    }
  }
  if (args.allMisses) {
    console.log('');
    console.log('all misses (blanked):');
    for (const m of results.blanked.misses)
      console.log(`  ${where(m)}  ${m.kind}  ${m.fn.name} [got ${m.got}]  ${m.fn.head.slice(0, 120)}`);
  }
  const b = results.blanked;
  console.log('');
  console.log(
    `bench:parse: name+range ${pct(b.rangeOk, b.oracle)} blanked, ${pct(results.raw.rangeOk, results.raw.oracle)} raw; ` +
      `name ${pct(b.nameOk, b.oracle)} blanked, ${pct(results.raw.nameOk, results.raw.oracle)} raw; ${b.oracle} functions in ${b.files} files`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
