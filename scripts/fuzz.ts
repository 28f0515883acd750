// npm run fuzz -- [--runs N] [--seed S] [--out DIR] [--jobs J] [--hang-ms MS] [--hang-ms-per-mb MS]
//                 [--kill-ms MS] [--only I,J,...] [--save]
//
// Mutation and generation fuzzing of the diff reader and the engine (see
// tools/fuzz/fuzz.ts). Input i of seed S is a pure function of
// (S, i): `--seed S --only i` reproduces it. Inputs run in child processes
// (one per job), so a fatal V8 error or an out-of-memory abort is recorded as
// a crash instead of ending the run, and an input that never returns is killed
// after --kill-ms and recorded as a hang.
//
// Prints runs, ok, refused, invalid, crashes, hangs and the slowest input;
// writes every failing input (and the seed tree once) to --out
// (default ~/.cache/kernel-livepatch/fuzz-failures). Exits 1 on any crash,
// hang or invalid result.

import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { answerGitProbeWithoutGit, generateInput, runInput, OUTCOME_ORDER, type Outcome, type RunResult } from '../tools/fuzz/fuzz';
import { writeSeedTrees, type SeedTrees } from '../tools/fuzz/fuzzTree';
import { createParser } from '../server/src/engine/parse/parser';

interface Args {
  runs: number;
  seed: number;
  out: string;
  jobs: number;
  hangMs: number;
  hangMsPerMb: number;
  killMs: number;
  only: number[] | null;
  /** Write every input run, not only failing ones (with --only: to turn an input into a fixture). */
  save: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    runs: 1000,
    seed: (Date.now() ^ (process.pid << 16)) >>> 0,
    out: path.join(process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch'), 'fuzz-failures'),
    jobs: Math.max(1, os.availableParallelism?.() ?? os.cpus().length),
    hangMs: 2000,
    hangMsPerMb: 2000,
    killMs: 30000,
    only: null,
    save: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split(/=(.*)/s, 2);
    const v = () => {
      const x = inline ?? argv[++i];
      if (x === undefined) usage(`${k} needs a value`);
      return x;
    };
    const num = (x: string) => {
      const n = Number(x);
      if (!Number.isFinite(n) || n < 0) usage(`${k}: '${x}' is not a number`);
      return Math.floor(n);
    };
    if (k === '--runs') a.runs = num(v());
    else if (k === '--seed') a.seed = num(v()) >>> 0;
    else if (k === '--out') a.out = path.resolve(v());
    else if (k === '--jobs') a.jobs = Math.max(1, num(v()));
    else if (k === '--hang-ms') a.hangMs = num(v());
    else if (k === '--hang-ms-per-mb') a.hangMsPerMb = num(v());
    else if (k === '--kill-ms') a.killMs = num(v());
    else if (k === '--only') a.only = v().split(',').map(num);
    else if (k === '--save') a.save = true;
    else if (k === '-h' || k === '--help') usage(null);
    else usage(`unknown argument '${argv[i]}'`);
  }
  return a;
}

function usage(err: string | null): never {
  const text = [
    'usage: npm run fuzz -- [--runs N] [--seed S] [--out DIR] [--jobs J] [--hang-ms MS] [--hang-ms-per-mb MS]',
    '                       [--kill-ms MS] [--only I,J,...] [--save]',
    '  --runs N      inputs to run (default 1000)        --seed S     run seed (default: random, printed)',
    '  --out DIR     where failing inputs go             --jobs J     child processes (default: CPUs)',
    '  --hang-ms MS  slower than this (wall and CPU) is a hang (2000)...',
    '  --hang-ms-per-mb MS  ...plus this per MB of input (2000; 0: a flat limit)',
    '  --kill-ms MS  kill an input after this long (30000) --only I,J  run just these inputs of the seed',
    '  --save        write every input run to DIR, not only failures',
  ].join('\n');
  if (err) console.error(`fuzz: ${err}\n${text}`);
  else console.log(text);
  process.exit(err ? 2 : 0);
}

// ---------------------------------------------------------------- child: runs inputs

interface Job {
  index: number;
}
interface Reply {
  index: number;
  result: RunResult;
  description: string;
  bytes: number;
  rss: number;
}

async function child(): Promise<void> {
  const { seed, trees, hangMs, hangMsPerMb } = JSON.parse(process.env.KLP_FUZZ_CHILD!) as {
    seed: number;
    trees: SeedTrees;
    hangMs: number;
    hangMsPerMb: number;
  };
  const parser = await createParser();
  answerGitProbeWithoutGit();
  process.on('message', (job: Job) => {
    void (async () => {
      let reply: Reply;
      try {
        const input = generateInput(seed, job.index);
        const result = await runInput(input, { parser, trees, hangMs, hangMsPerMb });
        const bytes = input.patches.reduce((n, p) => n + p.text.length, 0);
        reply = { index: job.index, result, description: input.description, bytes, rss: process.memoryUsage().rss };
      } catch (err) {
        // A bug in the fuzzer itself (runInput catches everything the engine throws).
        const detail = `fuzzer error: ${(err as Error)?.stack ?? err}`;
        reply = {
          index: job.index,
          description: '(the fuzzer failed to make this input)',
          bytes: 0,
          rss: process.memoryUsage().rss,
          result: { outcome: 'crash', ms: 0, cpuMs: 0, modes: [{ mode: 'tree', outcome: 'crash', ms: 0, cpuMs: 0, detail }] },
        };
      }
      process.send!(reply);
    })();
  });
  process.send!({ ready: true });
}

// ---------------------------------------------------------------- parent: schedules, records, reports

interface Slot {
  proc: ChildProcess;
  busy: Job | null;
  started: number;
  timer: NodeJS.Timeout | null;
  stderr: string;
  ready: Promise<void>;
  /** Killed by us (timeout or end of run): its exit is not a crash. */
  killed: boolean;
}

interface FuzzRecord {
  index: number;
  outcome: Outcome;
  ms: number;
  cpuMs: number;
  description: string;
  detail: string;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-fuzz-'));
  const trees = writeSeedTrees(work);
  const indices = args.only ?? Array.from({ length: args.runs }, (_, i) => i);
  const counts: { [k in Outcome]: number } = { ok: 0, refused: 0, invalid: 0, crash: 0, hang: 0 };
  const modeCounts: { [mode: string]: { [k in Outcome]?: number } } = { tree: {}, hunk: {} };
  const failures: FuzzRecord[] = [];
  let slowest: FuzzRecord | null = null;
  let maxRss = 0;
  /** Inputs over the flat limit that the per-MB allowance let through. */
  const bigSlow: { index: number; cpuMs: number; bytes: number }[] = [];
  let done = 0;
  let next = 0;
  const started = Date.now();
  console.log(
    `fuzz: seed ${args.seed}, ${indices.length} inputs, ${args.jobs} job(s), hang > ${args.hangMs} ms + ${args.hangMsPerMb} ms/MB (wall and CPU), kill after ${args.killMs} ms`,
  );

  const record = (r: FuzzRecord) => {
    counts[r.outcome]++;
    done++;
    if (!slowest || r.cpuMs > slowest.cpuMs) slowest = r;
    const failed = r.outcome === 'crash' || r.outcome === 'hang' || r.outcome === 'invalid';
    if (failed || args.save) writeFailure(args, trees, r);
    if (failed) {
      failures.push(r);
      console.log(
        `fuzz: #${r.index} ${r.outcome.toUpperCase()} (${r.ms.toFixed(0)} ms): ${r.description}\n  ${r.detail.split('\n').slice(0, 4).join('\n  ')}`,
      );
    }
  };

  let finish!: () => void;
  const allDone = new Promise<void>((resolve) => (finish = resolve));

  const spawnSlot = (): Slot => {
    const proc = fork(__filename, [], {
      env: {
        ...process.env,
        KLP_FUZZ_CHILD: JSON.stringify({ seed: args.seed, trees, hangMs: args.hangMs, hangMsPerMb: args.hangMsPerMb }),
      },
      execArgv: [...process.execArgv, '--max-old-space-size=4096'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    const slot: Slot = { proc, busy: null, started: 0, timer: null, stderr: '', ready: Promise.resolve(), killed: false };
    proc.stderr!.on('data', (d: Buffer) => (slot.stderr = (slot.stderr + d.toString()).slice(-4000)));
    slot.ready = new Promise<void>((resolve) => {
      proc.on('message', (m: Reply | { ready: true }) => {
        if ('ready' in m) return resolve();
        if (!slot.busy || slot.busy.index !== m.index) return;
        clearTimeout(slot.timer!);
        slot.busy = null;
        maxRss = Math.max(maxRss, m.rss);
        if (m.result.outcome !== 'hang' && m.result.modes.some((md) => md.ms > args.hangMs && md.cpuMs > args.hangMs)) {
          bigSlow.push({ index: m.index, cpuMs: m.result.cpuMs, bytes: m.bytes });
        }
        for (const md of m.result.modes) modeCounts[md.mode][md.outcome] = (modeCounts[md.mode][md.outcome] ?? 0) + 1;
        const bad = m.result.modes.filter((md) => md.outcome === m.result.outcome && md.detail);
        record({
          index: m.index,
          outcome: m.result.outcome,
          ms: m.result.ms,
          cpuMs: m.result.cpuMs,
          description: m.description,
          detail: bad.map((md) => `[${md.mode}] ${md.detail}`).join('\n'),
        });
        dispatch(slot);
      });
    });
    proc.on('exit', (code, signal) => {
      if (slot.timer) clearTimeout(slot.timer);
      const job = slot.busy;
      slot.busy = null;
      if (job === null || slot.killed) return;
      // The child died under an input: a fatal V8 error, an abort, out of memory.
      const description = describe(args.seed, job.index);
      record({
        index: job.index,
        outcome: 'crash',
        ms: Date.now() - slot.started,
        cpuMs: NaN,
        description,
        detail: `child process died (code ${code}, signal ${signal}):\n${slot.stderr.trim()}`,
      });
      replace(slot);
    });
    return slot;
  };

  const slots: Slot[] = [];
  const replace = (old: Slot) => {
    const i = slots.indexOf(old);
    const s = spawnSlot();
    slots[i] = s;
    void s.ready.then(() => dispatch(s));
  };

  const dispatch = (slot: Slot) => {
    if (next >= indices.length) {
      if (slots.every((s) => s.busy === null)) finish();
      return;
    }
    const job = { index: indices[next++] };
    slot.busy = job;
    slot.started = Date.now();
    slot.stderr = '';
    slot.timer = setTimeout(() => {
      slot.killed = true;
      slot.busy = null;
      slot.proc.kill('SIGKILL');
      record({
        index: job.index,
        outcome: 'hang',
        ms: Date.now() - slot.started,
        cpuMs: Date.now() - slot.started,
        description: describe(args.seed, job.index),
        detail: `no answer after ${args.killMs} ms; killed`,
      });
      replace(slot);
    }, args.killMs);
    slot.proc.send(job);
  };

  for (let j = 0; j < Math.min(args.jobs, indices.length); j++) slots.push(spawnSlot());
  slots.forEach((s) => void s.ready.then(() => dispatch(s)));
  const progress = setInterval(() => {
    const secs = (Date.now() - started) / 1000;
    process.stderr.write(
      `fuzz: ${done}/${indices.length} in ${secs.toFixed(0)} s (${(done / secs).toFixed(0)}/s): ok ${counts.ok}, refused ${counts.refused}, invalid ${counts.invalid}, crashes ${counts.crash}, hangs ${counts.hang}\n`,
    );
  }, 15000);
  if (indices.length) await allDone;
  clearInterval(progress);
  for (const s of slots) {
    s.killed = true;
    s.proc.kill();
  }
  fs.rmSync(work, { recursive: true, force: true });

  const secs = (Date.now() - started) / 1000;
  const s = slowest as FuzzRecord | null;
  const fmtModes = (m: { [k in Outcome]?: number }) => OUTCOME_ORDER.map((o) => `${o} ${m[o] ?? 0}`).join(', ');
  console.log(
    [
      `fuzz: seed ${args.seed}: ${done} runs in ${secs.toFixed(1)} s (${(done / secs).toFixed(1)} inputs/s, ${args.jobs} job(s))`,
      `  ok        ${counts.ok}`,
      `  refused   ${counts.refused}`,
      `  invalid   ${counts.invalid}`,
      `  crashes   ${counts.crash}`,
      `  hangs     ${counts.hang}`,
      `  slowest   ${s ? `${s.cpuMs.toFixed(0)} ms CPU (${s.ms.toFixed(0)} ms wall): #${s.index} ${s.description}` : '-'}`,
      `  with tree: ${fmtModes(modeCounts.tree)}`,
      `  hunk-only: ${fmtModes(modeCounts.hunk)}`,
      `  over ${args.hangMs} ms but within the per-MB allowance: ${bigSlow.length}${
        bigSlow.length
          ? ` (smallest input ${(bigSlow.reduce((m, b) => Math.min(m, b.bytes), Infinity) / 1048576).toFixed(2)} MB, slowest ${bigSlow.reduce((m, b) => Math.max(m, b.cpuMs), 0).toFixed(0)} ms CPU; e.g. #${bigSlow
              .slice(0, 5)
              .map((b) => b.index)
              .join(', #')})`
          : ''
      }`,
      `  peak child RSS ${(maxRss / 1048576).toFixed(0)} MB`,
      failures.length
        ? `  ${failures.length} failing input(s) written to ${args.out} (reproduce: npm run fuzz -- --seed ${args.seed} --only ${failures
            .slice(0, 10)
            .map((f) => f.index)
            .join(',')})`
        : '  no failures',
    ].join('\n'),
  );
  process.exitCode = counts.crash + counts.hang + counts.invalid > 0 ? 1 : 0;
}

function describe(seed: number, index: number): string {
  try {
    return generateInput(seed, index).description;
  } catch (err) {
    return `(the fuzzer failed to make this input: ${(err as Error)?.message})`;
  }
}

let treeWritten = false;

/** The failing input as .patch file(s) plus a .txt with what happened and how to reproduce it. */
function writeFailure(args: Args, trees: SeedTrees, r: FuzzRecord): void {
  fs.mkdirSync(args.out, { recursive: true });
  if (!treeWritten) {
    writeSeedTrees(path.join(args.out, 'trees'), { huge: false });
    treeWritten = true;
  }
  let input: ReturnType<typeof generateInput>;
  try {
    input = generateInput(args.seed, r.index);
  } catch {
    return;
  }
  const base = path.join(args.out, `seed${args.seed}-${r.index}-${r.outcome}`);
  const files = input.patches.map((p, i) => {
    const f = `${base}${i ? `-${i}` : ''}.patch`;
    fs.writeFileSync(f, p.text);
    return f;
  });
  const tree =
    input.tree === 'small'
      ? path.join(args.out, 'trees', 'small')
      : `${trees.huge} (the small tree plus a generated 10 MB file, see fuzzTree.ts)`;
  fs.writeFileSync(
    `${base}.txt`,
    [
      `input #${r.index} of seed ${args.seed}: ${r.outcome} after ${r.ms.toFixed(0)} ms`,
      `what: ${input.description}`,
      `expected ok: with tree ${input.expectOk.tree}, hunk-only ${input.expectOk.hunk}`,
      '',
      r.detail,
      '',
      `reproduce: npm run fuzz -- --seed ${args.seed} --only ${r.index}`,
      `       or: node dist/livepatch-check.js --tree ${tree} ${files.join(' ')}`,
      `           node dist/livepatch-check.js ${files.join(' ')}`,
      '',
    ].join('\n'),
  );
}

if (process.env.KLP_FUZZ_CHILD) {
  void child();
} else {
  main().catch((err) => {
    console.error(`fuzz: ${(err as Error).stack ?? err}`);
    process.exit(2);
  });
}
