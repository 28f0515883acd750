// LSP glue: wires the connection to the DocumentAnalyzer, the validation queue,
// hovers, quick fixes and the custom request. Everything that decides anything
// lives in the engine or in the modules next to this one.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bufferPatch } from './bufferDiff';
import {
  type Connection,
  TextDocuments,
  TextDocumentSyncKind,
  type InitializeParams,
  type InitializeResult,
  DidChangeConfigurationNotification,
  CodeActionKind,
  ShowMessageNotification,
  MessageType,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { createParser, type CParser } from '../engine/parse/parser';
import { analyzePatches, AnalysisCancelled } from '../engine/analyze';
import { notAnalysedFinding } from '../engine/notAnalysed';
import { DocumentAnalyzer, docKind, type DocAnalysis } from './documentAnalyzer';
import { defaultSettings, readSettings, type Settings } from './settings';
import { ValidationQueue } from './validation';
import { hoverAt } from './hover';
import { quickFixes } from './codeActions';
import { findKernelTree, isKernelTree, readSavedFile } from './kernelTrees';
import { git, gitAllowed, setGitAllowed } from '../engine/tree/git';
import {
  AnalyzeWorkspaceChangesRequest,
  type AnalyzeWorkspaceChangesParams,
  type AnalyzeWorkspaceChangesResult,
  GenerateModuleRequest,
  type GenerateModuleParams,
  type GenerateModuleResult,
  LocateBuildReferencesRequest,
  type LocateBuildReferencesParams,
  type LocateBuildReferencesResult,
  DidChangeWorkspaceTrustNotification,
  type DidChangeWorkspaceTrustParams,
  type WireFinding,
  toWireFinding,
  DidChangeTargetFactsNotification,
  type DidChangeTargetFactsParams,
} from '../protocol';
import { describeFacts, type TargetFacts } from '../engine/target/facts';
import { loadTargetFacts } from '../cli/targetFacts';
import { ExpandedViews, kbuildCompilerAsync, PreprocessError } from '../build/preprocess';
import type { ExpandedView } from '../engine/expand/expanded';
import { BuildLocator } from '../engine/locate/buildLocations';
import { generateModule, GenerateError, parseSymvers } from '../engine/generate/moduleGenerator';
import { KernelTree, readConfigFile } from '../engine/tree/kernelTree';
import { generatePatchedUnit } from '../engine/generate/patchedUnit';
import { Kallsyms, parseSymversObjects } from '../engine/generate/symbols';

export function docsDirFor(base: string): string | null {
  for (const c of [path.join(base, 'docs', 'rules'), path.join(base, '..', 'docs', 'rules')]) {
    if (fs.existsSync(c)) return c;
  }
  return null;
}

const UNTRUSTED_NOTICE =
  'this workspace is not trusted, so git is not run in it. Edited .c/.h files are compared with ' +
  'their saved copy instead of livepatch.baseRef, Check Patch on the working tree covers only unsaved changes, and ' +
  'searches of the tree (callers of changed inline functions, Kconfig) walk a bounded part of it instead of using ' +
  'git grep, so they may miss files. Trust the workspace for the full analysis.';

export class LivepatchServer {
  private readonly documents = new TextDocuments(TextDocument);
  private parser!: CParser;
  private analyzer!: DocumentAnalyzer;
  private queue!: ValidationQueue;
  private analyses = new Map<string, DocAnalysis>();
  private settingsCache = new Map<string, Promise<Settings>>();
  private hasConfiguration = false;
  private hasDynamicConfiguration = false;
  private workspaceFolders: string[] = [];
  private readonly docsDir = docsDirFor(__dirname);
  private untrustedNoticeShown = false;
  private configChecked = new Map<string, string | null>();
  /** The active target's facts, from the client (didChangeTargetFacts); null: the rules hedge. */
  private facts: TargetFacts | null = null;
  /** The preprocessor's views per kernel tree, with the target's headers package (null: none at hand). */
  private views = new Map<string, ExpandedViews | null>();
  /** Headers directories whose compiler the probe make is still working out. */
  private probing = new Set<string>();
  /** Documents whose buffer is what is on disk (opened or saved, not edited since). */
  private readonly clean = new Set<string>();
  /** Texts to preprocess, off the keystroke path: tree -> key -> (path, text). */
  private readonly fills = new Map<string, Map<string, { path: string; text: string }>>();
  private filling = false;

  constructor(private readonly connection: Connection) {}

  register(): void {
    const c = this.connection;
    c.onInitialize((p) => this.onInitialize(p));
    c.onInitialized(() => {
      if (this.hasDynamicConfiguration) {
        c.client.register(DidChangeConfigurationNotification.type, { section: 'livepatch' }).catch(() => undefined);
      }
    });
    c.onDidChangeConfiguration(() => {
      this.settingsCache.clear();
      for (const d of this.documents.all()) this.queue.schedule(d.uri, d.version, true);
    });
    this.documents.onDidOpen((e) => {
      this.clean.add(e.document.uri);
      this.queue.schedule(e.document.uri, e.document.version, true);
    });
    this.documents.onDidChangeContent((e) => {
      // didOpen fires a content change too, at version 1 of an unedited buffer.
      if (this.analyses.has(e.document.uri) || e.document.version > 1) this.clean.delete(e.document.uri);
      this.queue.schedule(e.document.uri, e.document.version);
    });
    this.documents.onDidSave((e) => {
      this.clean.add(e.document.uri);
      this.queue.schedule(e.document.uri, e.document.version, true);
    });
    this.documents.onDidClose((e) => {
      this.queue.cancel(e.document.uri);
      this.analyses.delete(e.document.uri);
      this.clean.delete(e.document.uri);
      this.analyzer.forget(e.document.uri);
      this.settingsCache.delete(e.document.uri);
      void c.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
    });
    c.onHover((p) => {
      const a = this.analyses.get(p.textDocument.uri);
      return a ? hoverAt(a, p.position, this.docsDir) : null;
    });
    c.onCodeAction((p) => {
      const a = this.analyses.get(p.textDocument.uri);
      const doc = this.documents.get(p.textDocument.uri);
      if (!a || !doc) return [];
      return quickFixes({ uri: doc.uri, lines: doc.getText().split('\n'), analysis: a }, p.context.diagnostics);
    });
    c.onNotification(DidChangeWorkspaceTrustNotification, (p: DidChangeWorkspaceTrustParams) => {
      if (!!p?.trusted === gitAllowed()) return;
      setGitAllowed(!!p?.trusted);
      this.connection.console.log(`workspace ${p?.trusted ? 'trusted: git runs again' : 'not trusted: git is not run'}`);
      for (const d of this.documents.all()) this.queue.schedule(d.uri, d.version, true);
    });
    c.onNotification(DidChangeTargetFactsNotification, (p: DidChangeTargetFactsParams) => this.setFacts(p));
    c.onRequest(AnalyzeWorkspaceChangesRequest, (p: AnalyzeWorkspaceChangesParams) => this.analyzeWorkspaceChanges(p));
    c.onRequest(GenerateModuleRequest, (p: GenerateModuleParams) => this.generateModule(p));
    c.onRequest(LocateBuildReferencesRequest, (p: LocateBuildReferencesParams) => this.locateBuildReferences(p));
    this.documents.listen(c);
  }

  private async onInitialize(params: InitializeParams): Promise<InitializeResult> {
    const init = params.initializationOptions as { debounceMs?: number; workspaceTrusted?: boolean } | undefined;
    // A client that says nothing about trust (not VS Code) gets an untrusted workspace: no git.
    setGitAllowed(init?.workspaceTrusted === true);
    if (!gitAllowed()) this.connection.console.log(`workspace not trusted: ${UNTRUSTED_NOTICE}`);
    this.parser = await createParser('wasm');
    this.hasConfiguration = !!params.capabilities.workspace?.configuration;
    this.hasDynamicConfiguration = !!params.capabilities.workspace?.didChangeConfiguration?.dynamicRegistration;
    this.workspaceFolders = (params.workspaceFolders ?? [])
      .map((f) => (f.uri.startsWith('file:') ? fileURLToPath(f.uri) : ''))
      .filter(Boolean);
    if (!this.workspaceFolders.length && params.rootUri?.startsWith('file:')) this.workspaceFolders.push(fileURLToPath(params.rootUri));
    this.analyzer = new DocumentAnalyzer({
      parser: this.parser,
      workspaceTrees: () => this.workspaceFolders.filter(isKernelTree),
      docsDir: this.docsDir,
      facts: () => this.facts,
      expanded: (tree, doc) => this.expandedFor(tree, doc),
    });
    this.queue = new ValidationQueue(
      (uri, version, cancelled) => this.validate(uri, version, cancelled),
      () => defaultSettings.debounceMs,
    );
    const override = init?.debounceMs;
    if (typeof override === 'number')
      this.queue = new ValidationQueue(
        (u, v, c) => this.validate(u, v, c),
        () => override,
      );
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
        hoverProvider: true,
        codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
      },
      serverInfo: { name: 'livepatch-language-server', version: '0.1.0' },
    };
  }

  private settings(uri: string): Promise<Settings> {
    if (!this.hasConfiguration) return Promise.resolve(defaultSettings);
    let s = this.settingsCache.get(uri);
    if (!s) {
      s = this.connection.workspace.getConfiguration({ scopeUri: uri, section: 'livepatch' }).then(readSettings, () => defaultSettings);
      this.settingsCache.set(uri, s);
    }
    return s;
  }

  private async validate(uri: string, version: number, isCancelled: () => boolean): Promise<void> {
    const doc = this.documents.get(uri);
    if (!doc || doc.version !== version || docKind(doc) === 'other') return;
    const settings = await this.settings(uri);
    const started = Date.now();
    try {
      const a = await this.analyzer.analyze({ uri, languageId: doc.languageId, version, text: doc.getText() }, settings, isCancelled);
      // Stale: the document moved on while we worked.
      const now = this.documents.get(uri);
      if (isCancelled() || !now || now.version !== version) return;
      this.analyses.set(uri, a);
      if (a.tree) this.noticeUntrusted();
      this.checkKernelConfig(settings);
      await this.connection.sendDiagnostics({ uri, version, diagnostics: a.diagnostics });
      this.connection.console.log(`${path.basename(uri)} v${version}: ${a.diagnostics.length} diagnostic(s) in ${Date.now() - started} ms`);
    } catch (err) {
      if (err instanceof AnalysisCancelled) return;
      this.connection.console.error(`analysis of ${uri} failed: ${(err as Error).stack ?? err}`);
    }
  }

  /** Reads the files the client cached for the target's release once, then re-checks the open documents. */
  private setFacts(p: DidChangeTargetFactsParams): void {
    const f = p?.facts ?? null;
    let facts: TargetFacts | null = null;
    if (f) {
      const t0 = Date.now();
      try {
        const loaded = loadTargetFacts({ kallsyms: f.kallsyms, symvers: f.symvers, config: f.config });
        if (loaded) {
          facts = { ...loaded.facts, release: f.release };
          for (const n of loaded.notes) this.connection.console.log(`target facts: ${n}`);
          this.connection.console.log(`${f.target}: ${describeFacts(facts)}, loaded in ${Date.now() - t0} ms`);
        }
      } catch (err) {
        this.connection.console.warn(`${f.target}: the target facts of ${f.release} cannot be used: ${(err as Error).message}`);
      }
    } else if (this.facts) {
      this.connection.console.log('no target facts: the rules hedge where they need them');
    }
    if (!facts && !this.facts) return;
    this.facts = facts;
    for (const d of this.documents.all()) this.queue.schedule(d.uri, d.version, true);
  }

  /**
   * The preprocessor's view for an analysis of `doc` in `tree`: cached views only, so an edit
   * never waits for gcc. A text not seen yet is queued when it is stable (a pre-image, a tree
   * file, the buffer of an opened or saved document) and the documents are checked again once
   * it is done. Needs the target's release (its facts) and its headers package on this machine.
   */
  private expandedFor(tree: string, doc: { uri: string; text: string }): ((path: string, text: string) => ExpandedView | null) | null {
    const views = this.viewsOf(tree);
    if (!views) return null;
    const stableBuffer = this.clean.has(doc.uri);
    return (p, text) => {
      if (!p.endsWith('.c')) return null;
      const v = views.cached(p, text);
      if (v !== undefined) return v;
      // The live buffer of an edited document changes with every keystroke: not preprocessed.
      if (!stableBuffer && (text === doc.text || /\.(?:patch|diff)$/.test(doc.uri))) return null;
      let q = this.fills.get(tree);
      if (!q) this.fills.set(tree, (q = new Map()));
      q.set(views.key(p, text), { path: p, text });
      setImmediate(() => void this.drainFills());
      return null;
    };
  }

  private viewsOf(tree: string): ExpandedViews | null {
    const release = this.facts?.release;
    if (!release) return null;
    const headers = path.join(process.env.KLP_HEADERS_ROOT ?? '/usr/src', `linux-headers-${release}`);
    const key = `${tree}\0${headers}`;
    if (!this.views.has(key) && !this.probing.has(key)) {
      if (!fs.existsSync(path.join(headers, 'include', 'generated', 'autoconf.h'))) {
        this.views.set(key, null);
      } else {
        // The first use of a headers directory runs make once (seconds): in the background, and
        // the documents are checked again when the compiler is known.
        this.probing.add(key);
        void kbuildCompilerAsync(headers)
          .then(
            (c) => {
              this.views.set(key, new ExpandedViews(c, tree));
              this.connection.console.log(`preprocessor's view: gcc -E with the kbuild flags of ${headers}`);
              for (const d of this.documents.all()) this.queue.schedule(d.uri, d.version, true);
            },
            (err: unknown) => {
              if (!(err instanceof PreprocessError)) throw err;
              this.views.set(key, null);
              this.connection.console.warn(`preprocessor's view: ${err.message}`);
            },
          )
          .finally(() => this.probing.delete(key));
      }
    }
    return this.views.get(key) ?? null;
  }

  /** Runs the queued preprocessor runs one at a time, then checks the tree's documents again. */
  private async drainFills(): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    try {
      for (;;) {
        const [tree, q] = [...this.fills].find(([, m]) => m.size) ?? [];
        if (!tree || !q) break;
        const views = this.viewsOf(tree);
        const done: string[] = [];
        for (const [k, { path: p, text }] of [...q]) {
          q.delete(k);
          if (!views) continue;
          const t0 = Date.now();
          const v = await views.fill(p, text);
          this.connection.console.log(
            `preprocessor's view of ${p}: ${v ? `${v.functions.length} functions` : views.failure(p, text)} in ${Date.now() - t0} ms`,
          );
          done.push(p);
        }
        if (done.length) {
          for (const d of this.documents.all()) {
            const f = d.uri.startsWith('file:') ? fileURLToPath(d.uri) : '';
            if (docKind(d) === 'patch' || f.startsWith(tree + path.sep)) this.queue.schedule(d.uri, d.version, true);
          }
        }
      }
    } finally {
      this.filling = false;
    }
  }

  /** Once per session, the features an untrusted workspace loses. */
  private noticeUntrusted(): void {
    if (gitAllowed() || this.untrustedNoticeShown) return;
    this.untrustedNoticeShown = true;
    // A notification, not a request: it needs no answer from the client.
    void this.connection.sendNotification(ShowMessageNotification.type, {
      type: MessageType.Info,
      message: `Livepatch: ${UNTRUSTED_NOTICE}`,
    });
  }

  /** A livepatch.kernelConfig that cannot be used (a FIFO, a device, too big) is said once, not silently ignored. */
  private checkKernelConfig(settings: Settings): void {
    const file = settings.kernelConfig;
    if (!file || this.configChecked.has(file)) return;
    let problem: string | null = null;
    try {
      readConfigFile(file);
    } catch (err) {
      problem = (err as Error).message;
    }
    this.configChecked.set(file, problem);
    if (problem)
      void this.connection.sendNotification(ShowMessageNotification.type, {
        type: MessageType.Warning,
        message: `Livepatch: livepatch.kernelConfig: ${problem}; it is ignored (module decisions fall back to Kconfig).`,
      });
  }

  /** The kernel tree a file or folder URI is in (the folder itself included), or null. */
  private treeOf(uri: string | undefined): string | null {
    if (!uri?.startsWith('file:')) return null;
    const start = fileURLToPath(uri);
    return isKernelTree(start) ? start : findKernelTree(start);
  }

  /** A kbuild livepatch module for a patch, or the reasons it cannot be generated. */
  private async generateModule(p: GenerateModuleParams): Promise<GenerateModuleResult> {
    // A patch outside any tree is checked against the workspace's tree, as its diagnostics are.
    const tree = this.treeOf(p.uri) ?? this.workspaceFolders.find(isKernelTree) ?? null;
    if (!tree)
      return { ok: false, refusals: [{ symbol: '(tree)', file: null, line: null, message: 'no kernel tree found for this patch' }] };
    const settings = await this.settings(p.uri ?? '');
    const r = await analyzePatches([{ name: `${p.name}.patch`, text: p.patch }], {
      tree,
      parser: this.parser,
      config: settings.kernelConfig || null,
      maxFileBytes: settings.maxFileBytes,
      maxFileBytesName: 'livepatch.maxFileBytes',
      facts: this.facts,
    });
    try {
      if (p.generator === 'unit') {
        const u = generatePatchedUnit(r, {
          name: p.name,
          replace: p.replace,
          exported: p.symvers ? parseSymversObjects(p.symvers) : null,
          kallsyms: p.kallsyms ? new Kallsyms(p.kallsyms) : null,
          tree: KernelTree.open(tree, settings.kernelConfig || null),
          parser: this.parser,
          allowFindings: p.allowFindings,
        });
        return { ok: true, name: u.name, files: u.files, functions: u.functions, unverified: [], unit: u };
      }
      const m = generateModule(r, {
        name: p.name,
        replace: p.replace,
        exported: p.symvers ? parseSymvers(p.symvers) : null,
        kallsyms: p.kallsyms ?? null,
        tree: KernelTree.open(tree, settings.kernelConfig || null),
      });
      return { ok: true, name: m.name, files: m.files, functions: m.functions, unverified: m.unverified };
    } catch (err) {
      if (err instanceof GenerateError) return { ok: false, refusals: err.refusals };
      throw err;
    }
  }

  /** Build output names functions, sections and symbols; find them in the tree with the engine's index. */
  private async locateBuildReferences(p: LocateBuildReferencesParams): Promise<LocateBuildReferencesResult> {
    const tree = this.treeOf(p.uri);
    if (!tree) return p.references.map(() => null);
    const settings = await this.settings(p.uri);
    const locator = new BuildLocator(KernelTree.open(tree, settings.kernelConfig || null), this.parser, p.files);
    return p.references.map((r) => locator.locate(r) ?? null);
  }

  /** All findings for the working tree (and unsaved open buffers) against the base ref. */
  private async analyzeWorkspaceChanges(p: AnalyzeWorkspaceChangesParams): Promise<AnalyzeWorkspaceChangesResult> {
    const tree = p.uri ? this.treeOf(p.uri) : (this.workspaceFolders.find(isKernelTree) ?? null);
    const settings = await this.settings(p.uri ?? '');
    const baseRef = p.baseRef ?? settings.baseRef;
    if (!tree) return { tree: null, baseRef, diff: '', files: [], findings: [], notes: ['no kernel tree found in the workspace'] };
    const notes: string[] = [];
    const changed = new Set<string>();
    if (gitAllowed()) {
      // Only the resolved hash reaches git diff: a ref like `--output=FILE` is never an option.
      let commit: string;
      try {
        commit = await this.analyzer.base.commitOf(tree, baseRef);
      } catch (err) {
        return { tree, baseRef, diff: '', files: [], findings: [], notes: [`cannot use base '${baseRef}': ${(err as Error).message}`] };
      }
      const out = await git(tree, [
        'diff',
        '--name-only',
        '--no-renames',
        '--no-ext-diff',
        '--no-textconv',
        '--ignore-submodules=all',
        commit,
        '--',
        '*.c',
        '*.h',
      ]);
      for (const f of out.split('\n')) if (f) changed.add(f);
    } else {
      this.noticeUntrusted();
      notes.push('workspace not trusted: git is not run, so only unsaved changes in open files are checked, against their saved copies');
    }
    const open = new Map<string, string>();
    for (const d of this.documents.all()) {
      if (!d.uri.startsWith('file:') || docKind(d) !== 'source') continue;
      const f = fileURLToPath(d.uri);
      if (!f.startsWith(tree + path.sep)) continue;
      const rel = path.relative(tree, f).split(path.sep).join('/');
      open.set(rel, d.getText());
      changed.add(rel);
    }
    const bases = new Map<string, string | null>();
    let diff = '';
    // A changed file over the size limit is not read (readSavedFile would say "gone" and the
    // diff would delete it): it is a not-analysed error, which the Build command's gate sees.
    const skipped: WireFinding[] = [];
    for (const rel of [...changed].sort()) {
      const size = open.has(rel) ? Buffer.byteLength(open.get(rel)!, 'utf8') : regularFileSize(path.join(tree, rel));
      if (size > settings.maxFileBytes) {
        skipped.push(
          toWireFinding(
            notAnalysedFinding(
              rel,
              `${(size / 1048576).toFixed(1)} MB is over the ${(settings.maxFileBytes / 1048576).toFixed(1)} MB size limit (livepatch.maxFileBytes)`,
              0,
              undefined,
            ),
          ),
        );
        changed.delete(rel);
      }
    }
    for (const rel of [...changed].sort()) {
      const baseText = gitAllowed()
        ? await this.analyzer.base.read(tree, baseRef, rel)
        : readSavedFile(path.join(tree, rel), settings.maxFileBytes);
      // Regular files only: a tracked file turned into a FIFO would block the server.
      const cur = open.get(rel) ?? readSavedFile(path.join(tree, rel), settings.maxFileBytes);
      if (cur === baseText) continue;
      bases.set(rel, baseText);
      diff += bufferPatch(rel, baseText, cur ?? ''); // a deleted file shows as emptied
    }
    if (!diff)
      return {
        tree,
        baseRef,
        diff: '',
        files: [],
        findings: skipped,
        notes: [
          ...notes,
          skipped.length
            ? 'only files that were not analysed changed'
            : gitAllowed()
              ? `no changes against ${baseRef}`
              : 'no unsaved changes',
        ],
      };
    const r = await analyzePatches([{ name: `working tree vs ${baseRef}`, text: diff }], {
      tree,
      parser: this.parser,
      config: settings.kernelConfig || null,
      readPreImage: (rel) => bases.get(rel) ?? null,
      maxFileBytes: settings.maxFileBytes,
      maxFileBytesName: 'livepatch.maxFileBytes',
      facts: this.facts,
    });
    return {
      tree,
      baseRef,
      diff,
      files: r.patches[0]?.files ?? [],
      notes: [...notes, ...r.notes],
      findings: [...skipped, ...r.findings.map((f) => toWireFinding(f, r.patches))],
    };
  }
}

/** Size of a regular file, 0 for anything else (missing, a FIFO, a directory). */
function regularFileSize(file: string): number {
  try {
    const st = fs.statSync(file);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}
