// npm run bench:corpus -- --corpus ../shared/corpus/kpatch [--tree DIR] [--batch N] [--jobs N] [--single] [--strict]
//                        [--facts DIR] [--dump FILE]
//
// Runs livepatch-check (json) over every kpatch integration-test patch whose
// INDEX.tsv row says it applies to 6.1 (yes, yes-C1), plus _derived-6.1, and
// compares the findings with the label: FAIL patches must be caught by their
// rule, PASS patches must have no error-level finding.
//
// Copies of one patch in several distro dirs differ only in header timestamps
// and hunk line numbers; they are analysed once (normalised content hash) and
// the table says how many dirs share each.
//
// Patches are analysed several per CLI process (--batch, default 8) on --jobs
// processes (default 2); a batch that exits 2 is re-run one patch per process
// so a patch that does not apply (or crashes the CLI) is named. --single runs
// one process per patch throughout.
//
// --facts DIR passes the target facts in DIR (scripts/fetch-target-facts.sh's folder:
// kallsyms or System.map, Module.symvers, modules/) to every run; --dump FILE writes every
// finding as JSON, for comparing two runs.
//
// Exit status: 0, or 1 with --strict when a FAIL patch is missed, a PASS patch
// has errors or a patch does not apply.

import { defaultKernelTree } from '../tools/parse-accuracy/accuracy';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CorpusPatch {
  /** Representative file (the first of the dirs sharing this content), absolute. */
  abs: string;
  /** `<dir>/<file>` of the representative, relative to the corpus. */
  rel: string;
  file: string;
  expected: 'PASS' | 'FAIL';
  reason: string;
  /** Every dir holding this content (normalised). */
  dirs: string[];
  /** Distinct byte-exact variants among those copies. */
  exactVariants: number;
  disabled: boolean;
  text: string;
  /** Kernel files the patch touches (from its +++/--- headers). */
  touched: string[];
}

export function defaultCorpus(): string {
  return process.env.KLP_CORPUS ?? path.resolve('../shared/corpus/kpatch');
}

/** The patch text without what differs between distro copies: preamble, timestamps, index lines, hunk line numbers. */
export function normalisePatch(text: string): string {
  const lines = text.split(/\r?\n/);
  const first = lines.findIndex((l) => l.startsWith('diff ') || l.startsWith('--- '));
  const out: string[] = [];
  for (let l of lines.slice(Math.max(0, first))) {
    if (l.startsWith('index ') || l.startsWith('diff ')) continue;
    if (l.startsWith('--- ') || l.startsWith('+++ ')) {
      l = l.split('\t')[0].replace(/^(---|\+\+\+) (?:a\/|b\/|src\.orig\/|src\/)?/, '$1 ');
    } else if (l.startsWith('@@')) l = l.replace(/^@@ [^@]* @@/, '@@');
    out.push(l);
  }
  return out.join('\n');
}

export function touchedFiles(text: string): string[] {
  const out = new Set<string>();
  for (const l of text.split(/\r?\n/)) {
    const m = /^\+\+\+ (?:[^/\s]+\/)?(\S+)/.exec(l);
    if (m && m[1] !== '/dev/null' && !l.startsWith('+++ /dev/null')) out.add(m[1]);
  }
  return [...out];
}

/** 6.1-applicable corpus patches, one per normalised content, sorted by file name then dir. */
export function loadCorpus(corpus: string): CorpusPatch[] {
  const index = fs.readFileSync(path.join(corpus, 'INDEX.tsv'), 'utf8').split(/\r?\n/).filter(Boolean);
  const header = index[0].split('\t');
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`INDEX.tsv has no column '${name}'`);
    return i;
  };
  const [cDistro, cFile, cExpected, cReason, cApplies] = ['distro', 'file', 'expected', 'reason', 'applies_to_6.1'].map(col);
  const rows = index.slice(1).map((l) => l.split('\t'));
  const wanted = rows.filter((r) => r[cApplies] === 'yes' || r[cApplies] === 'yes-C1' || r[cDistro] === '_derived-6.1');
  // _derived-6.1 patches missing from INDEX still count (FAIL by their name).
  const derivedDir = path.join(corpus, '_derived-6.1');
  if (fs.existsSync(derivedDir)) {
    for (const f of fs.readdirSync(derivedDir).sort()) {
      if (!/\.patch$/.test(f) || wanted.some((r) => r[cDistro] === '_derived-6.1' && r[cFile] === f)) continue;
      const r: string[] = [];
      r[cDistro] = '_derived-6.1';
      r[cFile] = f;
      r[cExpected] = /-FAIL\.patch$/.test(f) ? 'FAIL' : 'PASS';
      r[cReason] = '(not in INDEX.tsv)';
      wanted.push(r);
    }
  }
  const byKey = new Map<string, CorpusPatch & { exact: Set<string> }>();
  for (const r of wanted.sort((a, b) => a[cFile].localeCompare(b[cFile]) || a[cDistro].localeCompare(b[cDistro]))) {
    const rel = `${r[cDistro]}/${r[cFile]}`;
    const abs = path.join(corpus, rel);
    if (!fs.existsSync(abs)) continue;
    const text = fs.readFileSync(abs, 'utf8');
    const key = crypto
      .createHash('sha256')
      .update(r[cFile].replace(/\.disabled$/, '') + '\0' + normalisePatch(text))
      .digest('hex');
    const exactHash = crypto.createHash('sha256').update(text).digest('hex');
    const e = byKey.get(key);
    if (e) {
      e.dirs.push(r[cDistro]);
      e.exact.add(exactHash);
      continue;
    }
    byKey.set(key, {
      abs,
      rel,
      file: r[cFile],
      expected: r[cExpected] === 'FAIL' ? 'FAIL' : 'PASS',
      reason: r[cReason] ?? '',
      dirs: [r[cDistro]],
      exactVariants: 0,
      disabled: r[cFile].endsWith('.disabled'),
      text,
      touched: touchedFiles(text),
      exact: new Set([exactHash]),
    });
  }
  return [...byKey.values()].map(({ exact, ...p }) => ({ ...p, exactVariants: exact.size }));
}

/** The rule(s) that should catch a FAIL patch, by its kpatch test name. */
export function expectedRules(file: string): string[] {
  if (/^meminfo-init/.test(file)) return ['init-section'];
  if (/^symvers-disagreement/.test(file)) return ['exported-abi'];
  if (/^warn-detect/.test(file)) return ['no-functional-change', 'line-macro'];
  return [];
}

export interface JsonFinding {
  rule: string;
  severity: 'error' | 'warning' | 'info';
  file: string;
  line: number;
  patch: string | null;
  message: string;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function cliPath(): string {
  const here = path.join(__dirname, 'livepatch-check.js');
  return fs.existsSync(here) ? here : path.resolve('dist/livepatch-check.js');
}

export function runCli(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [cliPath(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('close', (code) => {
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: performance.now() - t0,
      });
    });
  });
}

interface Outcome {
  patch: CorpusPatch;
  /** 'ok' (exit 0/1), 'did not apply' (exit 2, a PatchError), 'crash' (internal error or bad output). */
  status: 'ok' | 'did not apply' | 'crash';
  detail: string;
  findings: JsonFinding[];
  notes: string[];
  ms: number;
}

function verdict(o: Outcome): string {
  if (o.status !== 'ok') return o.status === 'crash' ? `CLI CRASH: ${o.detail}` : `did not apply: ${o.detail}`;
  const p = o.patch;
  if (p.expected === 'FAIL') {
    const want = expectedRules(p.file);
    const serious = o.findings.filter((f) => f.severity === 'error' || f.severity === 'warning');
    if (serious.some((f) => want.includes(f.rule))) return 'caught';
    if (serious.length) return 'caught (wrong rule)';
    return 'missed';
  }
  const errors = [...new Set(o.findings.filter((f) => f.severity === 'error').map((f) => f.rule))];
  return errors.length ? `ERROR: ${errors.join(', ')}` : 'clean';
}

function summariseFindings(fs_: JsonFinding[]): string {
  const parts: string[] = [];
  for (const sev of ['error', 'warning', 'info'] as const) {
    const of = fs_.filter((f) => f.severity === sev);
    if (!of.length) continue;
    const byRule = new Map<string, number>();
    for (const f of of) byRule.set(f.rule, (byRule.get(f.rule) ?? 0) + 1);
    parts.push(`${sev[0].toUpperCase()}${of.length}[${[...byRule].map(([r, n]) => (n > 1 ? `${r}x${n}` : r)).join(' ')}]`);
  }
  return parts.join(' ') || '-';
}

/** Runs one CLI process over some patches; falls back to one process per patch when it exits 2. */
async function analyse(batch: CorpusPatch[], tree: string, extra: string[] = []): Promise<Outcome[]> {
  const run = await runCli(['--tree', tree, '--format', 'json', ...extra, ...batch.map((p) => p.abs)]);
  if (run.code === 0 || run.code === 1) {
    try {
      const json = JSON.parse(run.stdout) as { findings: JsonFinding[]; notes: string[] };
      return batch.map((p) => ({
        patch: p,
        status: 'ok',
        detail: '',
        ms: run.ms / batch.length,
        findings: json.findings.filter((f) => f.patch === p.abs),
        notes: json.notes.filter((n) => batch.length === 1 || n.includes(p.abs)),
      }));
    } catch (err) {
      if (batch.length === 1)
        return [
          { patch: batch[0], status: 'crash', detail: `unparsable JSON: ${(err as Error).message}`, findings: [], notes: [], ms: run.ms },
        ];
    }
  } else if (batch.length === 1) {
    const msg =
      run.stderr
        .trim()
        .split('\n')[0]
        ?.replace(/^livepatch-check: /, '') ?? '';
    const crash = run.code !== 2 || /internal error/.test(run.stderr);
    const detail = crash ? run.stderr.trim().split('\n').slice(0, 3).join(' | ') || `exit ${run.code}` : msg;
    return [{ patch: batch[0], status: crash ? 'crash' : 'did not apply', detail, findings: [], notes: [], ms: run.ms }];
  }
  const out: Outcome[] = [];
  for (const p of batch) out.push(...(await analyse([p], tree, extra)));
  return out;
}

function pad(s: string, n: number): string {
  return s.length > n ? s.slice(0, n - 1) + '…' : s.padEnd(n);
}

export async function main(argv: string[]): Promise<number> {
  let corpus = defaultCorpus();
  let tree = defaultKernelTree();
  let batchSize = 8;
  let jobs = 2;
  let strict = false;
  const extra: string[] = [];
  let dump: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split('=', 2);
    const v = () => inline ?? argv[++i];
    if (k === '--corpus') corpus = path.resolve(v());
    else if (k === '--tree') tree = path.resolve(v());
    else if (k === '--batch') batchSize = Math.max(1, Number(v()));
    else if (k === '--jobs') jobs = Math.max(1, Number(v()));
    else if (k === '--single') batchSize = 1;
    else if (k === '--strict') strict = true;
    else if (k === '--dump') dump = path.resolve(v());
    else if (k === '--facts') {
      const dir = path.resolve(v());
      // The packages' System.map first (reproducible), else a kallsyms read from a live target of the release.
      const syms = ['System.map', 'kallsyms'].map((f) => path.join(dir, f)).find((f) => fs.existsSync(f));
      if (syms) extra.push('--kallsyms', syms);
      for (const [flag, f] of [
        ['--symvers', 'Module.symvers'],
        ['--modules-dir', 'modules'],
      ]) {
        if (fs.existsSync(path.join(dir, f))) extra.push(flag, path.join(dir, f));
      }
      if (!extra.length) {
        console.error(`bench-corpus: ${dir} holds no target facts (run scripts/fetch-target-facts.sh)`);
        return 2;
      }
    } else {
      console.error(`bench-corpus: unknown argument ${argv[i]}`);
      return 2;
    }
  }
  if (!fs.existsSync(path.join(corpus, 'INDEX.tsv'))) {
    console.error(`bench-corpus: no INDEX.tsv in ${corpus} (pass --corpus DIR)`);
    return 2;
  }
  if (!fs.existsSync(tree)) {
    console.error(`bench-corpus: no kernel tree at ${tree} (run scripts/fetch-kernel-source.sh or pass --tree)`);
    return 2;
  }
  if (!fs.existsSync(cliPath())) {
    console.error(`bench-corpus: ${cliPath()} is missing (run node esbuild.mjs)`);
    return 2;
  }
  const patches = loadCorpus(corpus);
  const copies = patches.reduce((a, p) => a + p.dirs.length, 0);
  console.log(`bench:corpus: ${corpus}`);
  if (extra.length) console.log(`  target facts: ${extra.join(' ')}`);
  console.log(
    `  tree ${tree}; ${copies} 6.1-applicable patch files (INDEX yes/yes-C1 + _derived-6.1) = ${patches.length} distinct patches ` +
      `(copies differ only in header timestamps / hunk line numbers); ${batchSize} per CLI process, ${jobs} at a time`,
  );

  const t0 = performance.now();
  const batches: CorpusPatch[][] = [];
  for (let i = 0; i < patches.length; i += batchSize) batches.push(patches.slice(i, i + batchSize));
  const outcomes: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(jobs, batches.length) }, async () => {
      while (next < batches.length) {
        const b = batches[next++];
        outcomes.push(...(await analyse(b, tree, extra)));
      }
    }),
  );
  const order = new Map(patches.map((p, i) => [p, i]));
  outcomes.sort((a, b) => order.get(a.patch)! - order.get(b.patch)!);
  const wall = performance.now() - t0;
  if (dump)
    fs.writeFileSync(
      dump,
      JSON.stringify(
        outcomes.map((o) => ({ patch: o.patch.rel, status: o.status, findings: o.findings })),
        null,
        1,
      ) + '\n',
    );

  console.log('');
  const head = `${pad('patch (representative dir/file)', 52)} ${pad('dirs', 8)} ${pad('exp', 4)} ${pad('reason (INDEX)', 44)} ${pad('findings', 58)} verdict`;
  console.log(head);
  console.log('-'.repeat(head.length + 12));
  for (const o of outcomes) {
    const p = o.patch;
    const dirs = `${p.dirs.length}${p.exactVariants > 1 ? `/${p.exactVariants}v` : ''}`;
    console.log(
      `${pad(p.rel, 52)} ${pad(dirs, 8)} ${pad(p.expected, 4)} ${pad(p.reason.replace(/^(PASS|FAIL): /, ''), 44)} ${pad(o.status === 'ok' ? summariseFindings(o.findings) : '-', 58)} ${verdict(o)}`,
    );
  }
  console.log(
    '(dirs: how many distro dirs hold this patch; "/Nv": N byte-exact variants among them. Findings: E/W/I = error/warning/info counts [rules].)',
  );

  const fail = outcomes.filter((o) => o.patch.expected === 'FAIL');
  const pass = outcomes.filter((o) => o.patch.expected === 'PASS');
  const caught = fail.filter((o) => verdict(o) === 'caught');
  const wrongRule = fail.filter((o) => verdict(o) === 'caught (wrong rule)');
  const passErr = pass.filter((o) => verdict(o).startsWith('ERROR'));
  const notApplied = outcomes.filter((o) => o.status === 'did not apply');
  const crashed = outcomes.filter((o) => o.status === 'crash');
  const weighted = (list: Outcome[]) => list.reduce((a, o) => a + o.patch.dirs.length, 0);
  const ruleCount = new Map<string, number>();
  for (const o of outcomes)
    for (const r of new Set(o.findings.map((f) => `${f.rule}:${f.severity}`))) ruleCount.set(r, (ruleCount.get(r) ?? 0) + 1);

  console.log('');
  console.log(
    `rules firing (patches): ${
      [...ruleCount]
        .sort((a, b) => b[1] - a[1])
        .map(([r, n]) => `${r} ${n}`)
        .join(', ') || 'none'
    }`,
  );
  for (const o of [...notApplied, ...crashed]) console.log(`${o.status}: ${o.patch.rel}: ${o.detail}`);
  console.log(`time: ${(wall / 1000).toFixed(1)} s for ${outcomes.length} patches`);
  console.log(
    `bench:corpus: FAIL caught ${caught.length}/${fail.length} (wrong rule ${wrongRule.length}; by copies ${weighted(caught)}/${weighted(fail)}), ` +
      `PASS with errors ${passErr.length}/${pass.length} (by copies ${weighted(passErr)}/${weighted(pass)}), ` +
      `did not apply ${notApplied.length}, CLI crashes ${crashed.length}`,
  );
  if (strict && (caught.length < fail.length || passErr.length || notApplied.length || crashed.length)) return 1;
  return 0;
}

if (/bench-corpus(\.[cm]?[jt]s)?$/.test(process.argv[1] ?? '')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
