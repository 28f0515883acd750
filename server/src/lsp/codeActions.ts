// Quick fixes for findings whose fix is mechanical. Each fix is a function of
// the finding and the analysed file; it edits through a LineEditor so the same
// fix works on a kernel source buffer and on a patch.

import * as path from 'node:path';
import type { CodeAction, Diagnostic, WorkspaceEdit, TextEdit } from 'vscode-languageserver';
import { CodeActionKind } from 'vscode-languageserver';
import type { Finding, FunctionDef } from '../engine/model';
import type { FileChange } from '../engine/rules/rule';
import { PatchEditor, SourceEditor, type LineEditor } from './edits';
import type { DocAnalysis } from './documentAnalyzer';

export interface FixContext {
  uri: string;
  /** Document text split in lines. */
  lines: string[];
  analysis: DocAnalysis;
}

interface Fix {
  title: string;
  edits: TextEdit[];
  /** Extra files to create (path next to the document -> content). */
  create?: { uri: string; text: string };
}

type FixMaker = (f: Finding, fc: FileChange, ed: LineEditor, ctx: FixContext) => Fix | null;

function fnAt(fc: FileChange, f: Finding): FunctionDef | undefined {
  const fns = fc.post?.functions ?? [];
  return fns.find((x) => x.name === f.function && x.span.start <= f.line && f.line <= x.span.end) ?? fns.find((x) => x.name === f.function);
}

function lastIncludeLine(fc: FileChange): number | null {
  const inc = fc.post?.includes ?? [];
  return inc.length ? inc[inc.length - 1].line : null;
}

const syscallFix: FixMaker = (f, fc, ed) => {
  const fn = fnAt(fc, f);
  if (!fn) return null;
  const head = ed.line(fn.span.start);
  if (head === undefined || !/\b(?:COMPAT_)?SYSCALL_DEFINE\d/.test(head)) return null;
  if (!ed.replace(fn.span.start, head.replace(/\b(?<!KPATCH_)(SYSCALL_DEFINE\d)/, 'KPATCH_$1'))) return null;
  const hasInclude = fc.post!.includes.some((i) => /kpatch-syscall\.h/.test(i.path));
  const last = lastIncludeLine(fc);
  if (!hasInclude && last !== null) ed.insertBefore(last + 1, ['#include "kpatch-syscall.h"']);
  return { title: `Use KPATCH_SYSCALL_DEFINE for ${fn.name}`, edits: ed.edits() };
};

const jumpLabelFix: FixMaker = (f, fc, ed) => {
  const fn = fnAt(fc, f);
  if (!fn) return null;
  const re = /\b(?:static_branch_(?:likely|unlikely)|static_key_(?:true|false))\s*\(/g;
  let changed = 0;
  for (let l = fn.span.start; l <= fn.span.end; l++) {
    const text = ed.line(l);
    if (text && re.test(text)) {
      re.lastIndex = 0;
      if (ed.replace(l, text.replace(re, 'static_key_enabled('))) changed++;
    }
    re.lastIndex = 0;
  }
  return changed ? { title: `Use static_key_enabled() in ${fn.name}()`, edits: ed.edits() } : null;
};

const staticLocalFix: FixMaker = (f, fc, ed) => {
  const fn = fnAt(fc, f);
  const name = f.symbol?.replace(/^.*\s/, '');
  if (!fn || !name) return null;
  const oldFn = fc.pre?.functions.find((x) => x.name === fn.name);
  const decl = oldFn?.staticLocals.find((s) => s.name === name);
  if (!decl) return null;
  // First body line that is not a declaration: a statement may go there without -Wdeclaration-after-statement.
  const open = fn.bodySpan.start;
  let at = open + 1;
  const declRe =
    /^\s*(?:$|\/[/*]|\*|(?:static|const|volatile|struct|union|enum|unsigned|signed|int|long|short|char|bool|u8|u16|u32|u64|s8|s16|s32|s64|size_t|ssize_t|loff_t|\w+_t)\b[^;(]*[;,=])/;
  while (at < fn.bodySpan.end && declRe.test(ed.line(at) ?? '')) at++;
  const lines: string[] = [];
  const stillDeclared = fn.staticLocals.some((s) => s.name === name);
  if (!stillDeclared) lines.push(`\t${decl.decl}`);
  lines.push(`\tbarrier_data(&${name}); /* keep the reference so kpatch correlates the old '${name}' */`);
  if (!stillDeclared) {
    // The declaration goes first, then the reference after the other declarations.
    if (!ed.insertBefore(open + 1, [lines[0]])) return null;
    if (!ed.insertBefore(at, [lines[1]])) return null;
  } else if (!ed.insertBefore(at, lines)) return null;
  return { title: `Keep a reference to static local '${name}' in ${fn.name}()`, edits: ed.edits() };
};

function shadowScaffold(structName: string, member: string, memberDecl: string): string {
  const id = `KLP_SHADOW_${structName}_${member}`.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  const type =
    memberDecl
      .replace(new RegExp(`\\b${member}\\b\\s*;?\\s*$`), '')
      .replace(/;$/, '')
      .trim() || 'unsigned long';
  const s = structName;
  return `/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shadow variable for the new '${member}' of struct ${s}: live objects keep
 * their layout, the new field lives beside them. Edit to taste.
 */
#include <linux/livepatch.h>

/* Any value unique among this patch's shadow variables. */
#define ${id} 1

static int ${s}_${member}_ctor(void *obj, void *shadow_data, void *ctor_data)
{
	${type} *${member} = shadow_data;

	*${member} = 0; /* initial value for objects created before the patch */
	return 0;
}

/* The new field of @obj, allocated on first use. */
static inline ${type} *${s}_${member}(struct ${s} *obj, gfp_t gfp)
{
	return klp_shadow_get_or_alloc(obj, ${id}, sizeof(${type}), gfp,
				       ${s}_${member}_ctor, NULL);
}

/* Call on the object's free path (before the object is freed). */
static inline void ${s}_${member}_free(struct ${s} *obj)
{
	klp_shadow_free(obj, ${id}, NULL);
}
`;
}

const structLayoutFix: FixMaker = (f, fc, ed, ctx) => {
  const m = /member '(\w+)' added/.exec(f.message);
  const structName = f.symbol?.replace(/^struct\s+/, '');
  if (!m || !structName || !f.symbol?.startsWith('struct ')) return null;
  const member = m[1];
  const memberLine = ed.line(f.line);
  if (memberLine === undefined || !new RegExp(`\\b${member}\\b`).test(memberLine)) return null;
  if (!ed.remove(f.line)) return null;
  const dir = path.posix.dirname(ctx.uri);
  return {
    title: `Move '${member}' into a shadow variable (klp_shadow_get_or_alloc)`,
    edits: ed.edits(),
    create: {
      uri: `${dir}/klp-shadow-${structName}-${member}.h`.replace(/_/g, '-'),
      text: shadowScaffold(structName, member, memberLine.trim()),
    },
  };
};

const lineMacroFix: FixMaker = (f, fc, ed) => {
  // After the last line the patch adds or removes above the shifted functions,
  // restore the original numbering with a #line directive.
  const shifted = [...fc.maps.added].sort((a, b) => a - b);
  let after = -1;
  for (const l of shifted) if (l <= f.endLine) after = l;
  const fnAfter = (fc.post?.functions ?? []).find((x) => x.span.start > after && fc.postToPre(x.span.start) !== null);
  if (!fnAfter) return null;
  const target = fnAfter.span.start;
  const pre = fc.postToPre(target);
  if (pre === null || pre === target) return null;
  if (!ed.insertBefore(target, [`#line ${pre + 1}`])) return null;
  return { title: `Insert '#line ${pre + 1}' so later __LINE__ values stay as before`, edits: ed.edits() };
};

const FIXES: Record<string, FixMaker> = {
  syscall: syscallFix,
  'jump-label': jumpLabelFix,
  'static-local-removed': staticLocalFix,
  'struct-layout': structLayoutFix,
  'line-macro': lineMacroFix,
};

export function quickFixes(ctx: FixContext, diagnostics: Diagnostic[]): CodeAction[] {
  const a = ctx.analysis;
  if (!a.result) return [];
  const out: CodeAction[] = [];
  for (const d of diagnostics) {
    const idx = (d.data as { finding?: number } | undefined)?.finding;
    if (idx === undefined) continue;
    const f = a.findings[idx];
    const maker = f && FIXES[f.rule];
    if (!maker) continue;
    const fc = a.result.changes[f.patchIndex ?? 0]?.find((c) => c.path === f.file);
    if (!fc || !fc.post) continue;
    const ed: LineEditor = a.kind === 'patch' ? new PatchEditor(ctx.lines, fc) : new SourceEditor(ctx.lines);
    const fix = maker(f, fc, ed, ctx);
    if (!fix || !fix.edits.length) continue;
    const edit: WorkspaceEdit = fix.create
      ? {
          documentChanges: [
            { textDocument: { uri: ctx.uri, version: null }, edits: fix.edits },
            { kind: 'create', uri: fix.create.uri, options: { ignoreIfExists: true } },
            {
              textDocument: { uri: fix.create.uri, version: null },
              edits: [{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, newText: fix.create.text }],
            },
          ],
        }
      : { changes: { [ctx.uri]: fix.edits } };
    out.push({ title: fix.title, kind: CodeActionKind.QuickFix, diagnostics: [d], isPreferred: true, edit });
  }
  return out;
}
