// line-macro: adding or removing lines shifts __LINE__ in every function below.
// Where the line number is an ordinary argument (ext4/xfs/btrfs error helpers,
// might_sleep, a bare __LINE__) the compiled code of those untouched functions
// changes; under plain WARN_ON/BUG_ON it only moves the __bug_table entry,
// which the object diff handles on x86-64 (measured on Debian 6.1).

import { posix } from 'node:path';
import type { FileIndex, FunctionDef, RelatedLocation } from '../model';
import { LINE_ARGUMENT_MACROS, LINE_MACROS } from '../index/attributes';
import type { FileChange, Rule, RuleContext } from './rule';
import { isIgnoredFunction } from './lib/changedFunctions';
import { codeIdentifiers } from './lib/codeText';
import { hunkDeltas, type HunkDelta } from './lib/hunks';
import { listNames, plural } from './lib/wording';
import { firstAtLeast } from '../util/text';

const MAX_RELATED = 20;

// Calls whose line argument create-diff-object recognises as a line-only change (x86-64).
const KPATCH_KNOWN = new Set([
  'might_sleep',
  'might_sleep_if',
  'might_fault',
  'btrfs_abort_transaction',
  'btrfs_handle_fs_error',
  'btrfs_panic',
]);

interface Shifted {
  name: string;
  /** Post-image line shown to the user (the first shifted use). */
  line: number;
  shift: number;
  kind: LineKind;
  via: string[];
  /** The subset of `via` that passes the line as an argument. */
  argVia: string[];
}

const FIX =
  'Keep the line count unchanged above them: remove as many blank or comment lines as you add (or the reverse), ' +
  'and put new functions and variables at the end of the file; or put a `#line N` directive after your change so ' +
  "the following lines keep their old numbers (klp-build's fix-patch-lines does this automatically).";

function shiftText(shifts: number[]): string {
  const s = [...new Set(shifts)].sort((a, b) => a - b);
  const fmt = (n: number) => `${n > 0 ? '+' : ''}${n}`;
  return s.length === 1 ? `${fmt(s[0])} ${Math.abs(s[0]) === 1 ? 'line' : 'lines'}` : `${fmt(s[0])} to ${fmt(s[s.length - 1])} lines`;
}

/** `name()`, or the line when a hunk shows no enclosing function. */
function label(s: Shifted): string {
  return s.name ? `${s.name}()` : `the code at line ${s.line + 1}`;
}

function report(ctx: RuleContext, fc: FileChange, at: HunkDelta, shifted: Shifted[], hunkOnly: boolean): void {
  const args = shifted.filter((s) => s.kind === 'argument');
  const bug = shifted.filter((s) => s.kind === 'bugtable');
  const names = (xs: Shifted[]) => listNames([...new Set(xs.map(label))]);
  const vias = (xs: Shifted[]) => listNames([...new Set(xs.flatMap((s) => s.via))], 4);
  const argVias = (xs: Shifted[]) => listNames([...new Set(xs.flatMap((s) => s.argVia))], 4);
  const shift = shiftText(shifted.map((s) => s.shift));
  const scope = hunkOnly ? ' (seen in the hunks only; run with the kernel tree to list every shifted function)' : '';
  const count = new Set(shifted.map(label)).size;
  let message: string;
  if (args.length) {
    const known = args.filter((a) => a.argVia.every((v) => KPATCH_KNOWN.has(v)));
    const unknown = args.filter((a) => !known.includes(a));
    const verb = (xs: Shifted[], one: string, many: string) => (new Set(xs.map(label)).size === 1 ? one : many);
    message =
      `This hunk shifts the lines below it by ${shift}, which changes __LINE__ in ${plural(count, 'function')} the patch ` +
      `does not otherwise touch${scope}.` +
      (unknown.length
        ? ` ${names(unknown)} ${verb(unknown, 'passes', 'pass')} the line number as an argument ` +
          `(${argVias(unknown)}) in a way kpatch-build does not recognise, so ${verb(unknown, 'its', 'their')} compiled code ` +
          `changes and ${verb(unknown, 'it', 'they')} will be included in the patch as ` +
          `${verb(unknown, 'a changed function', 'changed functions')}.`
        : '') +
      (known.length
        ? ` ${names(known)} ${verb(known, 'passes', 'pass')} it to ${argVias(known)}: kpatch-build recognises ` +
          `that call pattern and normally ignores the line-only change, but check its "changed function" list.`
        : '') +
      (bug.length
        ? ` ${names(bug)} only ${verb(bug, 'uses', 'use')} WARN/BUG-style macros (line kept in the __bug_table), which is harmless.`
        : '') +
      ` ${FIX}`;
  } else {
    message =
      `This hunk shifts the lines below it by ${shift}, which moves the ${vias(bug)} lines of ${plural(count, 'function')} ` +
      `the patch does not otherwise touch (${names(bug)})${scope}. On x86-64 those line numbers live in the __bug_table ` +
      `entry, not in the instructions, and kpatch's object diff handles that, so this is normally harmless; it matters ` +
      `on architectures or helpers that pass the line as an argument. ${FIX}`;
  }
  const related: RelatedLocation[] = shifted.slice(0, MAX_RELATED).map((s) => ({
    file: fc.path,
    line: s.line,
    message:
      `${label(s)}: ${s.via.join(', ')} shifted by ${s.shift > 0 ? '+' : ''}${s.shift}` +
      (s.kind === 'argument' ? ' (line passed as an argument: code changes)' : ' (bug table only)'),
  }));
  ctx.report({
    severity: args.length ? 'warning' : 'info',
    file: fc.path,
    line: at.firstChangePost,
    endLine: at.lastChangePost,
    symbol: shifted.find((s) => s.name)?.name ?? null,
    message,
    related,
  });
}

/** With the tree: functions whose text is unchanged but whose __LINE__ users moved. */
function shiftedWithTree(fc: FileChange, kinds: Map<string, LineKind>): Shifted[] {
  const out: Shifted[] = [];
  const preDirectives = mayHaveLineDirective(fc.pre!);
  const postDirectives = mayHaveLineDirective(fc.post!);
  const preLine = preDirectives ? logicalLines(fc.pre!) : (l: number) => l + 1;
  const postLine = postDirectives ? logicalLines(fc.post!) : (l: number) => l + 1;
  const noDirectives = !preDirectives && !postDirectives;
  const mayUse = mayUseLine(fc.post!, kinds);
  for (const c of fc.pairing.functions) {
    if ((c.kind !== 'moved' && c.kind !== 'cosmetic') || !c.old || !c.new) continue;
    if (!mayUse(c.new)) continue;
    if (isIgnoredFunction(fc, c.name)) continue;
    const now = lineUsesOf(c.new, kinds);
    if (!now.length) continue;
    // A moved function has the very lines it had: with no #line in either image, each of
    // its uses moved by the function's own shift, and its old uses need not be read
    // (a blank line added at the top of a file moves every function below it).
    const before = c.kind === 'moved' && noDirectives ? null : lineUsesOf(c.old, kinds);
    // Compare __LINE__ values, not physical lines: a `#line` directive can restore them.
    const spanShift = postLine(c.new.span.start) - preLine(c.old.span.start);
    const shiftOf = (u: LineUse, i: number) =>
      before && before.length === now.length ? postLine(u.line) - preLine(before[i].line) : spanShift;
    const moved = now.filter((u, i) => shiftOf(u, i) !== 0);
    if (!moved.length) continue;
    const first = moved[0];
    const shift = shiftOf(first, now.indexOf(first));
    out.push({
      name: c.name,
      line: first.line,
      shift,
      kind: moved.some((u) => u.kind === 'argument') ? 'argument' : 'bugtable',
      via: [...new Set(moved.map((u) => u.name))],
      argVia: [...new Set(moved.filter((u) => u.kind === 'argument').map((u) => u.name))],
    });
  }
  return out.sort((a, b) => a.line - b.line);
}

/** Without the tree: context lines below a line delta that use __LINE__, outside changed functions. */
function shiftedInHunks(fc: FileChange, kinds: Map<string, LineKind>): Shifted[] {
  const out: Shifted[] = [];
  // delta: __LINE__ of the next post line minus that of the next pre line.
  let delta = 0;
  for (const pl of fc.maps.placements) {
    let p = pl.preStart;
    let q = pl.postStart;
    for (const l of pl.hunk.lines) {
      if (l.op === '+') {
        const n = lineDirective(l.text);
        delta = n !== null ? n - (p + 1) : delta + 1;
        q++;
        continue;
      }
      if (l.op === '-') {
        delta--;
        p++;
        continue;
      }
      p++;
      if (delta !== 0 && !/^\s*#/.test(l.text) && !inChangedFunction(fc, q)) {
        const via = lineUsesInText(l.text, kinds);
        if (via.length) {
          const fn = fc.post?.functions.find((f) => f.span.start <= q && q <= f.span.end);
          out.push({
            name: fn?.name ?? '',
            line: q,
            shift: delta,
            kind: via.some((v) => v === '__LINE__' || kinds.get(v) === 'argument') ? 'argument' : 'bugtable',
            via: [...new Set(via)],
            argVia: [...new Set(via.filter((v) => v === '__LINE__' || kinds.get(v) === 'argument'))],
          });
        }
      }
      q++;
    }
  }
  return out;
}

// How __LINE__ reaches a function's code: line macros, macros built on them, #line directives.

type LineKind = 'argument' | 'bugtable';

function baseKinds(): Map<string, LineKind> {
  const base = new Map<string, LineKind>();
  for (const m of LINE_MACROS) base.set(m, LINE_ARGUMENT_MACROS.has(m) ? 'argument' : 'bugtable');
  return base;
}

/**
 * Names that bring __LINE__ into code, and how: the engine's LINE_MACROS plus
 * macros defined in the given files that expand to one of them (e.g. a driver's
 * `#define foo_err(...) __foo_err(__func__, __LINE__, ...)`).
 */
export function lineMacroKinds(indexes: (FileIndex | null)[], config: Map<string, string> | null = null): Map<string, LineKind> {
  const kinds = adjustForConfig(baseKinds(), config);
  const macros = indexes.flatMap((i) => i?.macros ?? []).filter((m) => m.body.length > 0);
  const bodies = macros.map((m) => ({ name: m.name, ids: new Set(codeIdentifiers(m.body)) }));
  for (let round = 0, changed = true; changed && round < 5; round++) {
    changed = false;
    for (const m of bodies) {
      if (kinds.get(m.name) === 'argument') continue;
      let k: LineKind | undefined;
      for (const id of m.ids) {
        const kk = id === m.name ? undefined : kinds.get(id);
        if (kk === 'argument') {
          k = 'argument';
          break;
        }
        if (kk) k = 'bugtable';
      }
      if (k && kinds.get(m.name) !== k) {
        kinds.set(m.name, k);
        changed = true;
      }
    }
  }
  return kinds;
}

/**
 * The file's own quoted includes (`#include "xfs_mount.h"`), indexed from the tree: that
 * is where subsystem helpers such as `xfs_force_shutdown(mp, f)` ->
 * `xfs_do_force_shutdown(mp, f, __FILE__, __LINE__)` are defined.
 *
 * Only the headers whose macros can take a kind are indexed (a full parse each: tens of ms
 * for kvm's headers). A macro whose body never names a kinded name never changes the
 * kinds, so leaving out its header changes nothing; `mayTakeKinds` decides that from the
 * text, over-approximating. The list keeps the order and repeats of the includes.
 */
function localHeaders(ctx: RuleContext, fc: FileChange, seed: Iterable<string>): FileIndex[] {
  if (!ctx.tree || !fc.post) return [];
  const tree = ctx.tree;
  const dir = posix.dirname(fc.path);
  const paths: string[] = [];
  for (const inc of fc.post.includes) {
    if (!inc.path.startsWith('"')) continue;
    const p = posix.normalize(posix.join(dir, inc.path.slice(1, -1).trim()));
    if (p.startsWith('..') || p === fc.path) continue;
    paths.push(p);
  }
  const texts = new Map<string, string | null>();
  for (const p of paths) {
    if (texts.has(p)) continue;
    let text: string | null = null;
    try {
      text = tree.readFile(p);
    } catch {
      text = null;
    }
    texts.set(p, text);
  }
  const known = [fc.pre!, fc.post].flatMap((i) => i.macros.map((m) => ({ name: m.name, words: codeIdentifiers(m.body) })));
  const needed = mayTakeKinds(seed, known, texts, (p) => ctx.indexTreeFile(p), [fc.pre!.text, fc.post.text]);
  const out: FileIndex[] = [];
  for (const p of paths) {
    if (!needed.has(p)) continue;
    const idx = ctx.indexTreeFile(p);
    if (idx) out.push(idx);
  }
  return out;
}

/** A `#define` as the text shows it: its name and the words that can be in its body. */
export interface TextDefine {
  name: string;
  words: string[];
}

const DEFINE_RE = /#[ \t]*define/g;
const WORD_RE = /[A-Za-z_]\w*/g;

/**
 * Every `#define` of a text, read without parsing, as a superset of what the indexer's
 * macros can hold; null when a name is not plainly there (`#define \`, `#define (`).
 * Why a superset: tree-sitter-c starts a define with the token `#[ \t]*define` and takes
 * the identifier after it as the name (in `#defines` either no define or one named `s`:
 * both are covered); the value is one preproc_arg token, which stops at `/*` and at a
 * newline without a backslash, so it lies between the name and the end of the logical
 * line (continuations and block comments followed); normalizeC and codeIdentifiers only
 * drop text and never join two words. So the body's identifiers are among the
 * `[A-Za-z_]\w*` words of that stretch. Defines inside comments, functions or `#if 0`
 * are kept too: more, never fewer.
 */
export function textDefines(text: string): TextDefine[] | null {
  const out: TextDefine[] = [];
  const n = text.length;
  const re = new RegExp(DEFINE_RE.source, 'g');
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    let i = m.index + m[0].length;
    while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
    const nameStart = i;
    while (i < n && isWordChar(text.charCodeAt(i))) i++;
    const first = text.charCodeAt(nameStart);
    const next = i < n ? text.charCodeAt(i) : 10;
    // Tree-sitter's identifiers also take `$`, `\u` escapes and Unicode; its extras, line breaks.
    if (i === nameStart || (first >= 48 && first <= 57) || next === 36 || next === 92 || next >= 128) return null;
    const end = logicalLineEnd(text, i);
    out.push({ name: text.slice(nameStart, i), words: text.slice(i, end).match(WORD_RE) ?? [] });
    re.lastIndex = end;
  }
  return out;
}

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}

/** The newline that ends the logical line at `from` (or text.length): backslash-newlines and block comments are followed. */
function logicalLineEnd(text: string, from: number): number {
  const n = text.length;
  for (let i = from; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) return i;
    if (c === 92 /* \ */) {
      if (text.charCodeAt(i + 1) === 10) i++;
      else if (text.charCodeAt(i + 1) === 13 && text.charCodeAt(i + 2) === 10) i += 2;
    } else if (c === 47 /* / */ && text.charCodeAt(i + 1) === 42 /* * */) {
      const e = text.indexOf('*/', i + 2);
      if (e < 0) return n;
      i = e + 1;
    }
  }
  return n;
}

/**
 * The headers (keys of `texts`) whose macros can change the kind of a name the rule
 * looks up. The rule only asks the kinds of calls in the patched file, words of its
 * images (`used`), and a name's kind depends only on the defines of names on the way
 * from it to a __LINE__ macro; leaving out every other macro changes none of those
 * kinds (round by round, and whenever the loop stops, they are computed from the same
 * values). So, read as text: the names that can ever hold a kind are closed over every
 * define (the patched file's own, `known`, and the headers'), starting from `seed`; a
 * header is a candidate when one of its defines may take a kind; it is needed when the
 * file names one of those defines, directly or through other defines. A header whose
 * text defines cannot be read is indexed (`index`), its macros join `known`, and it is
 * always needed, as before.
 */
export function mayTakeKinds(
  seed: Iterable<string>,
  known: TextDefine[],
  texts: Map<string, string | null>,
  index: (path: string) => FileIndex | null,
  used: string[],
): Set<string> {
  const needed = new Set<string>();
  const perHeader = new Map<string, TextDefine[]>();
  const all = [...known];
  for (const [p, text] of texts) {
    if (text === null) continue;
    const defs = textDefines(text);
    if (defs) {
      perHeader.set(p, defs);
      all.push(...defs);
      continue;
    }
    needed.add(p);
    for (const m of index(p)?.macros ?? []) all.push({ name: m.name, words: codeIdentifiers(m.body) });
  }
  // word -> defines that use it, and name -> defines of it, to close sets over work lists.
  const users = new Map<string, TextDefine[]>();
  const byName = new Map<string, TextDefine[]>();
  for (const d of all) {
    for (const w of new Set(d.words)) {
      const u = users.get(w);
      if (u) u.push(d);
      else users.set(w, [d]);
    }
    const b = byName.get(d.name);
    if (b) b.push(d);
    else byName.set(d.name, [d]);
  }
  const kinded = new Set<string>(seed);
  const work = [...kinded];
  while (work.length) {
    for (const d of users.get(work.pop()!) ?? []) {
      if (kinded.has(d.name)) continue;
      kinded.add(d.name);
      work.push(d.name);
    }
  }
  // Candidates, with the names they may give a kind.
  const gives = new Map<string, string[]>();
  for (const [p, defs] of perHeader) {
    const names = defs.filter((d) => d.words.some((w) => kinded.has(w))).map((d) => d.name);
    if (names.length) gives.set(p, names);
  }
  if (!gives.size) return needed;
  // The kinded names whose kind can depend on those (every step of a way to them is one).
  const cone = new Set([...gives.values()].flat());
  work.push(...cone);
  while (work.length) {
    for (const d of users.get(work.pop()!) ?? []) {
      if (!kinded.has(d.name) || cone.has(d.name)) continue;
      cone.add(d.name);
      work.push(d.name);
    }
  }
  // Those the file names, and onwards along the defines' words within the cone.
  const plain = [...cone].filter((n) => /^[A-Za-z_]\w*$/.test(n));
  const reached = new Set<string>();
  if (plain.length) {
    const re = new RegExp(`\\b(?:${plain.join('|')})\\b`, 'g');
    for (const t of used) for (const m of t.matchAll(re)) reached.add(m[0]);
  }
  work.push(...reached);
  while (work.length) {
    for (const d of byName.get(work.pop()!) ?? []) {
      for (const w of d.words) {
        if (!cone.has(w) || reached.has(w)) continue;
        reached.add(w);
        work.push(w);
      }
    }
  }
  for (const [p, names] of gives) if (names.some((n) => reached.has(n))) needed.add(p);
  return needed;
}

/**
 * What the kernel configuration does to those macros, when the tree has a
 * .config: might_sleep() passes __LINE__ only with CONFIG_DEBUG_ATOMIC_SLEEP,
 * might_fault() also with CONFIG_PROVE_LOCKING, and the lockdep assertions are
 * empty without CONFIG_LOCKDEP. In 6.1 lockdep_assert_held() is a WARN_ON, never
 * an argument (include/linux/lockdep.h), whatever the config.
 */
function adjustForConfig(kinds: Map<string, LineKind>, config: Map<string, string> | null): Map<string, LineKind> {
  const out = new Map(kinds);
  for (const name of ['lockdep_assert_held', 'lockdep_assert_held_write', 'lockdep_assert_held_read']) {
    if (out.get(name) === 'argument') out.set(name, 'bugtable');
  }
  if (!config) return out;
  const on = (k: string) => config.has(k) && config.get(k) !== 'n';
  if (!on('CONFIG_DEBUG_ATOMIC_SLEEP')) {
    out.delete('might_sleep');
    out.delete('might_sleep_if');
    if (!on('CONFIG_PROVE_LOCKING')) out.delete('might_fault');
  }
  if (!on('CONFIG_LOCKDEP')) for (const name of [...out.keys()]) if (/^lockdep_assert/.test(name)) out.delete(name);
  return out;
}

interface LineUse {
  name: string;
  line: number;
  kind: LineKind;
}

/** Where __LINE__ enters a function: `__LINE__` itself and calls of line macros. */
export function lineUsesOf(fn: FunctionDef, kinds: Map<string, LineKind>): LineUse[] {
  const out: LineUse[] = [];
  for (const u of fn.lineMacroUses) if (u.name === '__LINE__') out.push({ ...u, kind: 'argument' });
  for (const c of fn.calls) {
    const k = kinds.get(c.name);
    if (k) out.push({ ...c, kind: k });
  }
  return out.sort((a, b) => a.line - b.line);
}

/**
 * False for a function of `index` whose body cannot have a line use, so lineUsesOf would
 * give nothing: its calls and its `__LINE__`s are words of the body text, and one regex
 * over the whole file finds every place a kinded name or `__LINE__` stands as a whole
 * word (comments and strings too: more, never fewer). Saves reading the calls of each
 * shifted function (every function below a blank line added at the top of x86.c).
 */
export function mayUseLine(index: FileIndex, kinds: Map<string, LineKind>): (fn: FunctionDef) => boolean {
  // A call's name is an [A-Za-z_]\w* word: other names cannot match one.
  const names = ['__LINE__', ...[...kinds.keys()].filter((k) => /^[A-Za-z_]\w*$/.test(k))];
  const re = new RegExp(`\\b(?:${names.join('|')})\\b`, 'g');
  const hits: number[] = [];
  for (let m = re.exec(index.text); m; m = re.exec(index.text)) hits.push(m.index);
  return (fn) => {
    // The first hit at or after the body's start.
    const i = firstAtLeast(hits, fn.bodySpan.startByte);
    return i < hits.length && hits[i] < fn.bodySpan.endByte;
  };
}

/** True when the post-image line lies in a function the patch changes or adds. */
function inChangedFunction(fc: FileChange, postLine: number): boolean {
  return fc.pairing.functions.some(
    (c) =>
      c.new &&
      (c.kind === 'body' || c.kind === 'signature' || c.kind === 'added') &&
      c.new.span.start <= postLine &&
      postLine <= c.new.span.end,
  );
}

/** Line-macro names a line of code uses: `__LINE__` and calls of known line macros. */
function lineUsesInText(text: string, kinds: Map<string, LineKind>): string[] {
  const code = text.replace(/\/\*.*?\*\/|\/\/.*$/g, ' ').replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  const out: string[] = [];
  for (const m of code.matchAll(/\b([A-Za-z_]\w*)\b(\s*\()?/g)) {
    if (m[1] === '__LINE__' || (m[2] && kinds.has(m[1]))) out.push(m[1]);
  }
  return out;
}

const LINE_DIRECTIVE = /^\s*#\s*(?:line\s+)?(\d+)(?:\s+"[^"]*")?\s*$/;

/** The number a `#line N` (or `# N "file"`) directive gives the next line, or null. */
function lineDirective(text: string): number | null {
  const m = LINE_DIRECTIVE.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Where a `#line` directive may be: unanchored, so a scan for `#`, finding every line
 * LINE_DIRECTIVE matches and a few more.
 */
const DIRECTIVE_HINT = /#\s*(?:line\s+)?\d/;

/** False when no line of the text can be a `#line` directive. */
function mayHaveLineDirective(index: FileIndex): boolean {
  return DIRECTIVE_HINT.test(index.text);
}

/**
 * __LINE__ value (1-based) of each 0-based line, honouring `#line` directives. Only the
 * lines the unanchored scan finds are read as directives (a match's first character is
 * its `#`, so no directive hides inside another match), and each line after a directive
 * counts on from it: the lines of a 10,000-line file are not split for the few that can be one.
 */
export function logicalLines(index: FileIndex): (line: number) => number {
  const text = index.text;
  const directives: number[] = []; // line of each directive, ascending
  const values: number[] = []; // the __LINE__ of the line after it
  let line = 0;
  let counted = 0; // text before this offset is counted into `line`
  let lastLine = -1;
  const re = new RegExp(DIRECTIVE_HINT.source, 'g');
  for (let m = re.exec(text); m; m = re.exec(text)) {
    for (let nl = text.indexOf('\n', counted); nl !== -1 && nl < m.index; nl = text.indexOf('\n', nl + 1)) {
      line++;
      counted = nl + 1;
    }
    if (line === lastLine) continue;
    lastLine = line;
    const end = text.indexOf('\n', m.index);
    // The line as splitLines() gives it: without its \r\n or \n.
    const lineText = end < 0 ? text.slice(counted) : text.slice(counted, end > counted && text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    const n = lineDirective(lineText);
    if (n === null) continue;
    directives.push(line);
    values.push(n);
  }
  let lineCount = 1;
  for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', nl + 1)) lineCount++;
  return (l) => {
    if (l < 0 || l >= lineCount) return l + 1;
    // The last directive above line l.
    const i = firstAtLeast(directives, l) - 1;
    return i < 0 ? l + 1 : values[i] + (l - directives[i] - 1);
  };
}

export const lineMacro: Rule = {
  id: 'line-macro',
  severity: 'warning',
  title: 'Line shift changes __LINE__ in functions the patch does not touch',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.isC || !fc.pre || !fc.post || fc.patch.status === 'added' || fc.patch.status === 'deleted') continue;
      const deltas = hunkDeltas(fc);
      const at = deltas.find((d) => d.delta !== 0);
      if (!at) continue;
      const config = ctx.tree?.kernelConfig() ?? null;
      const seed = adjustForConfig(baseKinds(), config).keys();
      const kinds = lineMacroKinds([fc.pre, fc.post, ...localHeaders(ctx, fc, seed)], config);
      const shifted = ctx.tree ? shiftedWithTree(fc, kinds) : shiftedInHunks(fc, kinds);
      if (shifted.length) report(ctx, fc, at, shifted, !ctx.tree);
    }
  },
};
