// ipa-clone: gcc specialises static functions for their callers (.constprop.N,
// .isra.N, .part.N, .cold). A new call site, different constant arguments or a
// new prototype can undo or change that, so the function and its other callers
// change too even though the patch never touched them.

import type { FileIndex, FunctionDef, RelatedLocation } from '../model';
import type { FileChange, Rule, RuleContext } from './rule';
import { matchParen, splitTopLevel } from '../parse/blank';
import { escapeRegExp } from '../util/text';
import { callCount, callersIn } from './lib/callers';
import { firstChangedLine, isHeader, isIgnoredFunction } from './lib/changedFunctions';
import { describeFunction, listNames } from './lib/wording';
import { otherDefiners, targetObjects } from './lib/targetSymbols';
import { listed, symbolWitness } from '../target/facts';

/**
 * The clones the target lists for static `name` of a patched file, as a phrase naming them
 * ("System.map of 6.1.0-57-amd64 lists `foo.isra.0` (t, vmlinux)"); null without target
 * symbols, when none is listed, or when another file defines a function of that name.
 */
function listedClones(ctx: RuleContext, fc: FileChange, name: string): string | null {
  const facts = ctx.facts;
  if (!facts?.symbols) return null;
  const objects = targetObjects(ctx, fc.path) ?? undefined;
  const clones = facts.symbols.clonesOf(name, objects);
  if (!clones.length || otherDefiners(ctx, name, fc.path).length) return null;
  const object = facts.symbols.entries(clones[0]).find((e) => !objects || objects.includes(e.object))?.object ?? 'vmlinux';
  return `${symbolWitness(facts, object)} lists ${listNames(
    clones.map((c) => listed(facts, c, objects)),
    4,
  )}`;
}

const DROP_WORDS = /\b(?:static|inline|extern|noinline|notrace|asmlinkage)\b/g;

/** Drops `__attribute__((...))` and `__macro(...)` / `__macro` annotations, which are not part of the ABI. */
function stripAnnotations(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const m = /^__\w+/.exec(text.slice(i));
    if (m && (i === 0 || !/\w/.test(text[i - 1]))) {
      i += m[0].length;
      let j = i;
      while (text[j] === ' ') j++;
      if (text[j] === '(') {
        let depth = 0;
        for (; j < text.length; j++) {
          if (text[j] === '(') depth++;
          else if (text[j] === ')' && --depth === 0) break;
        }
        i = j + 1;
      }
      out += ' ';
      continue;
    }
    out += text[i++];
  }
  return out.replace(DROP_WORDS, ' ').replace(/\s+/g, ' ').trim();
}

/** Return type and parameter list from a normalised head, attributes dropped. */
function prototype(fn: FunctionDef): string {
  const sig = fn.signature;
  const at = new RegExp(`(?<![\\w$])${fn.name}\\(`).exec(sig);
  if (!at) return sig;
  let depth = 0;
  let end = sig.length;
  for (let i = at.index + fn.name.length; i < sig.length; i++) {
    if (sig[i] === '(') depth++;
    else if (sig[i] === ')' && --depth === 0) {
      end = i + 1;
      break;
    }
  }
  const ret = stripAnnotations(sig.slice(0, at.index));
  return `${ret}|${sig.slice(at.index + fn.name.length, end)}`;
}

/**
 * A new call matters to gcc's cloning and inlining decisions mostly when the
 * function had few callers; with many, one more rarely changes anything.
 */
const NEW_CALL_MAX_SITES = 3;

/** Out-of-line static functions: the ones gcc clones. */
function cloneable(fn: FunctionDef | undefined): fn is FunctionDef {
  return !!fn && fn.storage === 'static' && fn.inline === 'none' && !fn.syscallMacro;
}

/**
 * Arguments of the first call `callee(...)` that starts on `line` (or later, up
 * to a few lines for calls whose name is on the next line), split at top-level
 * commas and normalised. Null when the call cannot be found.
 */
function callArgs(index: FileIndex, line: number, callee: string): string[] | null {
  const text = index.lines.slice(line, line + 30).join('\n');
  const m = new RegExp(`(?<![\\w$])${escapeRegExp(callee)}\\s*\\(`).exec(text);
  if (!m) return null;
  const open = m.index + m[0].length - 1;
  const close = matchParen(text, open);
  if (close < 0) return null;
  // `f()` has no argument; `f(a, )` keeps its empty last one.
  return splitTopLevel(text, open, close)
    .map((a) => a.replace(/\s+/g, ' ').trim())
    .filter((a, _, all) => a !== '' || all.length > 1);
}

/** Literal-looking argument: number, character, string, NULL/true/false, or an ALL_CAPS macro constant. */
function isConstantArg(a: string): boolean {
  return (
    /^[-+~!]?\s*\(?\s*(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?)[uUlL]*\s*\)?$/.test(a) ||
    /^'(?:[^'\\]|\\.)+'$/.test(a) ||
    /^"/.test(a) ||
    /^(?:NULL|true|false)$/.test(a) ||
    /^[A-Z][A-Z0-9_]*$/.test(a)
  );
}

export const ipaClone: Rule = {
  id: 'ipa-clone',
  severity: 'warning',
  title: 'New call, new constant arguments or new prototype for a static function gcc may have cloned',
  check(ctx) {
    for (const fc of ctx.files) {
      const pre = fc.pre;
      const post = fc.post;
      if (!pre || !post || isHeader(fc.path)) continue;
      const preFns = new Map(pre.functions.map((f) => [f.name, f] as const));
      const postFns = new Map(post.functions.map((f) => [f.name, f] as const));
      const clone = 'To keep the rest of the object stable, copy the function under a new name and call the copy from the patched code.';

      for (const c of fc.pairing.functions) {
        if (c.kind !== 'signature' || !c.old || !c.new || !cloneable(c.new) || isIgnoredFunction(fc, c.name)) continue;
        // Clones serve direct calls; a function only reached through a pointer has none.
        if (prototype(c.old) === prototype(c.new) || callCount(pre, c.name) === 0) continue;
        const related: RelatedLocation[] = callersIn(post, c.name).map((x) => ({
          file: fc.path,
          line: x.line,
          message: `${x.caller.name}() calls ${c.name}()`,
        }));
        const seen = listedClones(ctx, fc, c.name);
        ctx.report({
          file: fc.path,
          line: firstChangedLine(fc, c.new),
          endLine: c.new.bodySpan.start,
          function: c.name,
          symbol: c.name,
          message: seen
            ? `The prototype of static ${describeFunction(c.new)} changes, and the target kernel runs specialised clones of it: ${seen}. A new prototype changes or removes them, so the clones and every caller change too: expect "changed function:" lines for all of them. ${clone}`
            : `The prototype of static ${describeFunction(c.new)} changes. gcc may have built specialised clones of it (${c.name}.isra.N, .constprop.N, .part.N), and a new prototype changes or removes them, so expect extra "changed function:" lines for the clones and every caller. ${clone}`,
          related,
        });
      }

      // New call sites and changed constant arguments, on lines the patch added.
      for (const c of fc.pairing.functions) {
        const fn = c.new;
        if (!fn || !(c.kind === 'added' || c.kind === 'body' || c.kind === 'signature')) continue;
        const seen = new Set<string>();
        for (const site of fn.calls) {
          if (!fc.maps.added.has(site.line) || seen.has(site.name) || site.name === fn.name) continue;
          const callee = postFns.get(site.name);
          if (!cloneable(callee) || !cloneable(preFns.get(site.name)) || isIgnoredFunction(fc, site.name)) continue;
          const before = callCount(pre, site.name);
          const after = callCount(post, site.name);
          // With the target's symbols, a listed clone makes any new call or changed argument matter.
          const clones = listedClones(ctx, fc, site.name);
          let what: string | null = null;
          if (after > before && (before <= NEW_CALL_MAX_SITES || clones)) {
            what = `adds a call to static ${site.name}() (${before} call site${before === 1 ? '' : 's'} before, ${after} after)`;
          } else if (c.old) {
            const diff =
              changedConstant(c.old, fn, site.name, pre, post, false) ??
              (clones ? changedConstant(c.old, fn, site.name, pre, post, true) : null);
            if (diff) what = `changes the ${diff.constant ? 'constant ' : ''}argument ${diff.text} of a call to static ${site.name}()`;
          }
          if (!what) continue;
          seen.add(site.name);
          ctx.report({
            file: fc.path,
            line: site.line,
            endLine: site.line,
            function: fn.name,
            symbol: site.name,
            message: clones
              ? `${describeFunction(fn)} ${what}, and the target kernel runs specialised clones of it: ${clones}. Calls with other arguments change or undo that specialisation, so the clones and ${site.name}()'s other callers change too, although the patch does not touch them. ${clone}`
              : `${describeFunction(fn)} ${what}. gcc may have specialised or inlined ${site.name}() for its previous callers (${site.name}.constprop.N / .isra.N / .part.N); a different set of calls can undo that, so ${site.name}() and its other callers may show up as changed functions too. ${clone}`,
            related: [{ file: fc.path, line: callee.span.start, message: `${site.name}() is defined here` }],
          });
        }
      }
    }
  },
};

/**
 * "#2 (0 -> 1)" when a call to `callee` kept its position in the function but a constant
 * argument differs (any argument with `anyArgument`).
 */
function changedConstant(
  oldFn: FunctionDef,
  newFn: FunctionDef,
  callee: string,
  pre: FileIndex,
  post: FileIndex,
  anyArgument: boolean,
): { text: string; constant: boolean } | null {
  const olds = oldFn.calls.filter((s) => s.name === callee);
  const news = newFn.calls.filter((s) => s.name === callee);
  if (olds.length !== news.length) return null;
  for (let i = 0; i < news.length; i++) {
    const a = callArgs(pre, olds[i].line, callee);
    const b = callArgs(post, news[i].line, callee);
    if (!a || !b || a.length !== b.length) continue;
    for (let k = 0; k < a.length; k++) {
      if (a[k] === b[k]) continue;
      const constant = isConstantArg(a[k]) || isConstantArg(b[k]);
      if (constant || anyArgument) return { text: `#${k + 1} (${a[k]} -> ${b[k]})`, constant };
    }
  }
  return null;
}
