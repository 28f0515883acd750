// Data shared by every stage of the engine: the diff reader, the indexer, the
// pairing step and the rules. Lines are 0-based internally and become 1-based
// only when a finding is formatted for people (CLI, SARIF, LSP).

export type Severity = 'error' | 'warning' | 'info';

export interface Span {
  /** 0-based first line. */
  start: number;
  /** 0-based last line (inclusive). */
  end: number;
  startByte: number;
  endByte: number;
}

export interface RelatedLocation {
  file: string;
  /** 0-based line in the post-image (or the pre-image when `image` says so). */
  line: number;
  image?: 'pre' | 'post';
  message: string;
}

export interface Finding {
  rule: string;
  severity: Severity;
  /** Kernel-tree-relative path of the post-image (pre-image for deleted files). */
  file: string;
  /** 0-based lines in the image named by `image` (post unless the thing was removed). */
  line: number;
  endLine: number;
  image: 'pre' | 'post';
  function: string | null;
  symbol: string | null;
  message: string;
  related: RelatedLocation[];
  /** 0-based line in the patch text, filled in by the analysis driver. */
  patchLine?: number;
  /** Index of the patch among the inputs, filled in by the analysis driver. */
  patchIndex?: number;
}

export type StorageClass = 'static' | 'extern' | 'none';
export type InlineKind = 'none' | 'inline' | 'always';

export interface StaticLocal {
  name: string;
  /** The declaration text, normalised. */
  decl: string;
  line: number;
}

export interface CallSite {
  name: string;
  line: number;
}

export interface FunctionDef {
  kind: 'function';
  name: string;
  /** SYSCALL_DEFINEn / COMPAT_SYSCALL_DEFINEn / KPATCH_SYSCALL_DEFINEn macro, if the function is one. */
  syscallMacro: string | null;
  storage: StorageClass;
  inline: InlineKind;
  /** Annotation and section macros in the head: __init, notrace, __sched, noinline, __cold... */
  attributes: string[];
  /** Head text up to the body, normalised (comments and whitespace runs removed). */
  signature: string;
  span: Span;
  bodySpan: Span;
  /** Body text normalised: comments dropped, whitespace collapsed. Equal bodies compile alike. */
  normBody: string;
  staticLocals: StaticLocal[];
  calls: CallSite[];
  /** Identifiers used in the body (calls excluded), for cheap reference checks. */
  identifiers: Set<string>;
  /** Lines of macros that expand to __LINE__ (WARN_ON, BUG_ON, might_sleep...) or __LINE__ itself. */
  lineMacroUses: CallSite[];
  /** Set when the preprocessor's view corrected `attributes` (engine/expand): what it added and dropped. */
  expansion?: { added: string[]; dropped: string[] };
}

export interface Member {
  name: string;
  /** Declaration text, normalised. */
  decl: string;
  line: number;
}

export interface TypeDef {
  kind: 'struct' | 'union' | 'enum';
  name: string;
  members: Member[];
  span: Span;
  /** Whole definition normalised, for change detection. */
  norm: string;
}

export interface VariableDef {
  kind: 'variable';
  name: string;
  storage: StorageClass;
  /** Type text, normalised (e.g. "const struct file_operations"). */
  type: string;
  /** Array dimensions as written, e.g. "[16]" or "[NR_CPUS][2]"; "" for scalars. */
  dims: string;
  /** Initializer text normalised, or null when the variable has none. */
  init: string | null;
  /** Section or placement macros: __read_mostly, __ro_after_init, __initdata, DEFINE_PER_CPU... */
  attributes: string[];
  span: Span;
  /** Whole declaration normalised. */
  norm: string;
}

export interface MacroDef {
  kind: 'macro';
  name: string;
  params: string | null;
  body: string;
  span: Span;
}

export interface ExportDef {
  symbol: string;
  macro: string;
  namespace: string | null;
  line: number;
}

export interface IncludeDef {
  path: string;
  line: number;
}

/** Everything the indexer learned about one image of one file. */
export interface FileIndex {
  path: string;
  text: string;
  lines: string[];
  functions: FunctionDef[];
  types: TypeDef[];
  variables: VariableDef[];
  macros: MacroDef[];
  exports: ExportDef[];
  includes: IncludeDef[];
  /** Functions named by module_init(), module_exit() or *_initcall(). */
  initTargets: Map<string, string>;
  /** Arguments of KPATCH_IGNORE_FUNCTION / KPATCH_*_CALLBACK and friends. */
  escapeHatches: Map<string, string>;
  /** Lines that are function-like definitions the parser could not resolve (macro-generated). */
  opaqueLines: number[];
}
