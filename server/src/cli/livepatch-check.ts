// livepatch-check: the engine as a command for CI and other editors.
//
//   livepatch-check [--tree DIR] [--config FILE] [--format text|json|sarif]
//                   [--kallsyms FILE] [--symvers FILE] [--modules-dir DIR] PATCH...
//
// Exit 0: no error-level findings; 1: error-level findings; 2: bad input or usage, or a
// changed file that was not analysed (and no other error-level finding).

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import {
  analyzePatches,
  DEFAULT_MAX_FILE_BYTES,
  PatchError,
  type PatchInput,
  NOT_ANALYSED,
  readBounded,
  MAX_PATCH_BYTES,
  generateModule,
  GenerateError,
  moduleNameFrom,
  moduleNameProblem,
  parseSymvers,
  KernelTree,
  readConfigFile,
  generatePatchedUnit,
  Kallsyms,
  parseSymversObjects,
  createParser,
  KlpElfError,
  formatText,
} from '../engine';
import { writeModuleFiles, WriteModuleError } from './writeModule';
import { formatJson } from './format/json';
import { formatSarif } from './format/sarif';
import { buildOnHost, HostBuildError } from '../build/hostBuild';
import { loadTargetFacts } from './targetFacts';
import { ExpandedViews, kbuildCompiler, PreprocessError } from '../build/preprocess';
import * as timings from '../engine/util/timings';
import { IndexStore } from '../engine/index/indexStore';
import { cacheDir } from '../engine/util/cacheDir';
import { adoptTreeState, type StartedTreeState } from '../engine/tree/treeState';

const VERSION = '0.1.0';

/**
 * V8 flags of a CLI run. A short-lived process: V8's optimising tier for
 * tree-sitter's wasm costs more CPU to compile (400-600 ms for the grammar's
 * lexer and parse loop) than it saves on the few files a patch touches; the
 * baseline compiler alone halves the CPU of a typical check. Set before any
 * wasm (and, in the launcher, any of this bundle) is compiled.
 */
export const LAUNCH_V8_FLAGS = '--liftoff-only';
const USAGE = `usage: livepatch-check [--tree DIR] [--config FILE] [--format text|json|sarif] [--max-file-size BYTES]
                       [--kallsyms FILE] [--symvers FILE] [--modules-dir DIR]
                       [--preprocess --headers DIR] PATCH...
       livepatch-check --tree DIR --generate-module OUTDIR [--module-name NAME] [--symvers FILE]
                       [--kallsyms FILE] [--replace] [--generator unit|closure]
                       [--build-module --headers DIR] PATCH...
  --tree DIR      kernel source tree the patches apply to (without it: hunk-only analysis)
  --config FILE   kernel .config for module decisions (default: DIR/.config)
  --format FMT    text (default, gcc-style), json, or sarif (SARIF 2.1.0)
  --max-file-size BYTES
                  changed files bigger than this are not analysed: a not-analysed error
                  (default ${DEFAULT_MAX_FILE_BYTES}, 4 MiB)
  --generate-module OUTDIR
                  write a kbuild livepatch module (klp_patch) for the patch into OUTDIR
  --generator G   unit (default): compile the patched file itself, binding the kernel's
                  symbols with klp relocations; closure: the older copy-what-it-needs module
  --build-module  build OUTDIR on this machine against --headers and make it a livepatch .ko
  --headers DIR   kernel headers of the target's exact release (/usr/src/linux-headers-<release>);
                  their Module.symvers is used unless --symvers is given
  --preprocess    with --tree and --headers: run gcc -E with the headers' kbuild flags on the
                  changed .c files (and the tree files a check needs), so attributes, static-call
                  keys and export namespaces that macros hide are seen as the compiler sees them
  --replace       atomic replace: the patch reverts every other loaded livepatch (off by default)
  --module-name NAME
                  its name: letters, digits and '_', not starting with a digit, at most 55
  --kallsyms FILE the target's /proc/kallsyms or System.map: what gcc kept out of line, cloned or
                  inlined away (checks say so with certainty), non-unique names, kernel variables
  --symvers FILE  the target's Module.symvers: export namespaces for the checks; the generator
                  refuses references to symbols that are not exported
  --modules-dir DIR
                  the target's modules (/lib/modules/RELEASE/kernel, or an unpacked linux-image
                  package): the symbols of their .ko files, for modules kallsyms does not list
                  (scripts/fetch-target-facts.sh fetches all of these for a Debian release)
  -               read a patch from standard input (at most ${MAX_PATCH_BYTES / 1048576} MB)
exit status: 0 no error-level findings, 1 error-level findings, 2 bad input or usage, or a
changed file that was not analysed (not-analysed) and no other error-level finding`;

class UsageError extends Error {}

interface Args {
  generate: string | null;
  moduleName: string | null;
  symvers: string | null;
  kallsyms: string | null;
  modulesDir: string | null;
  replace: boolean;
  generator: 'unit' | 'closure';
  build: boolean;
  headers: string | null;
  preprocess: boolean;
  maxFileBytes: number;
  tree: string | null;
  config: string | null;
  format: 'text' | 'json' | 'sarif';
  patches: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    tree: null,
    config: null,
    format: 'text',
    patches: [],
    generate: null,
    moduleName: null,
    symvers: null,
    kallsyms: null,
    modulesDir: null,
    replace: false,
    generator: 'unit',
    build: false,
    headers: null,
    preprocess: false,
    maxFileBytes: DEFAULT_MAX_FILE_BYTES,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const eq = arg.indexOf('=');
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    const name = arg.split('=')[0];
    if (name === '--tree') a.tree = value();
    else if (name === '--config') a.config = value();
    else if (name === '--generate-module') a.generate = value();
    else if (name === '--module-name') a.moduleName = value();
    else if (name === '--symvers') a.symvers = value();
    else if (name === '--kallsyms') a.kallsyms = value();
    else if (name === '--modules-dir') a.modulesDir = value();
    else if (arg === '--replace') a.replace = true;
    else if (arg === '--no-replace')
      a.replace = false; // the default; still accepted
    else if (arg === '--build-module') a.build = true;
    else if (arg === '--preprocess') a.preprocess = true;
    else if (name === '--headers') a.headers = value();
    else if (name === '--generator') {
      const g = value();
      if (g !== 'unit' && g !== 'closure') throw new UsageError(`unknown generator '${g}' (unit or closure)`);
      a.generator = g;
    } else if (name === '--max-file-size') {
      const v = value();
      if (!/^[1-9][0-9]{0,15}$/.test(v) || !Number.isSafeInteger(Number(v)))
        throw new UsageError(`--max-file-size takes a number of bytes, not '${v}'`);
      a.maxFileBytes = Number(v);
    } else if (name === '--format') {
      const f = value();
      if (f !== 'text' && f !== 'json' && f !== 'sarif') throw new UsageError(`unknown format '${f}'`);
      a.format = f;
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (arg === '--version') {
      process.stdout.write(VERSION + '\n');
      process.exit(0);
    } else if (arg === '--') {
      a.patches.push(...argv.slice(i + 1));
      i = argv.length;
    } else if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option '${arg}'`);
    else a.patches.push(arg);
  }
  if (!a.patches.length) throw new UsageError('no patch given');
  if (a.generate !== null && a.tree === null) throw new UsageError('--generate-module needs --tree');
  if (a.build && a.generate === null) throw new UsageError('--build-module needs --generate-module OUTDIR');
  if (a.build && a.headers === null) throw new UsageError('--build-module needs --headers DIR');
  if (a.preprocess && (a.headers === null || a.tree === null)) throw new UsageError('--preprocess needs --tree DIR and --headers DIR');
  if (a.build && a.generator !== 'unit') throw new UsageError("--build-module builds the unit generator's modules only");
  if (a.moduleName !== null) {
    const why = moduleNameProblem(a.moduleName);
    if (why) throw new UsageError(`--module-name ${JSON.stringify(a.moduleName)}: ${why}`);
  }
  if (a.replace && a.generate === null) throw new UsageError('--replace only applies with --generate-module');
  return a;
}

function readInput(p: string): PatchInput {
  return { name: p === '-' ? '<stdin>' : p, text: readBounded(p) };
}

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`livepatch-check: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  try {
    if (args.tree !== null && !fs.existsSync(args.tree)) throw new PatchError(`kernel tree '${args.tree}' does not exist`);
    // A regular file of sane size: a FIFO or /dev/zero would hang the run or eat memory.
    if (args.config !== null) readConfigFile(args.config);
    const loaded = loadTargetFacts({ kallsyms: args.kallsyms, symvers: args.symvers, config: args.config, modulesDir: args.modulesDir });
    for (const n of loaded?.notes ?? []) process.stderr.write(`livepatch-check: note: ${n}\n`);
    const inputs = args.patches.map(readInput);
    const views = args.preprocess ? expandedViews(args.headers!, args.tree!) : null;
    const store = indexStore();
    const result = await analyzePatches(inputs, {
      indexStore: store,
      tree: args.tree,
      config: args.config,
      facts: loaded?.facts ?? null,
      maxFileBytes: args.maxFileBytes,
      maxFileBytesName: '--max-file-size',
      prepareTreeCache: true,
      parallel: true,
      // Only .c files are compiled on their own; a header is seen through them.
      expanded: views ? (p, text) => (p.endsWith('.c') ? views.getSync(p, text) : null) : undefined,
    });
    if (views) {
      const ms = views.costs.map((c) => Math.round(c));
      process.stderr.write(
        `livepatch-check: note: preprocessor's view: ${ms.length} gcc -E run(s) against ${args.headers} (${ms.join(', ') || '-'} ms)\n`,
      );
    }
    if (args.generate !== null) {
      const code = args.generator === 'unit' ? await writeUnitModule(args, result) : writeModule(args, result);
      store?.flush();
      return code;
    }
    const out = timings.timed('output', () =>
      args.format === 'json' ? formatJson(result) : args.format === 'sarif' ? formatSarif(result, VERSION) : formatText(result),
    );
    process.stdout.write(out);
    // After the output: what the next run will not parse again.
    timings.timed('index store', () => store?.flush());
    return exitStatus(result.findings);
  } catch (err) {
    if (err instanceof PatchError) {
      process.stderr.write(`livepatch-check: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`livepatch-check: internal error: ${(err as Error).stack ?? err}\n`);
    return 2;
  }
}

/** Set by esbuild.mjs: names the engine build. Running from source there is none, and no store. */
declare const KLP_ENGINE_BUILD: string | undefined;

/**
 * The index store in `~/.cache/kernel-livepatch/index` (`$KLP_CACHE/index`, or
 * `$KLP_INDEX_CACHE`); null with KLP_NO_INDEX_CACHE=1, or when running from source.
 */
function indexStore(): IndexStore | null {
  if (process.env.KLP_NO_INDEX_CACHE || typeof KLP_ENGINE_BUILD !== 'string') return null;
  return new IndexStore(process.env.KLP_INDEX_CACHE ?? cacheDir('index'), KLP_ENGINE_BUILD);
}

/** The preprocessor's views for --preprocess; a build directory that cannot preprocess is bad input. */
function expandedViews(headers: string, tree: string): ExpandedViews {
  try {
    return new ExpandedViews(kbuildCompiler(headers), tree);
  } catch (err) {
    if (err instanceof PreprocessError) throw new PatchError(`--preprocess: ${err.message}`);
    throw err;
  }
}

/** 1: the patch is known to be unsafe; 2: nothing else is wrong, but a file went unchecked; 0: clean. */
export function exitStatus(findings: { rule: string; severity: string }[]): number {
  if (findings.some((f) => f.severity === 'error' && f.rule !== NOT_ANALYSED.id)) return 1;
  if (findings.some((f) => f.severity === 'error')) return 2;
  return 0;
}

function writeModule(args: Args, result: Awaited<ReturnType<typeof analyzePatches>>): number {
  const symvers = readText(args.symvers);
  try {
    const m = generateModule(result, {
      name: args.moduleName ?? moduleNameFrom(args.patches[0] === '-' ? 'stdin' : args.patches[0]),
      replace: args.replace,
      exported: symvers === null ? null : parseSymvers(symvers),
      kallsyms: readText(args.kallsyms),
      tree: KernelTree.open(args.tree!, args.config),
    });
    writeModuleFiles(args.generate!, m.files);
    process.stdout.write(
      `livepatch-check: wrote ${m.name} (${m.functions.map((f) => `${f.object}:${f.oldName}`).join(', ')}) to ${args.generate}\n`,
    );
    writeReplaceNote(m.name, args.replace);
    if (m.unverified.length)
      process.stdout.write(`livepatch-check: note: not verified as exported (no --symvers): ${m.unverified.join(', ')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof GenerateError) {
      process.stderr.write(`livepatch-check: ${err.message}\n`);
      return 1;
    }
    if (err instanceof WriteModuleError) throw new PatchError(err.message);
    throw err;
  }
}

/** Says what loading the module does to the livepatches already on the target. */
function writeReplaceNote(name: string, replace: boolean): void {
  process.stdout.write(
    replace
      ? `livepatch-check: ${name} is an atomic-replace patch: loading it disables and replaces every livepatch already loaded\n`
      : `livepatch-check: ${name} stacks on the livepatches already loaded (--replace makes it replace them)\n`,
  );
}

function readText(f: string | null): string | null {
  if (f === null) return null;
  try {
    return fs.readFileSync(f, 'utf8');
  } catch (err) {
    throw new PatchError(`cannot read ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The patched-unit path: the patched file compiled as the module, kernel symbols bound by klp relocations. */
async function writeUnitModule(args: Args, result: Awaited<ReturnType<typeof analyzePatches>>): Promise<number> {
  const symversFile = args.symvers ?? (args.headers !== null ? path.join(args.headers, 'Module.symvers') : null);
  const symvers = readText(symversFile);
  const kallsymsText = readText(args.kallsyms);
  const exported = symvers === null ? null : parseSymversObjects(symvers);
  const kallsyms = kallsymsText === null ? null : new Kallsyms(kallsymsText);
  const out = args.generate!;
  try {
    const m = generatePatchedUnit(result, {
      name: args.moduleName ?? moduleNameFrom(args.patches[0] === '-' ? 'stdin' : args.patches[0]),
      replace: args.replace,
      exported,
      kallsyms,
      tree: KernelTree.open(args.tree!, args.config),
      parser: await createParser(),
    });
    writeModuleFiles(out, m.files);
    process.stdout.write(`livepatch-check: wrote ${m.name} (${m.functions.map((f) => `${f.object}:${f.oldName}`).join(', ')}) to ${out}\n`);
    writeReplaceNote(m.name, args.replace);
    for (const n of m.notes) process.stdout.write(`livepatch-check: note: ${n}\n`);
    if (!kallsyms)
      process.stdout.write('livepatch-check: note: no --kallsyms: every bound symbol is assumed unique in its object (sympos 0)\n');
    if (!args.build) return 0;
    const b = await buildOnHost({ headersDir: args.headers!, dir: out, module: m, exported: exported ?? new Map(), kallsyms });
    process.stdout.write(
      `livepatch-check: built ${b.ko} in ${b.seconds.toFixed(1)} s: ${b.elf.symbols.length} klp symbol(s) in ${b.elf.sections.map((s) => s.name).join(', ') || 'no .klp.rela section'}\n`,
    );
    return 0;
  } catch (err) {
    if (err instanceof GenerateError || err instanceof HostBuildError || err instanceof KlpElfError) {
      process.stderr.write(`livepatch-check: ${err.message}\n`);
      return 1;
    }
    if (err instanceof WriteModuleError) throw new PatchError(err.message);
    throw err;
  }
}

/** What the launcher measured before run(): node's own startup and the bundle's load, in ms. */
export interface LaunchTimes {
  nodeMs: number;
  bundleMs: number;
  /** Starting the tree-state git before the bundle loaded (ms), and what it started. */
  gitStartMs?: number;
  treeState?: StartedTreeState | null;
}

/** Runs the command and exits with its status once the output is flushed; `done` runs just before. */
export function run(argv: string[], done: () => void = () => {}, launch?: LaunchTimes): void {
  const timingsWanted = !!process.env.KLP_TIMINGS;
  if (timingsWanted) {
    timings.enableTimings();
    // Without the launcher (the source run directly), node's startup and the load are one figure.
    timings.add('node startup', launch?.nodeMs ?? performance.now());
    if (launch) timings.add('bundle load', launch.bundleMs);
    if (launch?.gitStartMs !== undefined) timings.add('git (started by the launcher)', launch.gitStartMs);
  }
  if (launch?.treeState) adoptTreeState(launch.treeState);
  main(argv).then((code) => {
    if (timingsWanted) reportTimings();
    done();
    // Exit as soon as the output is flushed: tearing down the wasm heap and idle
    // handles otherwise adds a few hundred milliseconds to every CI invocation.
    process.stdout.write('', () => process.exit(code));
  });
}

/**
 * KLP_TIMINGS=1: one line on stderr, `livepatch-check: timings: {JSON}`, with the
 * run's time so far and each phase's own share; `other` is what no phase claimed
 * (JavaScript between phases, garbage collection, output).
 */
function reportTimings(): void {
  const total = performance.now();
  const phases = timings.phaseTimes();
  const claimed = Object.values(phases).reduce((a, b) => a + b, 0);
  phases.other = Math.round((total - claimed) * 10) / 10;
  process.stderr.write(`livepatch-check: timings: ${JSON.stringify({ totalMs: Math.round(total * 10) / 10, phases })}\n`);
}

// dist/livepatch-check.js is launch.ts, which loads this bundle with a code cache
// and calls run(); this is for running the source directly.
if (require.main === module) {
  v8.setFlagsFromString(LAUNCH_V8_FLAGS);
  run(process.argv.slice(2));
}
