// npm run bench [-- --tree DIR] [--corpus DIR] [--reps N] [--budget SECONDS] [--parse-rounds N]
//
// (a) Cold CLI wall time per 6.1-applicable corpus patch: `node dist/livepatch-check.js
//     --tree T --format json P`, one fresh process per run, several reps, with an index store
//     (KLP_INDEX_CACHE) that starts empty: rep 1 is a first check, the later reps a check run again.
// (b) Parse + index time of the three biggest kernel files those patches touch (pre and post image).
// (c) wasm vs native tree-sitter parse throughput in this process, interleaved, same files.
// (d) Peak RSS of the CLI runs (/usr/bin/time -f %M when present, else a node wrapper
//     that prints process.resourceUsage().maxRSS at exit).
// (e) A series: 50 corpus patches (those that check, cycled) in one `livepatch-check` process
//     against the same 50 in one process each; and one synthetic 50-file patch against
//     the tree's `scripts/checkpatch.pl --no-tree` on the same patch (the first run of ours
//     stores the indexes of both images of the 50 files; W and V are medians of 3 runs after it).
// (f) Where the time of the (a) runs goes, by phase: each run prints its own breakdown (KLP_TIMINGS=1).
// Plus a baseline taken in the same run: `node -e 0` and `livepatch-check --version` up front, and
// `node -e 0` again just before each (a) run: the (a) ratios are against those.
//
// The line before the last is: series: 50 patches in one process X ms vs 50 processes Y ms (Zx); 50-file patch W ms vs checkpatch.pl --no-tree V ms (first run U ms)
// The last line is: bench: patch median X ms, p90 Y ms, peak RSS Z MB, wasm/native parse ratio R

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createParser, type CParser, type SyntaxTree } from '../server/src/engine/parse/parser';
import { blank } from '../server/src/engine/parse/blank';
import { indexSource } from '../server/src/engine/index/indexer';
import { readPatch } from '../server/src/engine/diff/readPatch';
import { buildImages } from '../server/src/engine/diff/images';
import { analyzePatches } from '../server/src/engine/analyze';
import { defaultKernelTree } from '../tools/parse-accuracy/accuracy';
import { cliPath, defaultCorpus, loadCorpus, type CorpusPatch } from './bench-corpus';
import { median, quantile } from './lib/stats';

interface Args {
  tree: string;
  corpus: string;
  reps: number;
  budget: number;
  parseRounds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { tree: defaultKernelTree(), corpus: defaultCorpus(), reps: 3, budget: 90, parseRounds: 3 };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split('=', 2);
    const v = () => inline ?? argv[++i];
    if (k === '--tree') a.tree = path.resolve(v());
    else if (k === '--corpus') a.corpus = path.resolve(v());
    else if (k === '--reps') a.reps = Math.max(1, Number(v()));
    else if (k === '--budget') a.budget = Number(v());
    else if (k === '--parse-rounds') a.parseRounds = Math.max(1, Number(v()));
    else {
      console.error(`bench: unknown argument ${argv[i]}`);
      process.exit(2);
    }
  }
  return a;
}

interface Sample {
  wallMs: number;
  /** user + system CPU of the child, ms (NaN when unknown). */
  cpuMs: number;
  /** Peak RSS, KB (NaN when unknown). */
  rssKb: number;
  code: number | null;
  /** The CLI's own breakdown (KLP_TIMINGS), when it printed one: phase -> ms. */
  phases?: Record<string, number>;
  totalMs?: number;
}

const TIME_BIN = '/usr/bin/time';
const haveTime = (() => {
  try {
    return spawnSync(TIME_BIN, ['-f', '%M', 'true'], { encoding: 'utf8' }).status === 0;
  } catch {
    return false;
  }
})();

// Fallback: run the CLI's main() inside a wrapper that reports its own resource usage.
const WRAPPER = `
const cli = process.env.KLP_BENCH_CLI, out = process.env.KLP_BENCH_OUT;
process.on('exit', () => { const u = process.resourceUsage();
  require('fs').writeFileSync(out, (u.userCPUTime + u.systemCPUTime) / 1000 + ' ' + u.maxRSS); });
require(cli).main(process.argv.slice(1)).then((c) => { process.exitCode = c; });`;

const statFile = path.join(os.tmpdir(), `klp-bench-${process.pid}.txt`);

/** One fresh process: `node <args>`, timed from spawn to exit. */
function spawnNode(args: string[], viaCli = false, extraEnv: Record<string, string> = {}): Sample {
  let cmd = process.execPath;
  let argv = args;
  let env = { ...process.env, ...extraEnv };
  if (haveTime) {
    cmd = TIME_BIN;
    argv = ['-f', '%U %S %M', '-o', statFile, process.execPath, ...args];
  } else if (viaCli) {
    argv = ['-e', WRAPPER, '--', ...args.slice(1)];
    env = { ...env, KLP_BENCH_CLI: args[0], KLP_BENCH_OUT: statFile };
  }
  try {
    fs.rmSync(statFile, { force: true });
  } catch {}
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
  const wallMs = performance.now() - t0;
  let cpuMs = NaN;
  let rssKb = NaN;
  try {
    const f = fs.readFileSync(statFile, 'utf8').trim().split('\n').pop()!.split(/\s+/).map(Number);
    if (haveTime) {
      cpuMs = (f[0] + f[1]) * 1000;
      rssKb = f[2];
    } else {
      cpuMs = f[0];
      rssKb = f[1];
    }
  } catch {}
  const line = /^livepatch-check: timings: (.*)$/m.exec(r.stderr?.toString() ?? '');
  const t = line ? (JSON.parse(line[1]) as { totalMs: number; phases: Record<string, number> }) : null;
  return { wallMs, cpuMs, rssKb, code: r.status, phases: t?.phases, totalMs: t?.totalMs };
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(0) : '-';
}

/** Round-robin over patch names, so a budget cut still covers every kind of patch. */
function spread(patches: CorpusPatch[]): CorpusPatch[] {
  const byName = new Map<string, CorpusPatch[]>();
  for (const p of patches) byName.set(p.file, [...(byName.get(p.file) ?? []), p]);
  const out: CorpusPatch[] = [];
  for (let round = 0; out.length < patches.length; round++) {
    for (const list of byName.values()) if (list[round]) out.push(list[round]);
  }
  return out;
}

/** The CLI's phases (KLP_TIMINGS), grouped; every phase lands in exactly one group. */
const GROUPS: [string, (phase: string) => boolean][] = [
  ['node startup', (p) => p === 'node startup'],
  ['bundle load', (p) => p === 'bundle load'],
  ['wait for wasm', (p) => p === 'wait for wasm'],
  ['git', (p) => p.startsWith('git')],
  ['tree reads', (p) => p === 'tree reads'],
  ['blank', (p) => p === 'blank'],
  ['parse', (p) => p === 'parse'],
  ['parse (changed items)', (p) => p === 'parse (changed items)'],
  ['index', (p) => p === 'index'],
  ['index store', (p) => p === 'index store'],
  ['rules', (p) => p.startsWith('rule ')],
  ['patch, images, pairing, output', (p) => ['read patches', 'images', 'pair', 'output'].includes(p)],
  ['other', () => true],
];

/**
 * (f) Where a cold run's time goes: the mean of each group over the runs that printed
 * their phases (means add up, medians would not), and the slowest rules.
 */
function printBreakdown(samples: Sample[]): void {
  const withPhases = samples.filter((s) => s.phases);
  if (!withPhases.length) {
    console.log('(f) no run printed its phases (KLP_TIMINGS): no breakdown');
    return;
  }
  const sums = new Map<string, number>();
  const rules = new Map<string, number>();
  let total = 0;
  for (const s of withPhases) {
    total += s.totalMs ?? 0;
    for (const [phase, ms] of Object.entries(s.phases!)) {
      const g = GROUPS.find(([, is]) => is(phase))![0];
      sums.set(g, (sums.get(g) ?? 0) + ms);
      if (phase.startsWith('rule ')) rules.set(phase.slice(5), (rules.get(phase.slice(5)) ?? 0) + ms);
    }
  }
  const n = withPhases.length;
  const mean = (ms: number) => (ms / n).toFixed(1);
  console.log(
    `(f) where a cold run's time goes, mean over ${n} runs (KLP_TIMINGS; ${mean(total)} ms measured inside the process, ` +
      `the rest of the wall time is process creation and exit):`,
  );
  console.log('    ' + GROUPS.map(([g]) => `${g} ${mean(sums.get(g) ?? 0)}`).join(', '));
  const top = [...rules].sort((a, b) => b[1] - a[1]).slice(0, 5);
  console.log(`    slowest rules: ${top.map(([r, ms]) => `${r} ${mean(ms)}`).join(', ')}`);
}

async function yieldLoop(): Promise<void> {
  await new Promise((r) => setImmediate(r));
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  for (const [what, p] of [
    ['kernel tree', args.tree],
    ['corpus', path.join(args.corpus, 'INDEX.tsv')],
    ['CLI', cliPath()],
  ]) {
    if (!fs.existsSync(p)) {
      console.error(`bench: ${what} not found at ${p}`);
      process.exit(2);
    }
  }
  const cli = cliPath();
  const started = performance.now();
  console.log(`bench: tree ${args.tree}, corpus ${args.corpus}`);
  console.log(
    `  node ${process.version}, ${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; ` + `RSS/CPU via ${haveTime ? '/usr/bin/time' : 'a resourceUsage() wrapper'}`,
  );

  // Baseline, same run.
  const base: Sample[] = [];
  const version: Sample[] = [];
  for (let i = 0; i < 5; i++) {
    base.push(spawnNode(['-e', '0']));
    version.push(spawnNode([cli, '--version'], true));
  }
  const baseMs = median(base.map((s) => s.wallMs));
  console.log('');
  console.log(
    `baseline: node -e 0 ${fmt(baseMs)} ms (CPU ${fmt(median(base.map((s) => s.cpuMs)))} ms); ` +
      `livepatch-check --version ${fmt(median(version.map((s) => s.wallMs)))} ms (CPU ${fmt(median(version.map((s) => s.cpuMs)))} ms, RSS ${(median(version.map((s) => s.rssKb)) / 1024).toFixed(0)} MB)`,
  );

  // (a) + (d): CLI per patch. The CLI keeps tree files' indexes between runs
  // (~/.cache/kernel-livepatch/index): the bench gives it an empty store of its own, so the
  // first rep shows a first check of each file and the later reps a check run again.
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-bench-index-'));
  process.env.KLP_INDEX_CACHE = storeDir;
  process.on('exit', () => fs.rmSync(storeDir, { recursive: true, force: true }));
  const all = loadCorpus(args.corpus).filter((p) => !p.disabled);
  const order = spread(all);
  const runs = new Map<CorpusPatch, Sample[]>();
  const byRep: Sample[][] = [];
  const beside: Sample[] = [];
  const deadline = performance.now() + args.budget * 1000;
  let cut = false;
  for (let rep = 0; rep < args.reps && !cut; rep++) {
    for (const p of order) {
      if (performance.now() > deadline && (rep > 0 || runs.size >= Math.min(order.length, 12))) {
        cut = true;
        break;
      }
      // The baseline beside every run: on a noisy machine five runs up front can land in a
      // quiet (or a busy) minute the CLI runs never see, and the ratio would show the noise.
      beside.push(spawnNode(['-e', '0']));
      const s = spawnNode([cli, '--tree', args.tree, '--format', 'json', p.abs], true, { KLP_TIMINGS: '1' });
      runs.set(p, [...(runs.get(p) ?? []), s]);
      (byRep[rep] ??= []).push(s);
    }
  }
  const samples = [...runs.values()].flat();
  const ok = [...runs].filter(([, s]) => s.some((x) => x.code === 0 || x.code === 1));
  const walls = ok.flatMap(([, s]) => s.map((x) => x.wallMs));
  const cpus = ok.flatMap(([, s]) => s.map((x) => x.cpuMs)).filter(Number.isFinite);
  const rss = samples.map((s) => s.rssKb).filter(Number.isFinite);
  const med = median(walls);
  const besideMs = median(beside.map((x) => x.wallMs));
  const p90 = quantile(walls, 0.9);
  const peakRssMb = rss.length ? Math.max(...rss) / 1024 : NaN;
  console.log('');
  console.log(
    `(a) CLI wall time, cold process per run: ${samples.length} runs over ${runs.size} of ${all.length} distinct patches ` +
      `(${args.reps} reps${cut ? `, cut by the ${args.budget} s budget` : ''})`,
  );
  console.log(
    `    median ${fmt(med)} ms, p90 ${fmt(p90)} ms, min ${fmt(Math.min(...walls))} ms, max ${fmt(Math.max(...walls))} ms; ` +
      `CPU median ${fmt(median(cpus))} ms`,
  );
  console.log(
    `    against node -e 0 run just before each of them (median ${fmt(besideMs)} ms): median ${(med / besideMs).toFixed(2)}x (target <= 3x), ` +
      `p90 ${(p90 / besideMs).toFixed(2)}x (target <= 5x); against the ${fmt(baseMs)} ms up front: ${(med / baseMs).toFixed(2)}x, ${(p90 / baseMs).toFixed(2)}x`,
  );
  for (let r = 0; r < byRep.length; r++) {
    const w = byRep[r].filter((x) => x.code === 0 || x.code === 1).map((x) => x.wallMs);
    const stored = byRep[r].filter((x) => x.phases && !('parse' in x.phases)).length;
    console.log(
      `    rep ${r + 1}${r === 0 ? ' (index store empty at the start)' : ''}: median ${fmt(median(w))} ms (${(median(w) / besideMs).toFixed(2)}x), ` +
        `p90 ${fmt(quantile(w, 0.9))} ms (${(quantile(w, 0.9) / besideMs).toFixed(2)}x); ${stored} of ${byRep[r].length} runs parsed no whole file`,
    );
  }
  const target = ok.filter(([p]) => p.touched.length <= 5);
  const meets = target.filter(([, s]) => median(s.map((x) => x.wallMs)) <= 300);
  console.log(`    target <= 300 ms for 1-5-file patches: ${meets.length}/${target.length} patches meet it`);
  const bad = [...runs].filter(([, s]) => !s.some((x) => x.code === 0 || x.code === 1));
  for (const [p, s] of bad) console.log(`    exit ${s[0].code}: ${p.rel} (not timed)`);
  const slow = [...ok].sort((a, b) => median(b[1].map((x) => x.wallMs)) - median(a[1].map((x) => x.wallMs))).slice(0, 5);
  console.log(
    '    slowest: ' + slow.map(([p, s]) => `${p.rel} ${fmt(median(s.map((x) => x.wallMs)))} ms (${p.touched.length} files)`).join('; '),
  );
  console.log(`(d) peak RSS of the CLI runs: max ${peakRssMb.toFixed(0)} MB, median ${(median(rss) / 1024).toFixed(0)} MB`);
  printBreakdown(ok.flatMap(([, s]) => s));

  // (b) The three biggest touched files: parse + index of the pre and post image.
  const wasm = await createParser('wasm');
  const touched = new Map<string, { patch: CorpusPatch; size: number }>();
  for (const p of all) {
    for (const f of p.touched) {
      if (!/\.[ch]$/.test(f) || touched.has(f)) continue;
      try {
        touched.set(f, { patch: p, size: fs.statSync(path.join(args.tree, f)).size });
      } catch {}
    }
  }
  const biggest = [...touched].sort((a, b) => b[1].size - a[1].size).slice(0, 3);
  console.log('');
  console.log(
    '(b) biggest touched files: parse + index of pre and post image (wasm, ms; median of 3 after a warm-up), and the whole patch in-process (median of 3; target <= 150 ms)',
  );
  for (const [file, { patch }] of biggest) {
    const pre = fs.readFileSync(path.join(args.tree, file), 'utf8');
    const fp = readPatch(patch.text, patch.abs).files.find((f) => (f.newPath ?? f.oldPath) === file);
    let post = pre;
    try {
      post = (fp ? buildImages(fp, pre).post : null) ?? pre;
    } catch {}
    const timeIndex = (text: string) => {
      const t0 = performance.now();
      indexSource(wasm, file, text);
      return performance.now() - t0;
    };
    const first = timeIndex(pre);
    const pres: number[] = [];
    const posts: number[] = [];
    for (let i = 0; i < 3; i++) {
      pres.push(timeIndex(pre));
      posts.push(timeIndex(post));
    }
    // The whole patch in this process: the median of 3 runs (target <= 150 ms).
    let note = '';
    const wholes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      try {
        const r = await analyzePatches([{ name: patch.abs, text: patch.text }], { tree: args.tree, parser: wasm });
        note = `${r.findings.length} findings`;
      } catch (err) {
        note = `failed: ${(err as Error).message.split('\n')[0]}`;
      }
      wholes.push(performance.now() - t0);
    }
    const whole = median(wholes);
    console.log(
      `    ${file} ${(pre.length / 1024).toFixed(0)} KiB: pre ${fmt(median(pres))} + post ${fmt(median(posts))} = ${fmt(median(pres) + median(posts))} ms ` +
        `(first parse in this process ${fmt(first)} ms); analyzePatches(${patch.rel}) ${fmt(whole)} ms, ${note}`,
    );
  }

  // (c) wasm vs native, same process, same (blanked) texts, interleaved.
  console.log('');
  let ratio = NaN;
  let native: CParser | null = null;
  try {
    native = await createParser('native');
  } catch (err) {
    console.log(`(c) native parser unavailable: ${(err as Error).message.split('\n')[0]}`);
  }
  if (native) {
    const texts = [...touched.keys()].sort().map((f) => blank(fs.readFileSync(path.join(args.tree, f), 'utf8')));
    const bytes = texts.reduce((a, t) => a + t.length, 0);
    const total = { wasm: 0, native: 0 };
    const cpu = { wasm: 0, native: 0 };
    const parsers = { wasm, native };
    const once = async (which: 'wasm' | 'native', text: string, record: boolean) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const tree: SyntaxTree = parsers[which].parseRaw(text);
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      tree.delete();
      if (record) {
        total[which] += ms;
        cpu[which] += (c.user + c.system) / 1000;
      }
    };
    // Warm-up round, then rounds alternating which runtime goes first on each file.
    for (const t of texts) {
      await once('wasm', t, false);
      await once('native', t, false);
    }
    for (let r = 0; r < args.parseRounds; r++) {
      for (let i = 0; i < texts.length; i++) {
        const firstWasm = (r + i) % 2 === 0;
        await once(firstWasm ? 'wasm' : 'native', texts[i], true);
        await once(firstWasm ? 'native' : 'wasm', texts[i], true);
        // Native trees are freed by finalizers between event-loop turns.
        await yieldLoop();
      }
    }
    const mbps = (ms: number) => (bytes * args.parseRounds) / 1048576 / (ms / 1000);
    // The ratio uses CPU time: on a shared machine wall time also counts the waits for a core.
    ratio = cpu.wasm / cpu.native;
    console.log(
      `(c) parse throughput over ${texts.length} touched files (${(bytes / 1048576).toFixed(2)} MB blanked text), ${args.parseRounds} interleaved rounds:`,
    );
    console.log(
      `    wall: wasm ${mbps(total.wasm).toFixed(2)} MB/s, native ${mbps(total.native).toFixed(2)} MB/s, wasm/native ${(total.wasm / total.native).toFixed(2)}`,
    );
    console.log(
      `    CPU:  wasm ${mbps(cpu.wasm).toFixed(2)} MB/s, native ${mbps(cpu.native).toFixed(2)} MB/s, wasm/native ${ratio.toFixed(2)} (the ratio reported below)`,
    );
  }

  const series = seriesBench(
    args,
    cli,
    ok.map(([p]) => p),
  );

  console.log('');
  console.log(`(bench took ${((performance.now() - started) / 1000).toFixed(0)} s; load average now ${os.loadavg()[0].toFixed(2)})`);
  console.log(series);
  console.log(
    `bench: patch median ${fmt(med)} ms, p90 ${fmt(p90)} ms, peak RSS ${peakRssMb.toFixed(0)} MB, wasm/native parse ratio ${Number.isFinite(ratio) ? ratio.toFixed(2) : 'n/a'}`,
  );
  fs.rmSync(statFile, { force: true });
}

/**
 * (e) One process for a series of patches against one per patch, and a 50-file patch
 * against checkpatch. Returns the summary line.
 */
function seriesBench(args: Args, cli: string, checked: CorpusPatch[]): string {
  const n = 50;
  console.log('');
  if (!checked.length) return 'series: n/a (no corpus patch checked)';
  const list = Array.from({ length: n }, (_, i) => checked[i % checked.length]);
  const one = spawnNode([cli, '--tree', args.tree, '--format', 'json', ...list.map((p) => p.abs)], true);
  let separate = 0;
  for (const p of list) separate += spawnNode([cli, '--tree', args.tree, '--format', 'json', p.abs], true).wallMs;
  console.log(
    `(e) series of ${n} patches (${new Set(list).size} distinct, cycled): one process ${fmt(one.wallMs)} ms (exit ${one.code}, CPU ${fmt(one.cpuMs)} ms), ` +
      `${n} processes ${fmt(separate)} ms in all`,
  );

  // A 50-file patch: one added comment line near the top of 50 .c files of the tree.
  const files = bigPatchFiles(args.tree, n);
  const big = files
    .map((f) => {
      const lines = fs.readFileSync(path.join(args.tree, f), 'utf8').split('\n').slice(0, 3);
      while (lines.length < 3) lines.push('');
      return `--- a/${f}\n+++ b/${f}\n@@ -1,3 +1,4 @@\n ${lines[0]}\n+/* livepatch bench */\n ${lines[1]}\n ${lines[2]}\n`;
    })
    .join('');
  const bigFile = path.join(os.tmpdir(), `klp-bench-50-${process.pid}.patch`);
  fs.writeFileSync(bigFile, big);
  // The first run parses 50 whole files; the next ones find both images of each in the index
  // store. Ours and checkpatch's figures are medians of RUNS runs, taken in turn: one run
  // each swung by 50% on a loaded host.
  const RUNS = 3;
  const first = spawnNode([cli, '--tree', args.tree, '--format', 'json', bigFile], true);
  const checkpatch = path.join(args.tree, 'scripts', 'checkpatch.pl');
  const runs: ReturnType<typeof spawnNode>[] = [];
  const cps: number[] = [];
  let cpNote = fs.existsSync(checkpatch) ? '' : ' (no scripts/checkpatch.pl in the tree)';
  for (let i = 0; i < RUNS; i++) {
    runs.push(spawnNode([cli, '--tree', args.tree, '--format', 'json', bigFile], true));
    if (cpNote) continue;
    const t0 = performance.now();
    const r = spawnSync('perl', [checkpatch, '--no-tree', '--no-color', bigFile], {
      cwd: args.tree,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.error) cpNote = ` (${r.error.message})`;
    else cps.push(performance.now() - t0);
  }
  const ours = runs.sort((a, b) => a.wallMs - b.wallMs)[RUNS >> 1];
  const cp = cps.length === RUNS ? quantile(cps, 0.5) : NaN;
  fs.rmSync(bigFile, { force: true });
  console.log(
    `    ${files.length}-file patch, median of ${RUNS}: livepatch-check ${fmt(ours.wallMs)} ms (exit ${ours.code}, CPU ${fmt(ours.cpuMs)} ms; ` +
      `first run, 50 pre-images not yet stored: ${fmt(first.wallMs)} ms, CPU ${fmt(first.cpuMs)} ms), checkpatch.pl --no-tree ${fmt(cp)} ms${cpNote}`,
  );
  return (
    `series: ${n} patches in one process ${fmt(one.wallMs)} ms vs ${n} processes ${fmt(separate)} ms (${(separate / one.wallMs).toFixed(1)}x); ` +
    `${files.length}-file patch ${fmt(ours.wallMs)} ms vs checkpatch.pl --no-tree ${fmt(cp)} ms (first run ${fmt(first.wallMs)} ms)`
  );
}

/** The first `n` .c files of the tree's kernel/ folder, sorted, under 256 KiB: always the same patch for one tree. */
function bigPatchFiles(tree: string, n: number): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs
        .readdirSync(path.join(tree, rel), { withFileTypes: true })
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch {
      return;
    }
    for (const e of entries) {
      if (out.length >= n) return;
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(r);
      else if (e.isFile() && e.name.endsWith('.c') && fs.statSync(path.join(tree, r)).size < 256 * 1024) out.push(r);
    }
  };
  walk('kernel');
  return out;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
