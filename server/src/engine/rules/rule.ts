// The contract between the analysis driver and the rules. A rule is a pure
// function of the analysed patch (and, when present, the kernel tree): it reads
// FileChange records and reports findings. One rule, one file, one id from
// the catalog (docs/rules/<id>.md, one page per id).

import type { CParser } from '../parse/parser';
import type { FileIndex, Finding, Severity } from '../model';
import type { FilePairing } from '../compare/pair';
import type { LineMaps } from '../diff/images';
import type { FilePatch } from '../diff/readPatch';
import type { TreeScope } from '../tree/treeState';
import type { KernelTree } from '../tree/kernelTree';
import type { TargetFacts } from '../target/facts';
import type { ExpandedView } from '../expand/expanded';

export interface FileChange {
  /** Tree-relative path of the post-image (pre-image for deletions). */
  path: string;
  patch: FilePatch;
  /** True for .c/.h files, which are indexed; other files only have hunks. */
  isC: boolean;
  pre: FileIndex | null;
  post: FileIndex | null;
  pairing: FilePairing;
  maps: LineMaps;
  /** post line -> pre line for unchanged lines (line shift = post - pre). */
  postToPre(line: number): number | null;
}

export type NewFinding = Omit<
  Finding,
  'rule' | 'severity' | 'patchLine' | 'patchIndex' | 'image' | 'related' | 'endLine' | 'function' | 'symbol'
> & {
  severity?: Severity;
  image?: 'pre' | 'post';
  endLine?: number;
  function?: string | null;
  symbol?: string | null;
  related?: Finding['related'];
};

export interface RuleContext {
  files: FileChange[];
  /** Null when no tree was given: hunk-only analysis. */
  tree: KernelTree | null;
  parser: CParser;
  /** What the target kernel shows (symbols, exports, config); null when none was given. */
  facts: TargetFacts | null;
  /** Indexes another tree file (callers, headers); cached; null when unreadable. */
  indexTreeFile(path: string): FileIndex | null;
  report(f: NewFinding): void;
  /**
   * `compute()`, a value that depends on `input` alone, kept between runs where the run
   * has an index store (the CLI), so a run whose indexes are stored parses nothing.
   * The value must survive v8.serialize; do not change it.
   */
  kept<T>(kind: string, input: string, compute: () => T): T;
  /**
   * The preprocessor's view (engine/expand) of a patched file's image, or of a tree file
   * (read from the tree; `image` ignored); null when none is at hand: rules then keep the raw answer.
   */
  expandedView?(path: string, image: 'pre' | 'post'): ExpandedView | null;
}

export interface Rule {
  id: string;
  /** Severity findings get unless the rule says otherwise per finding. */
  severity: Severity;
  /** One-line summary, shown in docs and hovers. */
  title: string;
  /** The rule cannot run without the kernel tree. */
  needsTree?: boolean;
  /**
   * The rule may ask for the tree's on-disk cache (git grep answers, header facts, Kconfig
   * types), whose key waits for `git diff-files`: it runs after the other rules, which
   * gives that git the most time to finish.
   */
  readsTreeCache?: boolean;
  /**
   * The parts of the tree whose cache key the rule will likely ask for on these files:
   * their `git diff-files` start before any rule runs, instead of when the rule asks.
   */
  treeScopes?(files: FileChange[]): readonly TreeScope[];
  /** Without the tree, the rule still runs when these target facts can answer for it. */
  runsOnFacts?(facts: TargetFacts): boolean;
  check(ctx: RuleContext): void;
}
