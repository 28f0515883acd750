// Reads unified diffs (plain, `git diff`, `git format-patch` mails, kpatch's
// `diff -Nupr src.orig/ src/`). jsdiff parses the hunks and git's extended
// headers; this module adds what the engine needs on top: tree-relative paths
// that are proven not to escape the tree, the patch line of every hunk line,
// and clear errors for binary or malformed input.

import { parsePatch } from 'diff';

/** Bad input: the CLI exits 2 with this message. */
export class PatchError extends Error {}

export type FileStatus = 'modified' | 'added' | 'deleted' | 'renamed' | 'copied';

export interface HunkLine {
  /** ' ', '+' or '-'. */
  op: ' ' | '+' | '-';
  text: string;
  /** 0-based line of this line in the patch text. */
  patchLine: number;
}

export interface Hunk {
  /** As the header says: for a count of 0, the line the hunk follows (0: the top of the file). */
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** 0-based patch line of the `@@` header. */
  patchLine: number;
  /** Function context git printed after the `@@`, if any. */
  section: string;
  lines: HunkLine[];
}

export interface FilePatch {
  /** Tree-relative path before the change; null for new files. */
  oldPath: string | null;
  /** Tree-relative path after the change; null for deleted files. */
  newPath: string | null;
  status: FileStatus;
  hunks: Hunk[];
  /** 0-based patch line where this file's header starts. */
  headerLine: number;
}

export interface ParsedPatch {
  name: string;
  text: string;
  files: FilePatch[];
}

const MAX_PATCH_BYTES = 64 * 1024 * 1024;
/** Highest line a hunk may reach; the biggest kernel sources (generated register headers) have a few 100k lines. */
const MAX_LINES = 2_000_000;

/**
 * Strips the first path component (`a/`, `b/`, `src.orig/`...), as `patch -p1`
 * does, and refuses anything that could leave the tree.
 */
export function treePath(raw: string | undefined, what: string): string | null {
  if (raw === undefined) throw new PatchError(`${what}: missing file name`);
  let p = raw.trim();
  // "--- a/x.c\t2024-01-01 ..." : jsdiff keeps the name before the tab; quoted git names too.
  if (p.startsWith('"') && p.endsWith('"')) p = p.slice(1, -1);
  if (p === '/dev/null') return null;
  if (p.includes('\0')) throw new PatchError(`${what}: file name contains a NUL byte`);
  if (p.startsWith('/')) throw new PatchError(`${what}: absolute path '${p}' escapes the tree`);
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length > 1) parts.shift();
  if (parts.includes('..')) throw new PatchError(`${what}: path '${p}' escapes the tree`);
  if (!parts.length) throw new PatchError(`${what}: empty file name`);
  return parts.join('/');
}

/**
 * `git format-patch` ends a mail with "-- " and the git version; jsdiff would
 * read that line as a removed line of the last hunk. Cut the signature when
 * nothing diff-like follows it.
 */
function stripMailSignature(text: string): string {
  // Linear: find the last diff-like line, then the first "-- " line after it
  // (a lookahead from every "-- " line to the end is quadratic in their number).
  const diffLike = /^(?:@@ |diff |--- |\+\+\+ )/gm;
  let last = -1;
  for (let d = diffLike.exec(text); d; d = diffLike.exec(text)) last = d.index;
  const sig = /^-- \n/gm;
  sig.lastIndex = last + 1;
  const m = sig.exec(text);
  return m ? text.slice(0, m.index) : text;
}

export function readPatch(input: string | Buffer, name: string): ParsedPatch {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  if (buf.length > MAX_PATCH_BYTES) {
    throw new PatchError(`${name}: patch is ${(buf.length / 1048576).toFixed(1)} MB; the limit is ${MAX_PATCH_BYTES / 1048576} MB`);
  }
  if (buf.includes(0)) throw new PatchError(`${name}: binary data (NUL byte) in the patch`);
  let text = buf.toString('utf8');
  if (text.includes('\uFFFD') && !Buffer.from(text, 'utf8').equals(buf)) {
    throw new PatchError(`${name}: the patch is not valid UTF-8 text`);
  }
  // CRLF patches (mailers, Windows editors): normalise once, line numbers are unchanged.
  if (text.includes('\r\n')) text = text.replace(/\r\n/g, '\n');
  if (/^GIT binary patch$/m.test(text)) throw new PatchError(`${name}: binary patch (GIT binary patch) is not supported`);
  text = stripMailSignature(text);

  let structured;
  try {
    structured = parsePatch(text);
  } catch (err) {
    throw new PatchError(`${name}: malformed patch: ${(err as Error).message}`);
  }
  const lines = text.split('\n');
  const hunkHeaders: number[] = [];
  const fileHeaders: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('@@ -')) hunkHeaders.push(i);
    else if (
      lines[i].startsWith('diff ') ||
      (lines[i].startsWith('--- ') && !lines[i - 1]?.startsWith('diff ') && lines[i + 1]?.startsWith('+++ '))
    ) {
      fileHeaders.push(i);
    }
  }
  let h = 0;
  const files: FilePatch[] = [];
  structured.forEach((sp, fi) => {
    if (sp.isBinary) throw new PatchError(`${name}: binary change to ${sp.newFileName ?? sp.oldFileName} is not supported`);
    if (!sp.hunks.length && !sp.isRename && !sp.isCopy && !sp.isCreate && !sp.isDelete && !sp.oldMode && !sp.newMode) {
      // jsdiff returns one empty entry for text without any diff: not a patch.
      // A header that changes nothing (no hunks, no rename, mode or creation)
      // is no change either; analysing it would only cost time (thousands of
      // repeated `diff --git` lines would each be indexed and checked). Its
      // names must still stay inside the tree.
      if (sp.oldFileName !== undefined) treePath(sp.oldFileName, name);
      if (sp.newFileName !== undefined) treePath(sp.newFileName, name);
      return;
    }
    let oldPath = treePath(sp.oldFileName, name);
    let newPath = treePath(sp.newFileName, name);
    let status: FileStatus = 'modified';
    if (sp.isCreate || oldPath === null) status = 'added';
    else if (sp.isDelete || newPath === null) status = 'deleted';
    else if (sp.isRename) status = 'renamed';
    else if (sp.isCopy) status = 'copied';
    if (status === 'added') oldPath = null;
    if (status === 'deleted') newPath = null;
    if (oldPath === null && newPath === null) {
      // `--- /dev/null` and `+++ /dev/null` (or a new file whose new name is /dev/null) names no file.
      throw new PatchError(`${name}:${(fileHeaders[fi] ?? 0) + 1}: file diff names no file (/dev/null on both sides)`);
    }
    const hunks: Hunk[] = sp.hunks.map((hk) => {
      const header = hunkHeaders[h++];
      if (header === undefined) throw new PatchError(`${name}: could not locate hunk ${h} in the patch text`);
      // Hunk-only analysis lays lines out at their own line numbers: a header
      // like `@@ -4294967296,1 ...` would allocate billions of lines.
      if (
        ![hk.oldStart, hk.oldLines, hk.newStart, hk.newLines].every((n) => Number.isSafeInteger(n) && n >= 0) ||
        hk.oldStart + hk.oldLines > MAX_LINES ||
        hk.newStart + hk.newLines > MAX_LINES
      ) {
        throw new PatchError(
          `${name}:${header + 1}: malformed hunk: line numbers in '${lines[header].slice(0, 80)}' are out of range (max ${MAX_LINES})`,
        );
      }
      const section = /^@@ [^@]*@@ ?(.*)$/.exec(lines[header])?.[1] ?? '';
      // The header's own start lines: jsdiff adds 1 to a start whose count is 0, but `@@ -5,0 +6,2 @@`
      // (git diff -U0) inserts after line 5, and `@@ -0,0 +1 @@` at the top of the file.
      const starts = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(lines[header]);
      const oldStart = starts ? Number(starts[1]) : hk.oldStart;
      const newStart = starts ? Number(starts[2]) : hk.newStart;
      const out: HunkLine[] = [];
      let at = header + 1;
      let oldCount = 0;
      let newCount = 0;
      for (const l of hk.lines) {
        const op = l[0];
        if (op === '\\') {
          at++;
          continue;
        }
        if (op !== ' ' && op !== '+' && op !== '-') {
          throw new PatchError(`${name}:${at + 1}: malformed hunk line`);
        }
        if (op !== '+') oldCount++;
        if (op !== '-') newCount++;
        out.push({ op, text: l.slice(1), patchLine: at });
        at++;
      }
      if (oldCount !== hk.oldLines || newCount !== hk.newLines) {
        throw new PatchError(
          `${name}:${header + 1}: malformed hunk: header says -${hk.oldLines} +${hk.newLines}, body has -${oldCount} +${newCount}`,
        );
      }
      return {
        oldStart,
        oldLines: hk.oldLines,
        newStart,
        newLines: hk.newLines,
        patchLine: header,
        section,
        lines: out,
      };
    });
    files.push({ oldPath, newPath, status, hunks, headerLine: fileHeaders[fi] ?? hunks[0]?.patchLine ?? 0 });
  });
  if (!files.length) throw new PatchError(`${name}: no diff found in the input`);
  return { name, text, files };
}
