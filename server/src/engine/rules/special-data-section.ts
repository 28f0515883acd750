// special-data-section: -fdata-sections gives each plain variable its own
// .data.<name> section, which is what lets kpatch tell data apart. Variables
// the source forces into a named section (__read_mostly, __ro_after_init,
// per-CPU, cacheline/page aligned, __section()) share one section per object,
// so adding, changing or removing one changes that whole section.

import type { FunctionDef, VariableDef } from '../model';
import type { FileChange, Rule } from './rule';
import { DATA_ATTRIBUTES } from '../index/attributes';
import { codeIdentifiers } from './lib/codeText';

const ATTR_SECTIONS: Record<string, string> = {
  __read_mostly: '.data..read_mostly',
  __ro_after_init: '.data..ro_after_init',
  __cacheline_aligned: '.data..cacheline_aligned',
  __cacheline_aligned_in_smp: '.data..cacheline_aligned',
  __page_aligned_data: '.data..page_aligned',
  __page_aligned_bss: '.bss..page_aligned',
  __nosavedata: '.data..nosave',
};

const PER_CPU_SECTIONS: Record<string, string> = {
  DEFINE_PER_CPU: '.data..percpu',
  DEFINE_PER_CPU_READ_MOSTLY: '.data..percpu..read_mostly',
  DEFINE_PER_CPU_SHARED_ALIGNED: '.data..percpu..shared_aligned',
  DEFINE_PER_CPU_ALIGNED: '.data..percpu..shared_aligned',
  DEFINE_PER_CPU_PAGE_ALIGNED: '.data..percpu..page_aligned',
  DEFINE_PER_CPU_FIRST: '.data..percpu..first',
  DEFINE_PER_CPU_DECRYPTED: '.data..percpu..decrypted',
};

// Macros that define per-CPU data internally (their instances occupy .data..percpu).
const HIDDEN_PER_CPU = /^DEFINE_(?:STATIC_)?(?:SRCU|PERCPU_RWSEM)$/;

// Sections kpatch handles itself or other rules own.
const NOT_OURS = /^\.(?:data\.once|init|exit|meminit|ref|discard)/;

interface Placement {
  section: string;
  /** What the source wrote, for the message. */
  via: string;
}

/** The named data section a declaration forces, from its identifiers and text. */
export function placementOf(ids: Iterable<string>, text: string): Placement | null {
  for (const id of ids) {
    if (ATTR_SECTIONS[id]) return { section: ATTR_SECTIONS[id], via: id };
    if (PER_CPU_SECTIONS[id]) return { section: PER_CPU_SECTIONS[id], via: id };
    if (/^DEFINE_PER_CPU/.test(id)) return { section: '.data..percpu', via: id };
  }
  const m = /\b__section\(\s*"?([^")]+?)"?\s*\)|__attribute__\s*\(\(\s*(?:__)?section(?:__)?\s*\(\s*"([^"]+)"/.exec(text);
  const section = m?.[1] ?? m?.[2];
  if (section && !NOT_OURS.test(section)) return { section, via: `__section("${section}")` };
  return null;
}

function placementOfVar(v: VariableDef): Placement | null {
  return placementOf([...v.attributes, v.type], v.norm);
}

/** Sections the pre-image already has data in (file-scope variables and static locals). */
function sectionsIn(fc: FileChange): Map<string, string> {
  const out = new Map<string, string>();
  if (!fc.pre) return out;
  for (const v of fc.pre.variables) {
    if (v.storage === 'extern') continue;
    if (HIDDEN_PER_CPU.test(v.type)) out.set('.data..percpu', v.name);
    const p = placementOfVar(v);
    if (p && !out.has(p.section)) out.set(p.section, v.name);
  }
  for (const f of fc.pre.functions) {
    for (const s of f.staticLocals) {
      const p = placementOf(codeIdentifiers(s.decl), s.decl);
      if (p && !out.has(p.section)) out.set(p.section, `${f.name}()'s ${s.name}`);
    }
  }
  return out;
}

function fixFor(p: Placement): string {
  if (p.section.startsWith('.data..percpu')) {
    return 'For new per-CPU state, allocate it with alloc_percpu() in a pre-patch callback (free it after unpatching), or use a shadow variable per object.';
  }
  return 'Declare new state as a plain static variable (without the section attribute), and keep per-object state in shadow variables.';
}

/** The declared name; the indexer can report a trailing attribute (`x __read_mostly;`) as the name. */
function localName(name: string, decl: string): string {
  if (!DATA_ATTRIBUTES.has(name)) return name;
  const ids = codeIdentifiers(decl.split('=')[0]).filter((id) => !DATA_ATTRIBUTES.has(id));
  return ids[ids.length - 1] ?? name;
}

interface Item {
  name: string;
  line: number;
  endLine: number;
  image: 'pre' | 'post';
  change: 'new' | 'changed' | 'removed';
  placement: Placement;
  fn: FunctionDef | null;
}

function collect(fc: FileChange): Item[] {
  const items: Item[] = [];
  for (const c of fc.pairing.variables) {
    const v = c.new ?? c.old;
    if (!v || v.storage === 'extern') continue;
    if (c.kind === 'added' && c.new) {
      const p = placementOfVar(c.new);
      if (p)
        items.push({ name: c.name, line: c.new.span.start, endLine: c.new.span.end, image: 'post', change: 'new', placement: p, fn: null });
    } else if ((c.kind === 'body' || c.kind === 'signature') && c.new && c.old) {
      const p = placementOfVar(c.new) ?? placementOfVar(c.old);
      if (p)
        items.push({
          name: c.name,
          line: c.new.span.start,
          endLine: c.new.span.end,
          image: 'post',
          change: 'changed',
          placement: p,
          fn: null,
        });
    } else if (c.kind === 'removed' && c.old) {
      const p = placementOfVar(c.old);
      if (p)
        items.push({
          name: c.name,
          line: c.old.span.start,
          endLine: c.old.span.end,
          image: 'pre',
          change: 'removed',
          placement: p,
          fn: null,
        });
    }
  }
  // Static locals with a section attribute, in changed or new functions.
  for (const c of fc.pairing.functions) {
    if (!c.new || !(c.kind === 'added' || c.kind === 'body' || c.kind === 'signature')) continue;
    const before = new Map((c.old?.staticLocals ?? []).map((s) => [s.name, s.decl]));
    for (const s of c.new.staticLocals) {
      const name = localName(s.name, s.decl);
      const old = before.get(s.name);
      if (old === s.decl) continue;
      const p = placementOf(codeIdentifiers(s.decl), s.decl) ?? (old ? placementOf(codeIdentifiers(old), old) : null);
      if (p)
        items.push({
          name,
          line: s.line,
          endLine: s.line,
          image: 'post',
          change: old === undefined ? 'new' : 'changed',
          placement: p,
          fn: c.new,
        });
    }
  }
  return items;
}

export const specialDataSection: Rule = {
  id: 'special-data-section',
  severity: 'error',
  title: 'Data in a named section (__read_mostly, per-CPU, __ro_after_init...) is not split per variable',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.isC) continue;
      const items = collect(fc);
      if (!items.length) continue;
      const existing = sectionsIn(fc);
      for (const it of items) {
        const { section, via } = it.placement;
        const owner = existing.get(section);
        const subject = it.fn ? `static local '${it.name}' in ${it.fn.name}()` : `variable '${it.name}'`;
        const shared = `${via} places it in ${section}, a section -fdata-sections does not split per variable`;
        const fails = `kpatch-build sees the whole section change ("changed section ${section} not selected for inclusion", or "data section ${section} selected for inclusion") and stops with an unsupported section change`;
        let severity: 'error' | 'warning' = 'error';
        let message: string;
        if (it.change === 'new') {
          if (ctx.tree && !owner) {
            severity = 'warning';
            message =
              `New ${subject}: ${shared}. This file has no other data there, so the section is new to the ` +
              `object and should be accepted, but the next change that adds to or edits it will fail, and the ` +
              `attribute buys nothing in a patch module. ${fixFor(it.placement)}`;
          } else {
            const already = owner
              ? `; this file already has data there (${owner})`
              : ' (without the kernel tree it is unknown whether this object already has data there; if it does)';
            message = `New ${subject}: ${shared}${already}, so ${fails}. ${fixFor(it.placement)}`;
          }
        } else if (it.change === 'changed') {
          const ro =
            section === '.data..ro_after_init'
              ? ' It is also read-only once the kernel has booted, so not even a callback may write it.'
              : ' Even if it built, the running kernel keeps the old object: a live patch does not rewrite existing data.';
          message =
            `Existing ${subject} changes: ${shared}, so ${fails}.${ro} Leave the declaration ` +
            `alone and change the code that reads it instead, or update the live value from a post-patch callback.`;
        } else {
          message =
            `Existing ${subject} is removed: ${shared}, so removing it changes the section too and ` +
            `${fails}. Keep the variable as it was (still referenced: gcc drops an unused static) and stop relying on it in the patched code.`;
        }
        ctx.report({
          severity,
          file: fc.path,
          line: it.line,
          endLine: it.endLine,
          image: it.image,
          function: it.fn?.name ?? null,
          symbol: it.name,
          message,
        });
      }
    }
  },
};
