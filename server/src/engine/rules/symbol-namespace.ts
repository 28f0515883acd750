// symbol-namespace: built-in code may use a namespaced export freely, but the
// patch is a module, and modpost refuses a module that uses a symbol from a
// namespace it does not import.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Rule, RuleContext } from './rule';
import { findDefinition } from './lib/treeSearch';
import type { KernelTree } from '../tree/kernelTree';
import { isIgnoredFunction, touchedFunctions } from './lib/changedFunctions';
import { codeOnly } from './lib/codeText';
import { buildOf, isModuleBuild } from './lib/moduleBuild';
import { safeRead, TREE_CACHE_MS } from './lib/treeSearch';
import { describeFunction } from './lib/wording';
import { symversWitness } from '../target/facts';

/** New names a function starts to use (calls and other identifiers). */
function newNames(
  oldCalls: Set<string>,
  newFnCalls: { name: string; line: number }[],
  ids: Set<string>,
  oldIds: Set<string>,
): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const c of newFnCalls) if (!oldCalls.has(c.name) && !out.has(c.name)) out.set(c.name, c.line);
  for (const id of ids) if (!oldIds.has(id) && !oldCalls.has(id) && !out.has(id)) out.set(id, null);
  return out;
}

interface NsCache {
  at: number;
  map: Map<string, { ns: string; file: string }>;
}
const nsCache = new Map<string, NsCache>();

/** The search grepWords() runs below, to ask gitGrep whether its answer was complete. */
const GREP_ARGS = ['-l', '-w', '-I', '--no-color', '-e', 'EXPORT_SYMBOL_NS', '-e', 'EXPORT_SYMBOL_NS_GPL', '--', '*.c'];

function writeCache(file: string, text: string): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.${process.pid}.tmp`, text);
    fs.renameSync(`${file}.${process.pid}.tmp`, file);
  } catch {
    // a read-only cache only costs speed
  }
}

/** Every EXPORT_SYMBOL_NS*(sym, NS) of the tree: symbol -> namespace and file. */
function namespacedExports(tree: KernelTree): Map<string, { ns: string; file: string }> {
  const hit = nsCache.get(tree.root);
  if (hit && Date.now() - hit.at < TREE_CACHE_MS) return hit.map;
  // Reading every exporting file costs 50-200 ms a run: the table is kept on disk per state of the
  // tree's .c files (all it reads), so its key waits only for their stat.
  const cacheFile = tree.cacheFile('namespaced-exports.json', ['c']);
  if (cacheFile) {
    try {
      const map = new Map(JSON.parse(fs.readFileSync(cacheFile, 'utf8')) as [string, { ns: string; file: string }][]);
      nsCache.set(tree.root, { at: Date.now(), map });
      return map;
    } catch {
      // not made yet for this tree state
    }
  }
  const map = new Map<string, { ns: string; file: string }>();
  const files = new Set(tree.grepWords(['EXPORT_SYMBOL_NS', 'EXPORT_SYMBOL_NS_GPL'], { limit: 3000, cOnly: true }));
  const re = /\bEXPORT_SYMBOL_NS(?:_GPL)?\s*\(\s*([A-Za-z_]\w*)\s*,\s*"?([A-Za-z_]\w*)"?\s*\)/g;
  for (const f of files) {
    if (!f.endsWith('.c')) continue;
    const t = safeRead(tree, f);
    if (!t) continue;
    const code = codeOnly(t);
    let m: RegExpExecArray | null;
    while ((m = re.exec(code))) if (!map.has(m[1])) map.set(m[1], { ns: m[2], file: f });
  }
  nsCache.set(tree.root, { at: Date.now(), map });
  // Only a whole answer is kept: grepWords' search (memoised, not run again) may have timed out.
  if (cacheFile && tree.gitGrep(GREP_ARGS)?.complete && files.size < 3000) writeCache(cacheFile, JSON.stringify([...map]));
  return map;
}

/** The namespace the preprocessor's view gives `name`'s export, found by its EXPORT_SYMBOL* in the tree. */
function expandedNamespace(ctx: RuleContext, name: string): { ns: string; file: string; expanded: true } | undefined {
  const def = findDefinition(ctx.tree!, name, new RegExp(`\\bEXPORT_SYMBOL(?:_GPL)?\\s*\\(\\s*${name}\\s*\\)`));
  if (!def || !def.file.endsWith('.c')) return undefined;
  const e = ctx.expandedView?.(def.file, 'post')?.exports.get(name);
  return e?.namespace ? { ns: e.namespace, file: def.file, expanded: true } : undefined;
}

export const symbolNamespace: Rule = {
  id: 'symbol-namespace',
  severity: 'warning',
  title: 'Patched built-in code uses a namespaced export: the patch module must import the namespace',
  needsTree: true,
  readsTreeCache: true,
  // Module.symvers names every namespaced export of the target: no tree search needed.
  runsOnFacts: (facts) => facts.symvers !== null,
  check(ctx) {
    const symvers = ctx.facts?.symvers ?? null;
    if (!ctx.tree && !symvers) return;
    let exportsNs: ReturnType<typeof namespacedExports> | null = null;
    let ns: { ns: string; file: string; expanded?: boolean } | undefined;
    for (const fc of ctx.files) {
      if (!fc.post || !fc.path.endsWith('.c')) continue;
      const touched = touchedFunctions(fc).filter((t) => !isIgnoredFunction(fc, t.new.name));
      // Module code already needs MODULE_IMPORT_NS() in its own source to build at all.
      // (Asked after `touched`: the build may wait for a git over the tree's Kconfig files.)
      if (!touched.length || isModuleBuild(buildOf(ctx, fc.path)?.build)) continue;
      const local = new Set([...fc.post.functions.map((f) => f.name), ...fc.post.variables.map((v) => v.name)]);
      for (const t of touched) {
        const names = newNames(
          new Set((t.old?.calls ?? []).map((c) => c.name)),
          t.new.calls,
          t.new.identifiers,
          t.old?.identifiers ?? new Set(),
        );
        for (const [name, line] of names) {
          if (local.has(name) || !/^[a-z_]\w*$/.test(name)) continue;
          // The target's Module.symvers is certain where it lists the symbol; the tree's source is the fallback.
          const exported = symvers?.get(name);
          if (exported && !exported.namespace) continue;
          ns = undefined;
          if (exported) ns = { ns: exported.namespace!, file: exported.module };
          else if (ctx.tree) {
            exportsNs ??= namespacedExports(ctx.tree);
            ns = exportsNs.get(name);
            // A plain EXPORT_SYMBOL* can be namespaced by the Makefile (ccflags-y += -DDEFAULT_SYMBOL_NAMESPACE=...)
            // or a #define: the preprocessor's view of the exporting file says.
            if (!ns && line !== null && ctx.expandedView) ns = expandedNamespace(ctx, name);
          }
          if (!ns) continue;
          if (new RegExp(`\\bMODULE_IMPORT_NS\\s*\\(\\s*"?${ns.ns}"?\\s*\\)`).test(fc.post.text)) continue;
          const at =
            line ??
            t.new.calls.find((c) => c.name === name)?.line ??
            (() => {
              for (let l = t.new.bodySpan.start; l <= t.new.bodySpan.end; l++)
                if (new RegExp(`\\b${name}\\b`).test(fc.post!.lines[l] ?? '')) return l;
              return t.new.span.start;
            })();
          const source = exported
            ? `which ${symversWitness(ctx.facts!)} lists as exported by ${exported.module} (${exported.exportType}) in namespace ${ns.ns}`
            : `which ${ns.file} exports in namespace ${ns.ns}${ns.expanded ? " (its EXPORT_SYMBOL names no namespace; the preprocessor's view of the file shows DEFAULT_SYMBOL_NAMESPACE gives it one)" : ''}`;
          ctx.report({
            ...(exported ? { severity: 'error' as const } : {}),
            file: fc.path,
            line: at,
            function: t.new.name,
            symbol: name,
            message: `${describeFunction(t.new)} now uses ${name}(), ${source}. Built-in code needs no import, but the patch is a module: modpost stops with "module ... uses symbol ${name} from namespace ${ns.ns}, but does not import it". Add MODULE_IMPORT_NS(${ns.ns}); to the patched file (MODULE_IMPORT_NS("${ns.ns}") on kernels from 6.13).`,
          });
        }
      }
    }
  },
};
