// Turns an open document into engine input and engine findings into LSP
// diagnostics. Two kinds of documents:
//  - patches (.patch/.diff): analysed as they are, against the kernel tree they
//    sit in (or the first kernel-tree workspace folder); diagnostics go on
//    patch lines;
//  - kernel sources (.c/.h in a kernel tree): the live buffer is diffed against
//    the base ref (git), diagnostics go on buffer lines. In an untrusted
//    workspace git is not run: the buffer is diffed against its saved copy.
// No connection here: the glue in livepatchServer.ts feeds it and publishes.

import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bufferPatch } from './bufferDiff';
import type { Diagnostic, DiagnosticRelatedInformation } from 'vscode-languageserver';
import { DiagnosticSeverity } from 'vscode-languageserver';
import { lineStarts } from '../engine/util/text';
import { analyzePatches, PatchError, type AnalysisResult } from '../engine/analyze';
import type { CParser } from '../engine/parse/parser';
import type { Finding } from '../engine/model';
import { indexSource } from '../engine/index/indexer';
import { BaseReader, findKernelTree, readSavedFile } from './kernelTrees';
import { gitAllowed } from '../engine/tree/git';
import { DocumentTrees, IndexCache } from '../engine/parse/documentTrees';
import { effectiveSeverity, type Settings } from './settings';
import type { TargetFacts } from '../engine/target/facts';
import type { ExpandedView } from '../engine/expand/expanded';

export interface Doc {
  uri: string;
  languageId: string;
  version: number;
  text: string;
}

export type DocKind = 'patch' | 'source' | 'other';

export interface DocAnalysis {
  kind: DocKind;
  tree: string | null;
  /** Tree-relative path, for sources. */
  rel: string | null;
  result: AnalysisResult | null;
  diagnostics: Diagnostic[];
  /** Diagnostic index -> finding, for hovers and code actions. */
  findings: Finding[];
  /** The patch that was analysed (the document itself, or buffer vs base). */
  patchText: string | null;
}

const SEVERITY: Record<string, DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

export function docKind(doc: { uri: string; languageId: string }): DocKind {
  if (doc.languageId === 'diff' || /\.(patch|diff)$/.test(doc.uri)) return 'patch';
  if (/\.[ch]$/.test(doc.uri) && (doc.languageId === 'c' || doc.languageId === 'cpp' || doc.languageId === '')) return 'source';
  return 'other';
}

function fsPath(uri: string): string | null {
  try {
    return uri.startsWith('file:') ? fileURLToPath(uri) : null;
  } catch {
    return null;
  }
}

export interface AnalyzerOptions {
  parser: CParser;
  /** Kernel-tree workspace folders, used for patches that live outside any tree. */
  workspaceTrees: () => string[];
  /** Where the rule docs live (docs/rules/<id>.md), for codeDescription links. */
  docsDir: string | null;
  /** The active target's facts (kallsyms, Module.symvers, .config), when the client sent them. */
  facts?: () => TargetFacts | null;
  /** The preprocessor's views for an analysis of `doc` in `tree` (cached only; misses are queued), or null. */
  expanded?: (tree: string, doc: Doc) => ((path: string, text: string) => ExpandedView | null) | null;
}

export class DocumentAnalyzer {
  readonly trees: DocumentTrees;
  /** Pre/post images of files named by open patches. */
  private readonly patchTrees: DocumentTrees;
  private readonly indexes = new IndexCache(96);
  /** Base-ref blobs, shared with the workspace-changes request. */
  readonly base = new BaseReader();

  constructor(private readonly opts: AnalyzerOptions) {
    this.trees = new DocumentTrees(opts.parser);
    this.patchTrees = new DocumentTrees(opts.parser, 6);
  }

  treeFor(doc: Doc): string | null {
    const p = fsPath(doc.uri);
    const own = p ? findKernelTree(p) : null;
    if (own) return own;
    return docKind(doc) === 'patch' ? (this.opts.workspaceTrees()[0] ?? null) : null;
  }

  /** Frees the trees kept for a closed document (its buffer's and its base's). */
  forget(uri: string): void {
    this.trees.drop(uri);
    this.trees.drop(baseKey(uri));
  }

  async analyze(doc: Doc, settings: Settings, isCancelled: () => boolean): Promise<DocAnalysis> {
    const kind = docKind(doc);
    const empty: DocAnalysis = { kind, tree: null, rel: null, result: null, diagnostics: [], findings: [], patchText: null };
    if (kind === 'other') return empty;
    if (doc.text.length > settings.maxFileBytes) {
      return {
        ...empty,
        diagnostics: [
          {
            range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
            // An error: nothing checked this document, so it must not read as clean (the Build gate counts it).
            severity: DiagnosticSeverity.Error,
            code: 'not-analysed',
            source: 'livepatch',
            message: `Not analysed: ${(doc.text.length / 1048576).toFixed(1)} MB is over the ${(settings.maxFileBytes / 1048576).toFixed(0)} MB limit (livepatch.maxFileBytes).`,
          },
        ],
      };
    }
    const tree = this.treeFor(doc);
    const indexFile = (p: string, text: string) => this.indexes.get(p, text, () => indexSource(this.opts.parser, p, text));
    if (kind === 'patch') {
      try {
        const result = await analyzePatches([{ name: doc.uri, text: doc.text }], {
          tree,
          config: settings.kernelConfig || null,
          parser: this.opts.parser,
          isCancelled,
          indexFile,
          trees: this.patchTrees,
          facts: this.opts.facts?.() ?? null,
          expanded: (tree && this.opts.expanded?.(tree, doc)) || undefined,
          maxFileBytes: settings.maxFileBytes,
          maxFileBytesName: 'livepatch.maxFileBytes',
        });
        return this.toDiagnostics({ ...empty, tree, result, patchText: doc.text }, settings, doc.text);
      } catch (err) {
        if (err instanceof PatchError) return { ...empty, tree, diagnostics: [patchErrorDiagnostic(err)] };
        throw err;
      }
    }
    // A kernel source: buffer vs base ref.
    const file = fsPath(doc.uri);
    if (!tree || !file) return empty;
    const rel = path.relative(tree, file).split(path.sep).join('/');
    let baseText: string | null;
    try {
      baseText = gitAllowed() ? await this.base.read(tree, settings.baseRef, rel) : readSavedFile(file, settings.maxFileBytes);
    } catch (err) {
      return {
        ...empty,
        tree,
        rel,
        diagnostics: [
          {
            range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
            severity: DiagnosticSeverity.Information,
            source: 'livepatch',
            message: `Cannot read the base '${settings.baseRef}' with git: ${(err as Error).message}`,
          },
        ],
      };
    }
    if (baseText === doc.text) {
      // Back at its base (an undo): the base's tree is this text's, and the next edit reparses from it.
      this.trees.drop(doc.uri);
      return { ...empty, tree, rel };
    }
    const patchText = bufferPatch(rel, baseText, doc.text);
    if (!/^@@/m.test(patchText)) return { ...empty, tree, rel };
    const uri = doc.uri;
    let result: AnalysisResult;
    try {
      result = await analyzePatches([{ name: rel, text: patchText }], {
        tree,
        config: settings.kernelConfig || null,
        facts: this.opts.facts?.() ?? null,
        expanded: this.opts.expanded?.(tree, doc) ?? undefined,
        parser: this.opts.parser,
        isCancelled,
        maxFileBytes: settings.maxFileBytes,
        maxFileBytesName: 'livepatch.maxFileBytes',
        readPreImage: (p) => (p === rel ? baseText : null),
        indexFile: (p, text, image) => {
          // The buffer and its base each keep a tree: an edit after an undo back to the base
          // reparses from the base's (one spot) instead of from the undone edit's tree.
          if (p === rel && image === 'post' && text === doc.text) return this.trees.index(uri, p, text, baseKey(uri));
          if (p === rel && image === 'pre' && text === baseText) return this.trees.index(baseKey(uri), p, text);
          return indexFile(p, text);
        },
      });
    } catch (err) {
      // The buffer is not something the engine can read (NUL bytes, invalid text): say so
      // instead of leaving the last analysis' diagnostics up.
      if (!(err instanceof PatchError)) throw err;
      return { ...empty, tree, rel, diagnostics: [notAnalysed(err.message.replace(/^[^:]*\.(?:c|h|patch|diff): /, ''))] };
    }
    return this.toDiagnostics({ ...empty, tree, rel, result, patchText }, settings, doc.text);
  }

  private toDiagnostics(a: DocAnalysis, settings: Settings, docText: string): DocAnalysis {
    const result = a.result!;
    // Line starts only, and only when there is something to place: most keystrokes leave
    // no finding, and a finding needs one or two lines of a 10,000-line buffer.
    let starts: number[] | null = null;
    const lineCount = () => (starts ??= lineStarts(docText)).length;
    const lineText = (l: number): string | undefined => {
      starts ??= lineStarts(docText);
      if (l < 0 || l >= starts.length) return undefined;
      return docText.slice(starts[l], l + 1 < starts.length ? starts[l + 1] - 1 : docText.length);
    };
    for (const f of result.findings) {
      const sev = effectiveSeverity(settings, f.rule, f.severity);
      if (!sev) continue;
      let line: number;
      let endLine: number;
      if (a.kind === 'patch') {
        line = f.patchLine ?? 0;
        endLine = line;
      } else {
        if (f.file !== a.rel) continue;
        line = f.image === 'pre' ? 0 : f.line;
        endLine = f.image === 'pre' ? 0 : Math.min(f.endLine, f.line); // squiggle the trigger line, not the whole function
      }
      line = Math.min(line, Math.max(0, lineCount() - 1));
      const text = lineText(line) ?? '';
      const first = Math.max(0, text.search(/\S/));
      const related: DiagnosticRelatedInformation[] = f.related
        .filter(() => !!a.tree)
        .map((r) => ({
          location: {
            uri: pathToFileURL(path.join(a.tree!, r.file)).toString(),
            range: { start: { line: r.line, character: 0 }, end: { line: r.line, character: 0 } },
          },
          message: r.image === 'pre' ? `${r.message} (before the change)` : r.message,
        }));
      const d: Diagnostic = {
        range: {
          start: { line, character: first },
          end: { line: Math.max(line, endLine), character: (lineText(Math.max(line, endLine)) ?? '').length },
        },
        severity: SEVERITY[sev],
        code: f.rule,
        source: 'livepatch',
        message: f.message,
        relatedInformation: related.length ? related : undefined,
        data: { finding: a.findings.length },
      };
      if (this.opts.docsDir) d.codeDescription = { href: pathToFileURL(path.join(this.opts.docsDir, `${f.rule}.md`)).toString() };
      a.diagnostics.push(d);
      a.findings.push(f);
    }
    // Changed files the engine gave up on are not-analysed errors (findings, above); tree files
    // a rule could not read are notes: say so rather than stay silent.
    for (const note of result.notes) if (/not analysed/.test(note)) a.diagnostics.push(notAnalysed(note));
    if (!a.tree && a.kind === 'patch' && result.notes.length) {
      a.diagnostics.push({
        range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
        severity: DiagnosticSeverity.Hint,
        source: 'livepatch',
        message:
          'No kernel tree found for this patch (open it inside a kernel tree or open the tree as a workspace folder): only the hunks were analysed.',
      });
    }
    return a;
  }
}

/** The DocumentTrees key of a buffer's base image. */
function baseKey(uri: string): string {
  return `${uri}#base`;
}

function notAnalysed(message: string): Diagnostic {
  return {
    range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } },
    severity: DiagnosticSeverity.Information,
    source: 'livepatch',
    message: /not analysed/i.test(message) ? message : `Not analysed: ${message}`,
  };
}

function patchErrorDiagnostic(err: Error): Diagnostic {
  const m = /:(\d+):/.exec(err.message);
  const line = m ? Math.max(0, Number(m[1]) - 1) : 0;
  const msg = err.message.replace(/^file:\/\/\S+?: /, '');
  return {
    range: { start: { line, character: 0 }, end: { line, character: 1000 } },
    severity: DiagnosticSeverity.Error,
    source: 'livepatch',
    code: 'patch-error',
    message: `Cannot analyse this patch: ${msg}`,
  };
}
