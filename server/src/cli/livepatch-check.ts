// livepatch-check: the engine as a command for CI and other editors.
//
//   livepatch-check [--tree DIR] [--config FILE] [--format text|json|sarif] PATCH...
//
// Exit 0: no error-level findings; 1: error-level findings; 2: bad input or usage.

import * as fs from 'node:fs';
import { analyzePatches, PatchError, type PatchInput } from '../engine/analyze';
import { formatText } from './format/text';
import { formatJson } from './format/json';
import { formatSarif } from './format/sarif';

const VERSION = '0.1.0';
const USAGE = `usage: livepatch-check [--tree DIR] [--config FILE] [--format text|json|sarif] PATCH...
  --tree DIR      kernel source tree the patches apply to (without it: hunk-only analysis)
  --config FILE   kernel .config for module decisions (default: DIR/.config)
  --format FMT    text (default, gcc-style), json, or sarif (SARIF 2.1.0)
  -               read a patch from standard input`;

class UsageError extends Error {}

interface Args {
  tree: string | null;
  config: string | null;
  format: 'text' | 'json' | 'sarif';
  patches: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { tree: null, config: null, format: 'text', patches: [] };
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
    else if (name === '--format') {
      const f = value();
      if (f !== 'text' && f !== 'json' && f !== 'sarif') throw new UsageError(`unknown format '${f}'`);
      a.format = f;
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (arg === '--version') {
      process.stdout.write(VERSION + '\n');
      process.exit(0);
    } else if (arg === '--') a.patches.push(...argv.slice(i + 1)), (i = argv.length);
    else if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option '${arg}'`);
    else a.patches.push(arg);
  }
  if (!a.patches.length) throw new UsageError('no patch given');
  return a;
}

function readInput(p: string): PatchInput {
  try {
    return { name: p === '-' ? '<stdin>' : p, text: fs.readFileSync(p === '-' ? 0 : p) };
  } catch (err) {
    throw new PatchError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
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
    if (args.config !== null && !fs.existsSync(args.config)) throw new PatchError(`config '${args.config}' does not exist`);
    const inputs = args.patches.map(readInput);
    const result = await analyzePatches(inputs, { tree: args.tree, config: args.config });
    const out = args.format === 'json' ? formatJson(result) : args.format === 'sarif' ? formatSarif(result, VERSION) : formatText(result);
    process.stdout.write(out);
    return result.findings.some((f) => f.severity === 'error') ? 1 : 0;
  } catch (err) {
    if (err instanceof PatchError) {
      process.stderr.write(`livepatch-check: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`livepatch-check: internal error: ${(err as Error).stack ?? err}\n`);
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
