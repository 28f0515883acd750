// One parser interface over two tree-sitter runtimes: web-tree-sitter (wasm,
// used by the extension and by default everywhere) and the native `tree-sitter`
// binding (optional, measured by `npm run bench`). Both produce identical trees
// for the pinned versions; callers only see the small node surface below.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { blank } from './blank';
import * as timings from '../util/timings';

export interface Point {
  row: number;
  column: number;
}

/** The part of a tree-sitter node the engine uses; both runtimes provide it. */
export interface SyntaxNode {
  type: string;
  startIndex: number;
  endIndex: number;
  startPosition: Point;
  endPosition: Point;
  childCount: number;
  namedChildCount: number;
  child(i: number): SyntaxNode | null;
  /** All children in one call (child(i) walks from the first child: a loop over it is quadratic). */
  readonly children?: readonly (SyntaxNode | null)[];
  namedChild(i: number): SyntaxNode | null;
  childForFieldName(name: string): SyntaxNode | null;
  isMissing: boolean;
  hasError: boolean;
  parent: SyntaxNode | null;
  nextSibling: SyntaxNode | null;
  descendantForIndex?(index: number): SyntaxNode | null;
  /** The first child that contains or follows a byte offset (iterative; safe on deep trees). */
  firstChildForIndex?(index: number): SyntaxNode | null;
}

/** A node's children, in one call when the runtime has it. */
export function children(n: SyntaxNode): SyntaxNode[] {
  // One call for all children: child(i) walks from the first child, so looping
  // over it is quadratic on a wide node (a 24k-child ERROR node took 23 s).
  if (n.children) return n.children.filter((c): c is SyntaxNode => c !== null);
  const out: SyntaxNode[] = [];
  for (let i = 0; i < n.childCount; i++) {
    const c = n.child(i);
    if (c) out.push(c);
  }
  return out;
}

/**
 * tree-sitter's error recovery can go quadratic on long runs of text that is not C
 * (seen in fuzzing: 0.25 MB of garbage, 5 s). Real kernel files parse at about
 * 1 MB/s on a slow core, so this budget leaves them a wide margin.
 */
export function parseBudgetMs(length: number): number {
  return 1000 + Math.round((length / 1024) * 1.5);
}

/** CPU time of this process (user + system), in milliseconds. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The parse ran over its budget and was stopped; the file is not analysed. */
export class ParseTimeout extends Error {
  constructor(readonly budgetMs: number) {
    super(`tree-sitter did not finish parsing within ${budgetMs} ms of CPU time (the text is probably not C, or pathological)`);
    this.name = 'ParseTimeout';
  }
}

export interface SyntaxTree {
  rootNode: SyntaxNode;
  /** Frees the wasm heap memory of a web-tree-sitter tree (no-op for native). */
  delete(): void;
  /** Ranges whose syntax changed; the receiver is the edited old tree. */
  getChangedRanges?(other: SyntaxTree): { startIndex: number; endIndex: number }[];
  /** A copy that shares the unchanged parts (cheap): edit it and keep the original. */
  copy?(): SyntaxTree;
}

export interface TextEdit {
  startIndex: number;
  oldEndIndex: number;
  newEndIndex: number;
  startPosition: Point;
  oldEndPosition: Point;
  newEndPosition: Point;
}

export type Backend = 'wasm' | 'native';

export interface CParser {
  readonly backend: Backend;
  /** Parses kernel C; the text is blanked first (same length), see blank.ts. */
  parse(text: string, previous?: SyntaxTree): SyntaxTree;
  /** Parses text as given, without the kernel rewrite (benchmarks, tests). */
  parseRaw(text: string, previous?: SyntaxTree): SyntaxTree;
  /** Applies an edit to a previous tree so the next parse can reuse it. */
  edit(tree: SyntaxTree, edit: TextEdit): void;
  /**
   * Parses only [start, end) of an already blanked text: the tree's offsets are the
   * whole text's, and what lies outside the range is never read (engine/parse/slice.ts).
   */
  parseRange?(blanked: string, start: number, end: number): SyntaxTree;
}

/** Row and column (UTF-16 units, as the offsets) of an offset. */
export function pointOf(text: string, offset: number): Point {
  let row = 0;
  let last = -1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    row++;
    last = i;
  }
  return { row, column: offset - last - 1 };
}

/** Where dist/ keeps the wasm files; the source tree falls back to node_modules. */
function wasmPath(file: string): string {
  const candidates = [path.join(__dirname, file), path.join(__dirname, '..', 'dist', file), path.join(process.cwd(), 'dist', file)];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  const pkg = file === 'tree-sitter-c.wasm' ? 'tree-sitter-c/package.json' : 'web-tree-sitter/package.json';
  return path.join(process.cwd(), 'node_modules', pkg.split('/')[0], file);
}

let wasmParser: Promise<CParser> | undefined;

export function createParser(backend: Backend = 'wasm'): Promise<CParser> {
  if (backend === 'native') return createNativeParser();
  wasmParser ??= createWasmParser();
  return wasmParser;
}

async function createWasmParser(): Promise<CParser> {
  // Loaded on first use, not at import: a CLI run that never parses does not pay for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wts = require('web-tree-sitter') as typeof import('web-tree-sitter');
  const runtime = wasmPath('tree-sitter.wasm');
  await wts.Parser.init({ locateFile: () => runtime });
  // Loading the grammar from bytes avoids fetch() and file-URL handling.
  const language = await wts.Language.load(fs.readFileSync(wasmPath('tree-sitter-c.wasm')));
  if (language.abiVersion < 13 || language.abiVersion > 15) {
    throw new Error(`tree-sitter-c.wasm has ABI ${language.abiVersion}; this runtime loads 13-15`);
  }
  const parser = new wts.Parser();
  parser.setLanguage(language);
  const run = (text: string, previous?: SyntaxTree, range?: { start: number; end: number }): SyntaxTree => {
    const budget = parseBudgetMs(range ? range.end - range.start : text.length);
    // The budget is CPU time, not wall time: on a loaded machine (a CI runner, a VM
    // build beside it) a wall-clock deadline turned ordinary files into not-analysed.
    const deadline = cpuMs() + budget;
    // tree-sitter calls back about once a microsecond of a normal parse (far less often in
    // a pathological error recovery). The CPU clock costs a few microseconds to read, the
    // wall clock far less: so every 64th call looks at the wall clock, and reads the CPU
    // clock only when 2 ms have passed since it last did.
    let calls = 0;
    let lastCheck = performance.now();
    const overBudget = (): boolean => {
      const now = performance.now();
      if (now - lastCheck < 2) return false;
      lastCheck = now;
      return cpuMs() > deadline;
    };
    const tree = timings.timed(range ? 'parse (changed items)' : 'parse', () =>
      parser.parse(text, previous as unknown as import('web-tree-sitter').Tree | undefined, {
        // Returning true cancels the parse (the typings say void).
        progressCallback: (() => (++calls & 63) === 0 && overBudget()) as unknown as () => void,
        ...(range && {
          includedRanges: [
            {
              startIndex: range.start,
              endIndex: range.end,
              startPosition: pointOf(text, range.start),
              endPosition: pointOf(text, range.end),
            },
          ],
        }),
      }),
    );
    if (!tree) {
      // A cancelled parse leaves its state behind for resumption; start clean next time.
      parser.reset();
      throw new ParseTimeout(budget);
    }
    return tree as unknown as SyntaxTree;
  };
  return {
    backend: 'wasm',
    parse: (text, previous) =>
      run(
        timings.timed('blank', () => blank(text)),
        previous,
      ),
    parseRaw: (text, previous) => run(text, previous),
    edit: (tree, e) => (tree as unknown as import('web-tree-sitter').Tree).edit(e),
    parseRange: (blanked, start, end) => run(blanked, undefined, { start, end }),
  };
}

async function createNativeParser(): Promise<CParser> {
  /* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports --
     the native binding is optional (benchmarks only) and ships no types we build against */
  let Parser: any;
  let C: any;
  try {
    Parser = require('tree-sitter');
    C = require('tree-sitter-c');
  } catch (err) {
    throw new Error(`the native tree-sitter binding is not installed: ${(err as Error).message}`);
  }
  const parser = new Parser();
  parser.setLanguage(C);
  const run = (text: string, previous?: SyntaxTree): SyntaxTree => {
    // The native binding reads the string in chunks; give it room for big files.
    const tree = parser.parse(text, previous, { bufferSize: Math.max(32 * 1024, text.length * 2 + 16) });
    return { rootNode: tree.rootNode, delete() {}, _tree: tree } as unknown as SyntaxTree;
  };
  return {
    backend: 'native',
    parse: (text, previous) => run(blank(text), (previous as any)?._tree),
    parseRaw: (text, previous) => run(text, (previous as any)?._tree),
    edit: (tree, e) => (tree as any)._tree.edit(e),
  };
  /* eslint-enable @typescript-eslint/no-explicit-any, @typescript-eslint/no-require-imports */
}
