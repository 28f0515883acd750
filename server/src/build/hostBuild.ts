// Builds a generated patched-unit module on this machine against a kernel headers
// directory, then turns the .ko into a livepatch module (klp relocations).
//
// It lives outside server/src/engine because it runs programs (make, gcc through
// kbuild): the engine stays a pure library that the language server can run on every
// keystroke. livepatch-check (--build-module) and the deploy client call it.
//
// Steps: write the files; `make -C <headers> M=<dir> KBUILD_MODPOST_WARN=1 modules`
// (argv, no shell); read modpost's report and fail on anything but "undefined!" for
// the symbols that klp relocations will bind; bind them (the placeholders the C source
// carries, and by name the other files' symbols no export resolves); run the ELF pass;
// write the .ko back. finishModule is that last part alone, for a .ko that make built on
// the target (unitBuild.ts in the client).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PatchedUnitModule } from '../engine/generate/patchedUnit';
import type { Kallsyms } from '../engine/generate/symbols';
import { bindUndefined, undefinedSymbols } from '../engine/generate/klpElf/undefined';
import { convertToLivepatchElf, type KlpElfResult } from '../engine/generate/klpElf';
import type { KlpSymbol } from '../engine/generate/klpElf/placeholder';
import { writeModuleFiles, WriteModuleError } from '../cli/writeModule';

export interface HostBuildOptions {
  /** A kbuild tree: /usr/src/linux-headers-<release> or /lib/modules/<release>/build. */
  headersDir: string;
  /** Build directory; created; the module's files are written into it. */
  dir: string;
  module: PatchedUnitModule;
  /** Exported symbol -> exporting object (the target's Module.symvers). */
  exported: Map<string, string>;
  kallsyms?: Kallsyms | null;
  timeoutMs?: number;
  /** make's executable (tests); default `make` from PATH. */
  make?: string;
  /** Cancels the build: make is stopped and the build fails. */
  signal?: AbortSignal;
}

export interface HostBuildResult {
  ko: string;
  seconds: number;
  /** Symbols bound by name after the build (other files' non-exported symbols). */
  boundByName: KlpSymbol[];
  elf: KlpElfResult;
  log: string;
}

/** Why a host build failed; `messages` holds compiler or modpost lines worth showing. */
export class HostBuildError extends Error {
  constructor(
    message: string,
    readonly messages: string[] = [],
    readonly log = '',
  ) {
    super(messages.length ? `${message}:\n${messages.map((m) => `  ${m}`).join('\n')}` : message);
  }
}

export interface ModpostReport {
  undefined: string[];
  /** "suppressed N unresolved symbol warnings because there were too many": N. */
  suppressed: number;
  /** Every other modpost line (warnings and errors). */
  other: string[];
}

/** modpost's lines from a kbuild log. */
export function parseModpost(log: string): ModpostReport {
  const report: ModpostReport = { undefined: [], suppressed: 0, other: [] };
  for (const line of log.split('\n')) {
    if (!/\bmodpost\b.*:/.test(line) || !/^(?:WARNING|ERROR|FATAL)?:?\s*modpost:/.test(line.trim())) continue;
    const m = /modpost: "([^"]+)" \[[^\]]+\] undefined!/.exec(line);
    const many = /modpost: suppressed (\d+) unresolved symbol warnings because there were too many/.exec(line);
    if (m) report.undefined.push(m[1]);
    else if (many) report.suppressed += Number(many[1]);
    else report.other.push(line.trim());
  }
  return report;
}

function run(argv: string[], cwd: string, timeoutMs: number, signal?: AbortSignal): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new HostBuildError('the build was cancelled'));
    const child = spawn(argv[0], argv.slice(1), { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    const onAbort = (): void => void child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new HostBuildError(`cannot run ${argv[0]}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) reject(new HostBuildError('the build was cancelled', [], out));
      else resolve({ code, out });
    });
  });
}

/** Where each other-file symbol lives: kallsyms when given, else the patched object (modules) or vmlinux. */
function chooseBinding(
  name: string,
  mod: PatchedUnitModule,
  exported: Map<string, string>,
  ks: Kallsyms | null | undefined,
): KlpSymbol | string {
  const exporter = exported.get(name);
  if (exporter && exporter !== 'vmlinux') return { object: exporter, name, sympos: 0 };
  const ownObjects = [...new Set(mod.units.map((u) => u.object))];
  if (ks && ownObjects.every((o) => ks.covers(o))) {
    const objects = ks.objectsOf(name);
    if (!objects.length) return `${name} is neither exported nor in the target's kallsyms: the running kernel has no such symbol`;
    const own = objects.filter((o) => mod.objects.includes(o));
    const object = own.length === 1 ? own[0] : objects.length === 1 ? objects[0] : null;
    if (!object) return `${name} is defined in several objects (${objects.join(', ')}) and none is the patched one`;
    const n = ks.entries(name, object).length;
    if (n > 1) return `${object} has ${n} symbols named ${name}; kallsyms does not say which one the patched code means`;
    return { object, name, sympos: 0 };
  }
  if (ks) {
    // A module kallsyms does not list: the name is in vmlinux if kallsyms has it there.
    if (ks.entries(name, 'vmlinux').length === 1) return { object: 'vmlinux', name, sympos: 0 };
  }
  return { object: ownObjects.length === 1 ? ownObjects[0] : 'vmlinux', name, sympos: 0 };
}

export async function buildOnHost(opts: HostBuildOptions): Promise<HostBuildResult> {
  const started = Date.now();
  const { dir, module: mod } = opts;
  if (!fs.existsSync(path.join(opts.headersDir, 'Makefile')))
    throw new HostBuildError(`${opts.headersDir} is not a kernel build directory (no Makefile)`);
  // Never through a symlink planted in the build directory (see writeModule.ts).
  try {
    writeModuleFiles(dir, mod.files);
  } catch (err) {
    if (err instanceof WriteModuleError) throw new HostBuildError(err.message);
    throw err;
  }
  const absDir = path.resolve(dir);
  const { code, out } = await run(
    [opts.make ?? 'make', '-C', opts.headersDir, `M=${absDir}`, 'KBUILD_MODPOST_WARN=1', 'modules'],
    absDir,
    opts.timeoutMs ?? 300_000,
    opts.signal,
  );
  const ko = path.join(absDir, `${mod.name}.ko`);
  if (code !== 0 || !fs.existsSync(ko)) {
    const messages = out
      .split('\n')
      .filter((l) => /\b(?:error|fatal error|undefined reference)\b/i.test(l))
      .slice(0, 40);
    throw new HostBuildError(
      `the module did not build (make exit ${code})`,
      messages.length ? messages : out.trim().split('\n').slice(-20),
      out,
    );
  }
  const done = finishModule(fs.readFileSync(ko), out, opts);
  fs.writeFileSync(ko, done.elf.elf);
  return { ko, seconds: (Date.now() - started) / 1000, boundByName: done.boundByName, elf: done.elf, log: out };
}

/**
 * The step after make, wherever make ran (here, or on the target): checks modpost's report,
 * binds what the compiler left undefined and no export resolves, and runs the ELF pass.
 * Pure: bytes and the build log in, the livepatch .ko out.
 */
export function finishModule(
  ko: Uint8Array,
  out: string,
  opts: Pick<HostBuildOptions, 'module' | 'exported' | 'kallsyms'>,
): { elf: KlpElfResult; boundByName: KlpSymbol[] } {
  const mod = opts.module;
  const report = parseModpost(out);
  if (report.other.length) throw new HostBuildError('modpost reported problems', report.other, out);

  // Bind what the compiler left undefined and no vmlinux export resolves.
  let bytes: Uint8Array = ko;
  const byName = new Map<string, KlpSymbol>();
  const refusals: string[] = [];
  for (const u of undefinedSymbols(bytes)) {
    // An export links as usual: vmlinux's, or another module's (the patch module then depends
    // on it, as the patched code does). Only the patched modules' own symbols go through klp
    // relocations, which wait for the module instead of requiring it.
    const exporter = opts.exported.get(u.name);
    if (exporter && !mod.objects.includes(exporter)) continue;
    const b = chooseBinding(u.name, mod, opts.exported, opts.kallsyms);
    if (typeof b === 'string') refusals.push(b);
    else byName.set(u.name, b);
  }
  if (refusals.length) throw new HostBuildError('the patched code refers to symbols that cannot be bound', refusals, out);
  const unexpected = report.undefined.filter((s) => !byName.has(s));
  if (unexpected.length)
    throw new HostBuildError(
      'modpost reported undefined symbols that are not bound',
      unexpected.map((s) => `"${s}" undefined`),
      out,
    );
  // The ones modpost did not name are among the .ko's undefined symbols read above, each bound or exported.
  if (report.undefined.length + report.suppressed > byName.size) {
    throw new HostBuildError(
      'modpost reported more undefined symbols than are bound',
      [`${report.undefined.length} named and ${report.suppressed} suppressed, ${byName.size} bound`],
      out,
    );
  }
  bytes = bindUndefined(bytes, byName);
  const elf = convertToLivepatchElf(bytes, { objects: mod.objects.filter((o) => o !== 'vmlinux') });
  return { elf, boundByName: [...byName.values()] };
}
