// The analysis driver: patches in, findings out. Reads and validates every
// patch before touching the tree, rebuilds pre/post images, indexes and pairs
// definitions, then runs each rule and maps findings back to patch lines.

import type { Finding, FileIndex } from './model';
import { readPatch, PatchError, type ParsedPatch } from './diff/readPatch';
import { buildImages, hunkOnlyImages, type Images } from './diff/images';
import { createParser, ParseTimeout, type Backend, type CParser } from './parse/parser';
import { fromStoredIndex, indexSource, indexTree } from './index/indexer';
import { IndexStoreMiss, type IndexStore, type StoredFile } from './index/indexStore';
import { indexPostBySlice, rootItems } from './parse/slice';
import { deferredParser } from './parse/deferredParser';
import { blank } from './parse/blank';
import { DocumentTrees } from './parse/documentTrees';
import { IndexPool, type IndexJob } from './parse/indexPool';
import { pairFile } from './compare/pair';
import { KernelTree } from './tree/kernelTree';
import type { FileChange, Rule, RuleContext } from './rules/rule';
import { allRules } from './rules';
import { notAnalysedFinding } from './notAnalysed';
import { describeFacts, type TargetFacts } from './target/facts';
import { applyExpanded, type ExpandedView } from './expand/expanded';
import * as timings from './util/timings';

export interface PatchInput {
  name: string;
  text: string | Buffer;
}

export interface AnalyzeOptions {
  /** Kernel tree directory; null/undefined: hunk-only analysis. */
  tree?: string | null;
  /** Kernel .config for module decisions (default: the tree's .config). */
  config?: string | null;
  /** What the target kernel shows: its symbols, exports and config. Rules turn hedges into certainties with them. */
  facts?: TargetFacts | null;
  parser?: CParser;
  backend?: Backend;
  rules?: Rule[];
  /** Changed files bigger than this are not analysed: a `not-analysed` error says so (tree files a rule reads: a note). */
  maxFileBytes?: number;
  /** Where the user sets maxFileBytes (`--max-file-size`, `livepatch.maxFileBytes`), named in the message. */
  maxFileBytesName?: string;
  /** More hunks than this in one run are refused (PatchError): bounded time and memory. */
  maxHunks?: number;
  /** At most this many findings are kept (errors first); a note says how many were dropped. */
  maxFindings?: number;
  /** Reads a pre-image instead of the tree's working copy (the server reads the base ref with git). */
  readPreImage?: (path: string) => string | null;
  /** Indexes a text; lets the server reuse cached, incrementally parsed trees. */
  indexFile?: (path: string, text: string, image: 'pre' | 'post' | 'tree') => FileIndex;
  /** Parse trees kept between calls, so re-analysing an edited patch reparses incrementally. */
  trees?: DocumentTrees;
  /**
   * The preprocessor's view of a file's text (engine/expand), when one is at hand: it corrects
   * the attributes macros hide and finds what token pasting defines. Null: the raw view only.
   */
  expanded?: (path: string, text: string) => ExpandedView | null;
  /**
   * Start working out the tree's on-disk cache key (git, in another process) at once, so it
   * is ready when a rule asks. For one-shot runs (the CLI); an editor's analyses would start
   * git on every keystroke whether a rule needs the key or not.
   */
  prepareTreeCache?: boolean;
  /**
   * Share the indexing of a big run's changed files with a worker thread (IndexPool). For
   * one-shot runs (the CLI): the findings are the same, only the time differs.
   */
  parallel?: boolean;
  /**
   * Indexes of tree files kept between runs (the CLI): a stored pre-image is not parsed
   * again, and its post-image is parsed only where the patch changed it.
   */
  indexStore?: IndexStore | null;
  /** Polled between files and rules; when it returns true the analysis stops with AnalysisCancelled. */
  isCancelled?: () => boolean;
}

/** Thrown when AnalyzeOptions.isCancelled() turned true. */
export class AnalysisCancelled extends Error {
  constructor() {
    super('analysis cancelled');
  }
}

export interface AnalysisResult {
  tree: string | null;
  patches: { name: string; files: string[] }[];
  findings: Finding[];
  /** Things the user should know about the analysis itself (missing tree, skipped rules, fuzz). */
  notes: string[];
  /** Per patch, the analysed files (indexes, pairing, line maps); quick fixes build on them. */
  changes: FileChange[][];
}

const C_FILE = /\.[ch]$/;
/** The size limit of a changed file, in bytes: the same default as the server's livepatch.maxFileBytes. */
export const DEFAULT_MAX_FILE_BYTES = 4 * 1024 * 1024;
/** Hunks per run: 100 000 hunks without a tree once took 28 s and 784 MB. */
export const DEFAULT_MAX_HUNKS = 10_000;
export const DEFAULT_MAX_FINDINGS = 10_000;

const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MB`;

export async function analyzePatches(inputs: PatchInput[], opts: AnalyzeOptions = {}): Promise<AnalysisResult> {
  // The server brings its own caches of parse trees and indexes.
  const store = opts.indexFile || opts.trees ? null : (opts.indexStore ?? null);
  // The wasm parser compiles in the background (V8 compiles wasm off the main thread)
  // while the patches are read and the tree is opened. With an index store, not before the
  // store has been asked: a run it answers whole never needs the parser.
  let parserReady: Promise<CParser> | null = opts.parser ? Promise.resolve(opts.parser) : null;
  const startParser = (): Promise<CParser> => {
    if (!parserReady) {
      parserReady = createParser(opts.backend ?? 'wasm');
      parserReady.catch(() => {}); // awaited below; a patch error first must not leave it unhandled
    }
    return parserReady;
  };
  if (!store) startParser();
  // 1. Read every patch and check every path before reading the tree.
  const parsed: ParsedPatch[] = timings.timed('read patches', () => inputs.map((i) => readPatch(i.text, i.name)));
  const maxHunks = opts.maxHunks ?? DEFAULT_MAX_HUNKS;
  const hunks = parsed.reduce((n, p) => n + p.files.reduce((m, f) => m + f.hunks.length, 0), 0);
  if (hunks > maxHunks) {
    throw new PatchError(`${hunks} hunks in one run is over the limit of ${maxHunks}: check the patches in smaller groups`);
  }
  const tree = opts.tree ? KernelTree.open(opts.tree, opts.config ?? null) : null;
  if (opts.prepareTreeCache) tree?.startCacheKey();
  for (const p of parsed) {
    for (const f of p.files) {
      if (f.oldPath) tree?.check(f.oldPath);
      if (f.newPath) tree?.check(f.newPath);
    }
  }
  const maxFile = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  // Every changed file's images first (tree reads, hunk placement): with them known, a big
  // run's indexing can be shared with a worker thread (IndexPool, the CLI only).
  const prepared: PreparedFile[][] = parsed.map((patch) =>
    patch.files.map((fp): PreparedFile => {
      const path = (fp.newPath ?? fp.oldPath)!;
      const isC = C_FILE.test(path);
      let images: Images;
      let fuzzNote: string | null = null;
      if (tree) {
        const preText = fp.oldPath ? (opts.readPreImage ? opts.readPreImage(fp.oldPath) : tree.readFile(fp.oldPath)) : null;
        if (fp.oldPath && preText === null) throw new PatchError(`${patch.name}: ${fp.oldPath} does not exist in the tree ${tree.root}`);
        images = timings.timed('images', () => buildImages(fp, preText));
        if (images.fuzz > 0) fuzzNote = `${patch.name}: ${path}: applied with fuzz ${images.fuzz} (context lines ignored)`;
      } else {
        images = hunkOnlyImages(fp);
      }
      // A changed file the engine cannot index is an error, never a silent pass.
      let skipped: string | null = null;
      const size = isC ? Math.max(utf8Bytes(images.pre, maxFile), utf8Bytes(images.post, maxFile)) : 0;
      if (size > maxFile) {
        skipped = `${mb(size)} is over the ${mb(maxFile)} size limit${opts.maxFileBytesName ? ` (${opts.maxFileBytesName})` : ''}`;
      }
      // Both images indexed together, the post-image reparsing the pre-image's tree.
      const paired = isC && !skipped && (opts.trees || !opts.indexFile) && images.pre !== null && images.post !== null;
      const stored = paired && store ? store.get(fp.oldPath ?? path, images.pre!) : null;
      // The post-image too, when the pre-image was there: the same patch checked again.
      const storedPost = stored ? store!.get(path, images.post!) : null;
      // A file the store cannot answer: the parser will be needed, start it now.
      if (isC && !skipped && !storedPost) startParser();
      return { fp, path, isC, images, fuzzNote, skipped, paired, stored, storedPost, job: -1 };
    }),
  );
  // Only a run whose every changed C file is stored both ways may go without the parser.
  if (parserReady) return analyzeWith(await waitForParser(parserReady));
  const deferred = deferredParser();
  try {
    const result = await analyzeWith(deferred.parser);
    if (!deferred.used) return result;
  } catch (err) {
    // A rule that wanted to parse (its error may even have been caught): run again, parsing.
    if (!deferred.used) throw err;
  }
  return analyzeWith(await waitForParser(startParser()));

  async function analyzeWith(parser: CParser): Promise<AnalysisResult> {
    const rules = opts.rules ?? allRules;
    // Rules that may wait for the tree cache's key (git diff-files, started at launch) run
    // last, so git finishes while the others run; findings are put back in rule order below.
    const ruleOrder = [...rules.filter((r) => !r.readsTreeCache), ...rules.filter((r) => r.readsTreeCache)];
    const ruleRank = new Map(rules.map((r, i) => [r.id, i]));
    const notes: string[] = [];
    const facts = opts.facts ?? null;
    const skipRule = (r: Rule): boolean => !!r.needsTree && !tree && !(facts && r.runsOnFacts?.(facts));
    if (!tree) {
      notes.push(
        'no kernel tree given (--tree): hunk-only analysis; rules that need the tree were skipped: ' +
          rules
            .filter(skipRule)
            .map((r) => r.id)
            .join(', '),
      );
    }
    if (facts) notes.push(describeFacts(facts));

    const treeCache = new Map<string, FileIndex | null>();
    /** A tree file's index and top-level items: from the store, or parsed now and kept in it. */
    const storedOrIndexed = (path: string, text: string): StoredFile => {
      const hit = store!.get(path, text);
      if (hit) return hit;
      const blanked = timings.timed('blank', () => blank(text));
      const tree = parser.parseRaw(blanked);
      try {
        const index = timings.timed('index', () => indexTree(tree.rootNode, path, text));
        const items = rootItems(tree.rootNode);
        store!.put(path, text, index, items, blanked);
        return { index, items, blanked };
      } finally {
        tree.delete();
      }
    };
    const checkCancelled = () => {
      if (opts.isCancelled?.()) throw new AnalysisCancelled();
    };
    const indexText = (path: string, text: string | null, image: 'pre' | 'post' | 'tree' = 'tree'): FileIndex | null => {
      if (text === null) return null;
      if (text.length > maxFile) {
        notes.push(`${path}: ${mb(text.length)} is over the ${mb(maxFile)} limit; not analysed`);
        return null;
      }
      checkCancelled();
      if (opts.indexFile) return opts.indexFile(path, text, image);
      if (store) return storedOrIndexed(path, text).index;
      return indexSource(parser, path, text);
    };

    const findings: Finding[] = [];
    const changes: FileChange[][] = [];
    const expandedViews = new Map<string, { pre: ExpandedView | null; post: ExpandedView | null }>();
    const jobs: IndexJob[] = [];
    if (opts.parallel && !opts.trees && !opts.indexFile) {
      for (const f of prepared.flat()) {
        // A stored pre-image leaves little to share: only the changed items are parsed.
        if (!f.paired || f.stored) continue;
        f.job = jobs.length;
        jobs.push({ prePath: f.fp.oldPath ?? f.path, postPath: f.path, pre: f.images.pre!, post: f.images.post! });
      }
    }
    const pool = jobs.length ? IndexPool.start(jobs) : null;
    // The worker must stop whatever happens (it would keep the process up).
    try {
      let first = true;
      for (let pi = 0; pi < parsed.length; pi++) {
        const files: FileChange[] = [];
        for (const { fp, path, isC, images, fuzzNote, skipped: tooBig, paired, stored, storedPost, job } of prepared[pi]) {
          // Let an editor's next keystroke in (and cancel us) between files. Not before the
          // first: the caller's queue has just given the event loop its turn.
          if (opts.isCancelled && !first) await yieldToEventLoop();
          first = false;
          checkCancelled();
          if (fuzzNote) notes.push(fuzzNote);
          let skipped = tooBig;
          let auxLost = false;
          let pre: FileIndex | null = null;
          let post: FileIndex | null = null;
          const trees = opts.trees ?? new DocumentTrees(parser, 1);
          const key = `image:${fp.oldPath ?? path}`;
          // Indexed by the pool's worker (null: it failed, and the file is indexed here after all).
          const fromWorker =
            pool && job >= 0 && !pool.claim(job) ? await timings.timedAsync('wait for index worker', () => pool.result(job)) : null;
          try {
            if (skipped) {
              // Not indexed at all: reading a file this big is what the limit prevents.
            } else if (fromWorker) {
              if ('timeout' in fromWorker) skipped = fromWorker.timeout;
              else {
                pre = fromStoredIndex(fromWorker.pre, fp.oldPath ?? path, images.pre!);
                post = fromStoredIndex(fromWorker.post, path, images.post!);
                store?.put(fp.oldPath ?? path, images.pre!, pre, fromWorker.items);
                store?.put(path, images.post!, post, fromWorker.postItems);
              }
            } else if (paired) {
              checkCancelled();
              if (stored && storedPost) {
                // The same file patched the same way before: nothing to parse.
                pre = stored.index;
                post = storedPost.index;
              } else if (stored) {
                // The pre-image's index from an earlier run: parse the post-image only where the hunks are.
                pre = stored.index;
                let sliced: StoredFile | null = null;
                try {
                  sliced = indexPostBySlice(parser, path, stored, images.post!);
                } catch (err) {
                  // The stored pre-image lost its items: parse both images below, and store both again.
                  if (!(err instanceof IndexStoreMiss)) throw err;
                  auxLost = true;
                }
                if (sliced && sliced !== stored) store!.put(path, images.post!, sliced.index, sliced.items, sliced.blanked);
                post = sliced?.index ?? null;
              }
              if (!post) {
                // The post-image is the pre-image plus the hunks: reparse and re-index
                // only what the hunks touched instead of parsing the whole file twice.
                // With a shared cache (the server), going back to the pre-image on the
                // next validation is incremental too.
                // The store keeps each image with the tree it was just parsed into.
                const keep = (p: string, text: string, index: FileIndex) => {
                  const { tree, blanked } = trees.entry(key)!;
                  store!.put(p, text, index, rootItems(tree.rootNode), blanked);
                };
                pre = trees.index(key, fp.oldPath ?? path, images.pre!);
                if (store && (!stored || auxLost)) keep(fp.oldPath ?? path, images.pre!, pre);
                post = trees.index(key, path, images.post!);
                if (store) keep(path, images.post!, post);
                if (!opts.trees) trees.drop(key);
              }
            } else if (isC) {
              pre = indexText(fp.oldPath ?? path, images.pre, 'pre');
              post = indexText(path, images.post, 'post');
            }
          } catch (err) {
            if (!(err instanceof ParseTimeout)) throw err;
            trees.drop(key);
            skipped = err.message;
            pre = post = null;
          }
          if (skipped) findings.push(notAnalysedFinding(path, skipped, pi, fp.headerLine));
          if (opts.expanded && isC && !skipped) {
            // Either image's view stands in for a missing other: the macros that hide attributes rarely change.
            const vPre = pre && images.pre !== null ? opts.expanded(fp.oldPath ?? path, images.pre) : null;
            const vPost = post && images.post !== null ? opts.expanded(path, images.post) : null;
            if (pre && (vPre ?? vPost)) pre = applyExpanded(pre, (vPre ?? vPost)!);
            if (post && (vPost ?? vPre)) post = applyExpanded(post, (vPost ?? vPre)!);
            expandedViews.set(path, { pre: vPre, post: vPost });
          }
          files.push(timings.timed('pair', () => makeFileChange(path, fp, isC, pre, post, images)));
        }
        changes.push(files);
        const ctx: RuleContext = {
          files,
          tree,
          parser,
          facts,
          indexTreeFile(path) {
            if (!tree) return null;
            if (!treeCache.has(path)) {
              let idx: FileIndex | null = null;
              try {
                idx = indexText(path, tree.readFile(path));
              } catch {
                idx = null;
              }
              treeCache.set(path, idx);
            }
            return treeCache.get(path)!;
          },
          report: () => {},
          kept: (kind, input, compute) => (store ? store.kept(kind, input, compute) : compute()),
        };
        // Absent, not a function that returns null, without a preprocessor: the rules skip the
        // tree searches that only a view could complete (200-300 ms on a common callee).
        const expanded = opts.expanded;
        if (expanded) {
          ctx.expandedView = (path, image) => {
            const v = expandedViews.get(path);
            if (v) return image === 'pre' ? v.pre : v.post;
            const text = tree?.readFile(path) ?? null;
            return text === null ? null : expanded(path, text);
          };
        }
        if (tree && opts.prepareTreeCache) {
          // The tree state the rules will ask about on these files: its git diff-files start now.
          const scopes = new Set(ruleOrder.flatMap((r) => (skipRule(r) ? [] : (r.treeScopes?.(files) ?? []))));
          tree.prefetchCacheKey([...scopes]);
        }
        for (const rule of ruleOrder) {
          if (skipRule(rule)) continue;
          checkCancelled();
          ctx.report = (f) => {
            const finding: Finding = {
              rule: rule.id,
              severity: f.severity ?? rule.severity,
              file: f.file,
              line: f.line,
              endLine: f.endLine ?? f.line,
              image: f.image ?? 'post',
              function: f.function ?? null,
              symbol: f.symbol ?? null,
              message: f.message,
              related: f.related ?? [],
              patchIndex: pi,
            };
            finding.patchLine = patchLineOf(finding, files);
            findings.push(finding);
          };
          timings.timed(`rule ${rule.id}`, () => rule.check(ctx));
        }
      }
      // As if the rules had run in their listed order (which finding of a duplicate is kept, which are cut below).
      findings.sort((a, b) => (a.patchIndex ?? 0) - (b.patchIndex ?? 0) || (ruleRank.get(a.rule) ?? -1) - (ruleRank.get(b.rule) ?? -1));
      let kept = dedupe(findings);
      const maxFindings = opts.maxFindings ?? DEFAULT_MAX_FINDINGS;
      if (kept.length > maxFindings) {
        // Keep the most severe: a dropped error must not turn the verdict into a pass.
        const dropped = kept.length - maxFindings;
        kept = kept.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]).slice(0, maxFindings);
        notes.push(`${dropped} more finding(s) were dropped: at most ${maxFindings} are reported, the most severe first`);
      }
      return {
        tree: tree?.root ?? null,
        patches: parsed.map((p) => ({ name: p.name, files: p.files.map((f) => (f.newPath ?? f.oldPath)!) })),
        findings: kept.sort(compareFindings),
        notes: [...new Set(notes)],
        changes,
      };
    } finally {
      pool?.close();
    }
  }
}

/** A changed file with its images, before indexing. */
interface PreparedFile {
  fp: FileChange['patch'];
  path: string;
  isC: boolean;
  images: Images;
  fuzzNote: string | null;
  /** Why it is not indexed at all (its size), or null. */
  skipped: string | null;
  /** Pre- and post-image indexed together. */
  paired: boolean;
  /** The pre-image's index kept by an earlier run (AnalyzeOptions.indexStore), or null. */
  stored: StoredFile | null;
  /** The post-image's, looked up only when the pre-image's was there. */
  storedPost: StoredFile | null;
  /** Its IndexPool job, or -1. */
  job: number;
}

/**
 * The UTF-8 size of `text`, or its UTF-16 length when even three bytes a unit would stay
 * within `limit` (the editor checks its buffer on every keystroke; counting is a scan).
 */
function utf8Bytes(text: string | null, limit: number): number {
  if (text === null) return 0;
  return text.length * 3 <= limit ? text.length : Buffer.byteLength(text, 'utf8');
}

async function waitForParser(ready: Promise<CParser>): Promise<CParser> {
  timings.start('wait for wasm');
  try {
    return await ready;
  } finally {
    timings.end('wait for wasm');
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function makeFileChange(
  path: string,
  fp: FileChange['patch'],
  isC: boolean,
  pre: FileIndex | null,
  post: FileIndex | null,
  images: Images,
): FileChange {
  // Built on first use (a quick fix asks; no rule does): this runs on every keystroke.
  let postToPre: (number | null)[] | null = null;
  return {
    path,
    patch: fp,
    isC,
    pre,
    post,
    pairing: pairFile(pre, post),
    maps: images.maps,
    postToPre: (line) => (postToPre ??= postToPreTable(images))[line] ?? null,
  };
}

/** The pre-image line of each post-image line; null for an added line. */
function postToPreTable(images: Images): (number | null)[] {
  const postToPre: (number | null)[] = [];
  let p = 0;
  let q = 0;
  for (const pl of images.maps.placements) {
    while (p < pl.preStart) postToPre[q++] = p++;
    for (const l of pl.hunk.lines) {
      if (l.op === ' ') postToPre[q++] = p++;
      else if (l.op === '-') p++;
      else postToPre[q++] = null;
    }
  }
  // Lines of the post-image, counted without splitting it.
  let postLen = 0;
  if (images.post) {
    postLen = 1;
    for (let i = images.post.indexOf('\n'); i !== -1; i = images.post.indexOf('\n', i + 1)) postLen++;
  }
  while (q < postLen) postToPre[q++] = p++;
  return postToPre;
}

/** The patch line a finding belongs on: its own line if the patch shows it, else the nearest hunk line inside its range, else the file header. */
function patchLineOf(f: Finding, files: FileChange[]): number | undefined {
  const fc = files.find((x) => x.path === f.file);
  if (!fc) return undefined;
  const map = f.image === 'pre' ? fc.maps.preToPatch : fc.maps.postToPatch;
  const changed = f.image === 'pre' ? fc.maps.removed : fc.maps.added;
  // Prefer a changed line in the range, then any shown line, then the nearest hunk header.
  for (let l = f.line; l <= f.endLine; l++) if (changed.has(l) && map.has(l)) return map.get(l);
  for (let l = f.line; l <= f.endLine; l++) if (map.has(l)) return map.get(l);
  let best: number | undefined;
  let bestDist = Infinity;
  for (const pl of fc.maps.placements) {
    const start = f.image === 'pre' ? pl.preStart : pl.postStart;
    const d = Math.abs(start - f.line);
    if (d < bestDist) {
      bestDist = d;
      best = pl.hunk.patchLine;
    }
  }
  return best ?? fc.patch.headerLine;
}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    const k = `${f.patchIndex}|${f.rule}|${f.file}|${f.line}|${f.symbol}|${f.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const SEVERITY_ORDER = { error: 0, warning: 1, info: 2 } as const;

function compareFindings(a: Finding, b: Finding): number {
  return (
    (a.patchIndex ?? 0) - (b.patchIndex ?? 0) ||
    (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
    a.line - b.line ||
    SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
    (a.rule < b.rule ? -1 : a.rule > b.rule ? 1 : 0)
  );
}

export { PatchError };
