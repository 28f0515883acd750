// Macros that hide static state (once, ratelimit, dynamic debug, static keys, lockdep) and the static locals a function declares.

import type { FileIndex, FunctionDef } from '../../model';
import { usesIn, type Use } from './codeText';

export type StateFamily = 'once' | 'ratelimit' | 'dyndbg' | 'static-key' | 'lockdep';

/** Macro name -> the kind of hidden static it defines, or null. */
export function stateFamily(name: string): StateFamily | null {
  if (
    /^(?:WARN_ONCE|WARN_ON_ONCE|WARN_TAINT_ONCE|DO_ONCE\w*|printk\w*_once|pr_\w+_once|dev_\w+_once|netdev_\w+_once|netif_\w+_once|ibdev_\w+_once|\w*get_random_once\w*)$/.test(
      name,
    )
  )
    return 'once';
  // net_*_ratelimited() use the shared net_ratelimit() state, not a static of their own.
  if (
    /^(?:DEFINE_RATELIMIT_STATE|printk\w*_ratelimited|pr_\w+_ratelimited|dev_\w+_ratelimited|ibdev_\w+_ratelimited|xfs_\w+_ratelimited)$/.test(
      name,
    )
  )
    return 'ratelimit';
  if (
    /^(?:pr_debug|dev_dbg|netdev_dbg|netif_dbg|ibdev_dbg|print_hex_dump_debug|print_hex_dump_bytes|dynamic_pr_debug|dynamic_dev_dbg|dynamic_netdev_dbg|dynamic_hex_dump)$/.test(
      name,
    )
  )
    return 'dyndbg';
  if (/^DEFINE_STATIC_KEY_\w+$/.test(name)) return 'static-key';
  if (
    /^(?:spin_lock_init|raw_spin_lock_init|rwlock_init|mutex_init|init_rwsem|percpu_init_rwsem|seqcount_init|seqlock_init|init_waitqueue_head|init_completion|INIT_WORK|INIT_DELAYED_WORK|INIT_WORK_ONSTACK|timer_setup|init_srcu_struct|lockdep_register_key)$/.test(
      name,
    )
  )
    return 'lockdep';
  return null;
}

/**
 * Families whose hidden static kpatch treats as special (never correlated, a
 * fresh copy in the patch module, new or not): once flags (`__already_done`,
 * `__warned`, `.data.once`), `_rs` ratelimit state, dynamic-debug descriptors,
 * lockdep `__key`s. All of them are special-static's; static-local-new keeps
 * the statics kpatch correlates by name.
 */
export function isSpecialUse(u: { name: string; family: StateFamily }): u is { name: string; family: SpecialFamily } {
  // `static DEFINE_RATELIMIT_STATE(rs, ...)` names its static: kpatch correlates that one by name.
  return u.family !== 'static-key' && !/^DEFINE_/.test(u.name);
}

export type SpecialFamily = Exclude<StateFamily, 'static-key'>;

/** Hidden statics written out by hand under the names kpatch leaves uncorrelated. */
export const SPECIAL_NAMES = new Set(['__warned', '__already_done', '__print_once', '__key', '_rs']);

/** Word followed by `(`: a macro or function use. Group 1 is the name. */
export const CALL_RE = /\b([A-Za-z_]\w*)\s*\(/g;

/** Uses of state-defining macros in a function body. */
export function stateMacroUses(idx: FileIndex, fn: FunctionDef): (Use & { family: StateFamily })[] {
  return usesIn(idx, fn, CALL_RE)
    .map((u) => ({ ...u, family: stateFamily(u.name) }))
    .filter((u): u is Use & { family: StateFamily } => u.family !== null);
}

/** `static DEFINE_FOO(name, ...)` inside a function: macro-made static locals. */
export function macroStaticLocals(idx: FileIndex, fn: FunctionDef): { name: string; macro: string; line: number }[] {
  return usesIn(idx, fn, /\bstatic\s+(?:const\s+)?([A-Z][A-Z0-9_]*)\s*\(\s*([A-Za-z_]\w*)/g)
    .filter((u) => /^(?:DEFINE|DECLARE)_/.test(u.name))
    .map((u) => ({ name: u.groups[0], macro: u.name, line: u.line }));
}

/** Names of the static locals a function declares, plain and macro-made. */
export function staticLocalNames(idx: FileIndex, fn: FunctionDef): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of fn.staticLocals) if (!/^[A-Z0-9_]+$/.test(s.name)) out.set(s.name, s.line);
  for (const s of macroStaticLocals(idx, fn)) if (!out.has(s.name)) out.set(s.name, s.line);
  return out;
}
