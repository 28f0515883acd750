// Small syntax helpers of the patched-unit transformation: tree walks, declarator
// names, function heads, and same-length text edits that keep every line number.

import { children, type SyntaxNode } from '../../parse/parser';
import { matchParen } from '../../parse/blank';

/** The prefix of the renamed copy of an original definition that lends an extern its type. */
export const SHADOW = '__klp_orig_';

export interface Edit {
  start: number;
  end: number;
  text: string;
}

/** Text removed by an edit keeps its newlines, so every later line keeps its number. */
export function padLines(removed: string, replacement: string): string {
  const lost = (removed.match(/\n/g) ?? []).length - (replacement.match(/\n/g) ?? []).length;
  return replacement + '\n'.repeat(Math.max(0, lost));
}

export function applyEdits(text: string, edits: Edit[]): string {
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const e of sorted) {
    if (e.start < at) continue; // nested in an earlier edit (a definition already replaced)
    out += text.slice(at, e.start) + padLines(text.slice(e.start, e.end), e.text);
    at = e.end;
  }
  return out + text.slice(at);
}

export function findAll(node: SyntaxNode, type: string, out: SyntaxNode[] = [], stopAt?: Set<string>): SyntaxNode[] {
  for (const c of children(node)) {
    if (c.type === type) out.push(c);
    if (!stopAt?.has(c.type)) findAll(c, type, out, stopAt);
  }
  return out;
}

/** Top-level nodes, looking through #if blocks. */
export function topLevel(node: SyntaxNode, out: SyntaxNode[] = []): SyntaxNode[] {
  for (const c of children(node)) {
    // The indexer's containers: #if blocks, and ERROR nodes tree-sitter wraps around what it could not parse.
    if (
      /^preproc_(?:if|ifdef|else|elif|elifdef)$/.test(c.type) ||
      c.type === 'ERROR' ||
      c.type === 'linkage_specification' ||
      c.type === 'declaration_list'
    )
      topLevel(c, out);
    else out.push(c);
  }
  return out;
}

export function innermostFunctionDeclarator(d: SyntaxNode | null): SyntaxNode | null {
  let found: SyntaxNode | null = null;
  for (let cur = d; cur; cur = cur.childForFieldName('declarator')) {
    if (cur.type === 'function_declarator') found = cur;
    if (cur.type === 'identifier') break;
  }
  return found;
}

export function declaratorIdentifier(d: SyntaxNode | null): SyntaxNode | null {
  for (let cur = d; cur; ) {
    if (cur.type === 'identifier') return cur;
    cur = cur.childForFieldName('declarator') ?? (cur.type === 'parenthesized_declarator' ? cur.namedChild(0) : null);
  }
  return null;
}

export function wordRe(name: string): RegExp {
  // Not a member (`.x`, `->x`) and not a tag (`enum reboot_mode reboot_mode`).
  return new RegExp(`(?<![\\w.]|->|\\b(?:struct|union|enum)\\s+)${name.replace(/\$/g, '\\$')}(?!\\w)`, 'g');
}

/** Words of a function head that change how it is compiled, not what its callers pass or get. */
export const HEAD_ATTRIBUTES =
  /\b(?:static|inline|__inline|__inline__|__always_inline|noinline|notrace|__cold|__hot|__used|__maybe_unused|__visible|__sched|__kprobes|nokprobe_inline|__noinline|__init|__exit|__ref|__weak|__must_check|asmlinkage)\b/g;

/** Same return type, name and parameters, attributes aside. */
export function sameType(a: string, b: string): boolean {
  const strip = (s: string) => {
    let out = s;
    for (let guard = 0; guard < 20 && /__attribute__\s*\(/.test(out); guard++) {
      const at = out.search(/__attribute__\s*\(/);
      const open = out.indexOf('(', at);
      const close = matchParen(out, open);
      if (close < 0) break;
      out = out.slice(0, at) + out.slice(close + 1);
    }
    return out
      .replace(HEAD_ATTRIBUTES, ' ')
      .replace(/\s+/g, ' ')
      .replace(/\s*([(),*])\s*/g, '$1')
      .trim();
  };
  return strip(a) === strip(b);
}

/** Storage and inline keywords of a function head that a bound declaration must lose. */
export function declarationHead(head: string): string {
  return head.replace(/\b(?:static|inline|__inline|__inline__|__always_inline|extern)\b\s*/g, '');
}
