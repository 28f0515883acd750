// Typed livepatch state, parsed from the snapshot stateScript.ts prints. Tolerant of
// attributes that exist only on some kernels (transition 4.12+, force 4.15+, patched 6.1+,
// replace 6.11+, stack_order 6.13+).

import type { RunOptions, SshTarget } from './ssh';
import { readStateSnapshot, STATE_FORMAT_VERSION, type StateRoots } from './stateScript';

export interface TaintFlag {
  bit: number;
  letter: string;
  description: string;
}

export interface TaintInfo {
  /** /proc/sys/kernel/tainted; undefined when it could not be read. */
  value: number | undefined;
  /** Letters of the set bits, in bit order (P for bit 0, K for bit 15, ...). */
  flags: string[];
  details: TaintFlag[];
  /** Bits set that this table does not know (newer kernels). */
  unknownBits: number[];
  /** TAINT_LIVEPATCH (K, bit 15): a livepatch module was loaded since boot. It stays after unload. */
  livepatch: boolean;
}

export interface LivepatchFunction {
  name: string;
  /** Occurrence in kallsyms; the kernel shows 0 as 1. */
  sympos: number;
}

export interface LivepatchObject {
  /** `vmlinux` or a module name. */
  name: string;
  /** 6.1+: the object's code is patched (false when its module is not loaded). */
  patched?: boolean;
  functions: LivepatchFunction[];
  attributes: Record<string, string>;
}

export interface LivepatchPatch {
  name: string;
  enabled: boolean;
  /** 4.12+: this patch is the one in transition. */
  transition: boolean;
  /** 6.11+: an atomic-replace patch. */
  replace?: boolean;
  /** 6.13+: position in the patch stack (1-based). */
  stackOrder?: number;
  /** 4.15+: `force` exists (write-only), so a stuck transition can be forced. */
  canForce: boolean;
  objects: LivepatchObject[];
  /** Every readable attribute as read (including ones this parser does not know). */
  attributes: Record<string, string>;
  /** Attributes present but unreadable (write-only ones such as force, signal). */
  writeOnly: string[];
}

export interface StalledTask {
  pid: number;
  tid: number;
  comm: string;
  /** /proc/<pid>/patch_state: 0 unpatched, 1 patched (≠ the transition's target). */
  state: number;
  stack: string[];
  /** /proc/<pid>/stack could not be read (needs root). */
  stackUnreadable: boolean;
}

export interface LivepatchModule {
  name: string;
  /** /sys/module/<name>/taint, e.g. "OEK". */
  taint: string;
  /** A patch directory of that name exists (false: disabled, still loaded; rmmod it). */
  hasPatchDir: boolean;
}

export interface LivepatchState {
  kernelRelease: string;
  /** /proc/sys/kernel/random/boot_id ('' when unreadable): new on every boot, so a saved one tells whether the target rebooted. */
  bootId: string;
  /** /sys/kernel/livepatch exists (CONFIG_LIVEPATCH). */
  livepatchSupported: boolean;
  taint: TaintInfo;
  patches: LivepatchPatch[];
  /** The patch in transition and the state tasks move to (1 patching, 0 unpatching). */
  transition?: { patch: string; target: number };
  stalledTasks: StalledTask[];
  /** Loaded modules tainted K (livepatch modules). */
  livepatchModules: LivepatchModule[];
  /** Lines the parser skipped, for the log. */
  warnings: string[];
}

export class StateParseError extends Error {
  override readonly name = 'StateParseError';
}

// include/linux/panic.h + kernel/panic.c taint_flags[]: bit, letter when set, meaning.
export const TAINT_TABLE: readonly TaintFlag[] = [
  { bit: 0, letter: 'P', description: 'proprietary module loaded' },
  { bit: 1, letter: 'F', description: 'module force loaded' },
  { bit: 2, letter: 'S', description: 'running on an out-of-specification system' },
  { bit: 3, letter: 'R', description: 'module force unloaded' },
  { bit: 4, letter: 'M', description: 'machine check exception' },
  { bit: 5, letter: 'B', description: 'bad page referenced or unexpected page flags' },
  { bit: 6, letter: 'U', description: 'taint requested by user space' },
  { bit: 7, letter: 'D', description: 'kernel died recently (OOPS or BUG)' },
  { bit: 8, letter: 'A', description: 'ACPI table overridden' },
  { bit: 9, letter: 'W', description: 'kernel warning issued' },
  { bit: 10, letter: 'C', description: 'staging driver loaded' },
  { bit: 11, letter: 'I', description: 'platform firmware bug workaround' },
  { bit: 12, letter: 'O', description: 'out-of-tree module loaded' },
  { bit: 13, letter: 'E', description: 'unsigned module loaded' },
  { bit: 14, letter: 'L', description: 'soft lockup occurred' },
  { bit: 15, letter: 'K', description: 'kernel live patched' },
  { bit: 16, letter: 'X', description: 'auxiliary taint (distribution-defined)' },
  { bit: 17, letter: 'T', description: 'built with the struct randomization plugin' },
  { bit: 18, letter: 'N', description: 'in-kernel test run' },
  { bit: 19, letter: 'J', description: 'fwctl firmware-control debug access' },
];

export const TAINT_LIVEPATCH_BIT = 15;

export function decodeTaint(value: number | undefined): TaintInfo {
  if (value === undefined || !Number.isFinite(value) || value < 0) {
    return { value: undefined, flags: [], details: [], unknownBits: [], livepatch: false };
  }
  const details: TaintFlag[] = [];
  const unknownBits: number[] = [];
  // Bitwise ops are 32-bit; taint masks fit, but stay exact for any safe integer.
  let rest = BigInt(Math.trunc(value));
  for (let bit = 0; rest > 0n; bit++, rest >>= 1n) {
    if ((rest & 1n) === 0n) continue;
    const known = TAINT_TABLE.find((t) => t.bit === bit);
    if (known) details.push(known);
    else unknownBits.push(bit);
  }
  return {
    value,
    flags: details.map((d) => d.letter),
    details,
    unknownBits,
    livepatch: details.some((d) => d.bit === TAINT_LIVEPATCH_BIT),
  };
}

function flag(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  if (t === '1') return true;
  if (t === '0') return false;
  return undefined;
}

function int(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

export function parseFunctionDir(dir: string): LivepatchFunction {
  const comma = dir.lastIndexOf(',');
  if (comma < 0) return { name: dir, sympos: 1 };
  const pos = int(dir.slice(comma + 1));
  return { name: dir.slice(0, comma), sympos: pos === undefined ? 1 : pos || 1 };
}

/** Parse the snapshot printed by STATE_SCRIPT. Throws StateParseError when it is not one or was cut short. */
export function parseStateSnapshot(text: string): LivepatchState {
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const header = lines[0]?.split('\t');
  if (!header || header[0] !== 'klp-state') throw new StateParseError('Not a livepatch state snapshot (no klp-state header).');
  if (Number(header[1]) !== STATE_FORMAT_VERSION)
    throw new StateParseError(`Unsupported snapshot format ${header[1]} (expected ${STATE_FORMAT_VERSION}).`);
  if (lines[lines.length - 1] !== 'end') throw new StateParseError('The state snapshot was cut short (no end marker).');

  const warnings: string[] = [];
  let kernelRelease = '';
  let bootId = '';
  let taintValue: number | undefined;
  let livepatchSupported = false;
  let transition: LivepatchState['transition'];
  const patches = new Map<string, { attrs: Record<string, string>; writeOnly: string[]; objects: Map<string, LivepatchObject> }>();
  const tasks = new Map<number, StalledTask>();
  const modules: Array<{ name: string; taint: string }> = [];

  const patch = (name: string) => {
    let p = patches.get(name);
    if (!p) patches.set(name, (p = { attrs: {}, writeOnly: [], objects: new Map() }));
    return p;
  };
  const object = (p: string, o: string): LivepatchObject => {
    const objs = patch(p).objects;
    let obj = objs.get(o);
    if (!obj) objs.set(o, (obj = { name: o, functions: [], attributes: {} }));
    return obj;
  };

  for (let i = 1; i < lines.length - 1; i++) {
    const line = lines[i];
    const f = line.split('\t');
    const need = (n: number): boolean => {
      if (f.length >= n) return true;
      warnings.push(`line ${i + 1}: too few fields: ${line}`);
      return false;
    };
    // The last field may contain tabs (comm, stack lines): rejoin the rest.
    const restFrom = (n: number): string => f.slice(n).join('\t');
    switch (f[0]) {
      case 'kernel':
        kernelRelease = restFrom(1);
        break;
      case 'boot':
        bootId = restFrom(1);
        break;
      case 'tainted':
        taintValue = int(f[1]);
        if (taintValue === undefined) warnings.push(`line ${i + 1}: bad taint value ${f[1]}`);
        break;
      case 'tainted-unreadable':
        break;
      case 'livepatch':
        livepatchSupported = f[1] === '1';
        break;
      case 'patch':
        if (need(2)) patch(f[1]);
        break;
      case 'patch-attr':
        if (need(4)) patch(f[1]).attrs[f[2]] = restFrom(3);
        break;
      case 'patch-attr-unreadable':
        if (need(3)) patch(f[1]).writeOnly.push(f[2]);
        break;
      case 'object':
        if (need(3)) object(f[1], f[2]);
        break;
      case 'object-attr':
        if (need(5)) object(f[1], f[2]).attributes[f[3]] = restFrom(4);
        break;
      case 'object-attr-unreadable':
        break;
      case 'func':
        if (need(4)) object(f[1], f[2]).functions.push(parseFunctionDir(f[3]));
        break;
      case 'transition': {
        const target = int(f[2]);
        if (need(3) && target !== undefined) transition = { patch: f[1], target };
        break;
      }
      case 'task': {
        if (!need(5)) break;
        const pid = int(f[1]);
        const tid = int(f[2]);
        const state = int(f[3]);
        if (pid === undefined || tid === undefined || state === undefined) {
          warnings.push(`line ${i + 1}: bad task record: ${line}`);
          break;
        }
        tasks.set(tid, { pid, tid, state, comm: restFrom(4), stack: [], stackUnreadable: false });
        break;
      }
      case 'stack': {
        const t = tasks.get(int(f[1]) ?? -1);
        if (t && need(2)) t.stack.push(restFrom(2));
        break;
      }
      case 'stack-unreadable': {
        const t = tasks.get(int(f[1]) ?? -1);
        if (t) t.stackUnreadable = true;
        break;
      }
      case 'module':
        if (need(3)) modules.push({ name: f[1], taint: f[2] });
        break;
      default:
        warnings.push(`line ${i + 1}: unknown record ${f[0]}`);
    }
  }

  const out: LivepatchPatch[] = [...patches].map(([name, p]) => {
    const a = p.attrs;
    const objects = [...p.objects.values()].map((o) => ({ ...o, patched: flag(o.attributes.patched) }));
    const enabled = flag(a.enabled);
    if (enabled === undefined) warnings.push(`patch ${name}: no readable enabled attribute`);
    return {
      name,
      enabled: enabled ?? false,
      transition: flag(a.transition) ?? false,
      replace: flag(a.replace),
      stackOrder: int(a.stack_order),
      canForce: p.writeOnly.includes('force') || 'force' in a,
      objects,
      attributes: a,
      writeOnly: p.writeOnly,
    };
  });
  const patchNames = new Set(out.map((p) => p.name));
  return {
    kernelRelease,
    bootId,
    livepatchSupported,
    taint: decodeTaint(taintValue),
    patches: out,
    transition,
    stalledTasks: [...tasks.values()],
    livepatchModules: modules.map((m) => ({ ...m, hasPatchDir: patchNames.has(m.name) })),
    warnings,
  };
}

/** One round trip: run the state script on the target and parse its snapshot. */
export async function readLivepatchState(
  target: SshTarget,
  roots: StateRoots = {},
  opts: Pick<RunOptions, 'signal' | 'timeoutMs'> = {},
): Promise<LivepatchState> {
  return parseStateSnapshot(await readStateSnapshot(target, roots, opts));
}
