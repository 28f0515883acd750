// bench:deploy: how many of the kpatch corpus's PASS patches that apply to Debian 6.1 the
// kbuild backend turns into a livepatch module that loads and works on the real kernel.
//
//   npm run bench:deploy -- [--corpus DIR] [--tree DIR] [--limit N] [--only SUBSTR]
//   node --import tsx scripts/bench-deploy.ts --host-only [--corpus DIR] [--tree DIR]
//        [--headers DIR] [--kallsyms FILE] [--limit N] [--keep DIR]
//
// Default: boot the test VM (KLP_TESTVM_NAME, default bench), and for each patch generate
// from the VM's own kallsyms, build on this machine, upload and load through the client's
// code, check /sys/kernel/livepatch, run the corpus's *-LOADED.test in the VM where the patch
// has one, check the kernel log (oops, WARN) and the taint (only K, O, E allowed), disable
// and unload. --host-only: generate and build here, stop there (no VM). Patches are
// grouped by the post-images they produce: two corpus files that differ only in
// context lines make the same module, so it is built once and counted once.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzePatches } from '../server/src/engine/analyze';
import { createParser } from '../server/src/engine/parse/parser';
import { KernelTree } from '../server/src/engine/tree/kernelTree';
import { generatePatchedUnit } from '../server/src/engine/generate/patchedUnit';
import { GenerateError } from '../server/src/engine/generate/moduleGenerator';
import { Kallsyms, parseSymversObjects } from '../server/src/engine/generate/symbols';
import { KlpElfError } from '../server/src/engine/generate/klpElf';
import { buildOnHost, HostBuildError } from '../server/src/build/hostBuild';
import { installedHeaders, kernelTreePath } from '../testing/requirements';
import { VmBench } from './lib/vmBench';
import { BuildFailed } from '../client/src/deploy/operations';

interface Args {
  hostOnly: boolean;
  corpus: string;
  tree: string;
  headers: string | null;
  kallsyms: string | null;
  limit: number;
  keep: string | null;
  only: string | null;
  config: string | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    hostOnly: false,
    corpus: path.resolve(__dirname, '..', '..', 'shared', 'corpus', 'kpatch'),
    tree: kernelTreePath(),
    headers: null,
    kallsyms: null,
    limit: Infinity,
    keep: null,
    only: null,
    config: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const v = () => {
      if (argv[i + 1] === undefined) throw new Error(`${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--host-only':
        a.hostOnly = true;
        break;
      case '--corpus':
        a.corpus = v();
        break;
      case '--tree':
        a.tree = v();
        break;
      case '--headers':
        a.headers = v();
        break;
      case '--kallsyms':
        a.kallsyms = v();
        break;
      case '--limit':
        a.limit = Number(v());
        break;
      case '--keep':
        a.keep = v();
        break;
      case '--only':
        a.only = v();
        break;
      case '--config':
        a.config = v();
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return a;
}

interface Row {
  patch: string;
  copies: number;
  outcome:
    | 'built'
    | 'deployed'
    | 'refused'
    | 'build-failed'
    | 'load-failed'
    | 'verify-failed'
    | 'findings'
    | 'not-applicable'
    | 'vm-crashed';
  reasons: string[];
  buildSeconds: number | null;
  loadSeconds: number | null;
  /** The corpus's LOADED test: null when the patch has none. */
  loadedTest: 'pass' | 'fail' | null;
  moduleTest?: 'pass' | 'fail' | 'not-run' | null;
}

/** A refusal's reason with its symbol names taken out, so equal reasons count together. */
function reasonClass(message: string, symbol?: string): string {
  let m = message;
  if (symbol) for (const part of symbol.split(':')) if (part) m = m.split(part).join('<sym>');
  return m
    .replace(/\b\d+\b/g, 'N')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\s+/g, ' ')
    .slice(0, 200);
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  let vm = args.hostOnly ? null : await VmBench.start();
  const headers = args.headers ?? (installedHeaders() ? path.join('/usr/src', installedHeaders()!) : null);
  if (!headers || !fs.existsSync(path.join(headers, 'Module.symvers'))) throw new Error('no kernel headers: --headers DIR');
  const exported = parseSymversObjects(fs.readFileSync(path.join(headers, 'Module.symvers'), 'utf8'));
  let kallsyms = args.kallsyms ? new Kallsyms(fs.readFileSync(args.kallsyms, 'utf8')) : vm ? new Kallsyms(vm.inputs.kallsyms) : null;
  const parser = await createParser();
  // Module or built-in is the target's .config's answer (the VM's own, in the VM bench).
  const config = args.config ?? vm?.configFile ?? null;
  const tree = KernelTree.open(args.tree, config);

  const index = fs
    .readFileSync(path.join(args.corpus, 'INDEX.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split('\t'));
  const candidates = index
    .filter((c) => c[2] === 'PASS' && (c[5] === 'yes' || c[5] === 'yes-C1') && (!args.only || `${c[0]}/${c[1]}`.includes(args.only)))
    .map((c) => `${c[0]}/${c[1]}`);
  // Column 8 names the patch's test: `*-LOADED.test` runs in the VM with the patch loaded;
  // any other `*.test` checks the built module (run here on the .ko).
  const tests = index.filter((c) => c[7] && c[7] !== '-');
  const loadedTests = new Map(tests.filter((c) => c[7].endsWith('-LOADED.test')).map((c) => [`${c[0]}/${c[1]}`, `${c[0]}/${c[7]}`]));
  const moduleTests = new Map(tests.filter((c) => !c[7].endsWith('-LOADED.test')).map((c) => [`${c[0]}/${c[1]}`, `${c[0]}/${c[7]}`]));
  process.stderr.write(`bench-deploy: ${candidates.length} PASS patch files apply to 6.1; analysing\n`);

  // Group by post-image: equal post-images make equal modules.
  const groups = new Map<string, { names: string[]; result: Awaited<ReturnType<typeof analyzePatches>> | null; error: string | null }>();
  for (const name of candidates) {
    const text = fs.readFileSync(path.join(args.corpus, name));
    let key: string;
    let result: Awaited<ReturnType<typeof analyzePatches>> | null = null;
    let error: string | null = null;
    try {
      result = await analyzePatches([{ name: path.basename(name), text }], { tree: args.tree, config, parser });
      // The engine's parse budget is for editors; on a loaded machine a big file can miss it once.
      if (result.notes.some((n) => /did not finish parsing/.test(n)))
        result = await analyzePatches([{ name: path.basename(name), text }], { tree: args.tree, config, parser });
      const posts = result.changes
        .flat()
        .map((c) => `${c.path}\0${c.post?.text ?? ''}`)
        .sort()
        .join('\0');
      key = crypto.createHash('sha1').update(posts).digest('hex');
    } catch (err) {
      error = (err as Error).message.split('\n')[0];
      key = `error:${name}`;
    }
    const g = groups.get(key);
    if (g) g.names.push(name);
    else groups.set(key, { names: [name], result, error });
  }
  process.stderr.write(`bench-deploy: ${groups.size} distinct post-images\n`);

  const rows: Row[] = [];
  const workRoot = args.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'bench-deploy-'));
  let n = 0;
  let crashes = 0;
  for (const g of groups.values()) {
    if (n++ >= args.limit) break;
    const row: Row = {
      patch: g.names[0],
      copies: g.names.length,
      outcome: 'built',
      reasons: [],
      buildSeconds: null,
      loadSeconds: null,
      loadedTest: null,
    };
    rows.push(row);
    if (!g.result) {
      row.outcome = 'not-applicable';
      row.reasons.push(g.error ?? 'analysis failed');
      continue;
    }
    const errors = g.result.findings.filter((f) => f.severity === 'error');
    if (errors.length) {
      row.outcome = 'findings';
      row.reasons.push(...new Set(errors.map((f) => `[${f.rule}]`)));
      continue;
    }
    const name =
      'livepatch_' +
      path
        .basename(g.names[0], '.patch')
        .replace(/[^a-z0-9_]+/gi, '_')
        .toLowerCase()
        .slice(0, 40);
    try {
      let m = generatePatchedUnit(g.result, { name, tree, parser, exported, kallsyms });
      if (vm) {
        // A patch to a module: load that module first, so the patch binds and applies at once.
        if (await vm.loadObjects(m.objects)) {
          kallsyms = new Kallsyms(vm.inputs.kallsyms);
          m = generatePatchedUnit(g.result, { name, tree, parser, exported, kallsyms });
        }
        const test = g.names.map((x) => loadedTests.get(x)).find((x) => x !== undefined) ?? null;
        const mtest = g.names.map((x) => moduleTests.get(x)).find((x) => x !== undefined) ?? null;
        await vm.deploy(m, row, test ? path.join(args.corpus, test) : null, mtest ? path.join(args.corpus, mtest) : null);
      } else {
        const b = await buildOnHost({ headersDir: headers, dir: path.join(workRoot, `${n}-${name}`), module: m, exported, kallsyms });
        row.buildSeconds = b.seconds;
      }
    } catch (err) {
      if (err instanceof GenerateError) {
        row.outcome = 'refused';
        row.reasons.push(...new Set(err.refusals.map((r) => reasonClass(r.message, r.symbol))));
      } else if (err instanceof HostBuildError || err instanceof KlpElfError) {
        row.outcome = 'build-failed';
        row.reasons.push(
          err instanceof HostBuildError ? `${err.message.split('\n')[0]}: ${err.messages[0] ?? ''}`.slice(0, 300) : err.message,
        );
      } else if (err instanceof BuildFailed) {
        row.outcome = 'build-failed';
        row.reasons.push(err.message.split('\n').slice(0, 2).join(' ').slice(0, 300));
      } else if (vm) {
        // The VM stopped answering (an oops in the patched code, say): this row failed; the
        // console keeps the kernel's last words, and a fresh boot runs the rest.
        row.outcome = 'vm-crashed';
        row.reasons.push(
          `the VM stopped answering: ${(err as Error).message.split('\n')[0].slice(0, 160)}; console: ${vm.lastOops() ?? 'no oops on the console'}`,
        );
        crashes++;
        const kept = vm.saveConsole(path.join(workRoot, `${n}-${name}-console.log`));
        process.stderr.write(`  ${row.outcome.padEnd(14)} ${row.patch} (${row.copies}): ${row.reasons[0]} (console saved to ${kept})\n`);
        await vm.stop(true);
        vm = await VmBench.start();
        kallsyms = new Kallsyms(vm.inputs.kallsyms);
        continue;
      } else throw err;
    }
    process.stderr.write(`  ${row.outcome.padEnd(14)} ${row.patch} (${row.copies})${row.reasons.length ? ': ' + row.reasons[0] : ''}\n`);
  }

  // Table, reasons with counts, summary line.
  const out: string[] = [vm ? 'patch\tcopies\toutcome\tbuild s\tload s\tLOADED test\treason' : 'patch\tcopies\toutcome\tbuild s\treason'];
  for (const r of rows) {
    out.push(
      vm
        ? `${r.patch}\t${r.copies}\t${r.outcome}\t${r.buildSeconds?.toFixed(1) ?? '-'}\t${r.loadSeconds?.toFixed(1) ?? '-'}\t${r.loadedTest ?? '-'}\t${r.reasons.join('; ')}`
        : `${r.patch}\t${r.copies}\t${r.outcome}\t${r.buildSeconds?.toFixed(1) ?? '-'}\t${r.reasons.join('; ')}`,
    );
  }
  const reasons = new Map<string, number>();
  for (const r of rows)
    if (!['built', 'deployed', 'findings', 'not-applicable'].includes(r.outcome))
      for (const x of r.reasons) reasons.set(x, (reasons.get(x) ?? 0) + 1);
  out.push('', 'reasons (distinct patches):');
  for (const [x, c] of [...reasons].sort((a, b) => b[1] - a[1])) out.push(`${String(c).padStart(4)}  ${x}`);
  const eligible = rows.filter((r) => r.outcome !== 'findings' && r.outcome !== 'not-applicable');
  const median = (xs: number[]): number => {
    const v = [...xs].sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)] : NaN;
  };
  out.push(
    '',
    `excluded: ${rows.filter((r) => r.outcome === 'findings').length} with error-level findings, ${rows.filter((r) => r.outcome === 'not-applicable').length} not applicable`,
  );
  if (vm) {
    await vm.stop();
    const deployed = rows.filter((r) => r.outcome === 'deployed');
    const tests = rows.filter((r) => r.loadedTest !== null);
    const mtests = rows.filter((r) => r.moduleTest);
    if (mtests.length)
      out.push(
        `module tests (corpus *.test on the built .ko): ${mtests.filter((r) => r.moduleTest === 'pass').length}/${mtests.length} pass${mtests.some((r) => r.moduleTest === 'not-run') ? `, ${mtests.filter((r) => r.moduleTest === 'not-run').length} not run` : ''}`,
      );
    const builds = rows.filter((r) => r.buildSeconds !== null).map((r) => r.buildSeconds!);
    const loads = rows.filter((r) => r.loadSeconds !== null).map((r) => r.loadSeconds!);
    if (crashes) out.push(`the VM crashed ${crashes} time(s) and was booted again`);
    out.push(
      `bench:deploy: ${deployed.length}/${eligible.length} deployed and verified, ${tests.filter((r) => r.loadedTest === 'pass').length}/${tests.length} LOADED tests pass, median build ${median(builds).toFixed(1)} s, median load ${median(loads).toFixed(1)} s`,
    );
  } else {
    const built = rows.filter((r) => r.outcome === 'built');
    out.push(
      `bench:deploy (host-only): ${built.length}/${eligible.length} built into livepatch modules (${built.reduce((s, r) => s + r.copies, 0)}/${eligible.reduce((s, r) => s + r.copies, 0)} corpus files), median build ${median(built.map((r) => r.buildSeconds!)).toFixed(1)} s`,
    );
  }
  process.stdout.write(out.join('\n') + '\n');
  if (!args.keep) fs.rmSync(workRoot, { recursive: true, force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench-deploy: ${(err as Error).stack ?? err}\n`);
    process.exit(2);
  },
);
