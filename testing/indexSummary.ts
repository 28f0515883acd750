// What an index says, as plain data for deepEqual, and the kinds of edit the incremental
// indexers are checked against (engine/parse/documentTrees.test.ts, slice.test.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FileIndex } from '../server/src/engine/model';

export const demo = fs.readFileSync(path.join(__dirname, '..', 'examples', 'demo', 'tree', 'fs', 'proc', 'procstats.c'), 'utf8');

export function summary(ix: FileIndex) {
  return {
    functions: ix.functions.map((f) => ({
      name: f.name,
      attrs: f.attributes,
      storage: f.storage,
      inline: f.inline,
      sig: f.signature,
      span: f.span,
      body: f.bodySpan,
      norm: f.normBody,
      calls: f.calls,
      statics: f.staticLocals,
      lines: f.lineMacroUses,
      identifiers: [...f.identifiers],
    })),
    types: ix.types.map((t) => ({ name: t.name, span: t.span, members: t.members })),
    variables: ix.variables.map((v) => ({ name: v.name, span: v.span, init: v.init, attrs: v.attributes })),
    macros: ix.macros.map((m) => ({ name: m.name, span: m.span, body: m.body })),
    initTargets: [...ix.initTargets],
    escapeHatches: [...ix.escapeHatches],
    exports: ix.exports,
    includes: ix.includes,
    opaqueLines: ix.opaqueLines,
    lines: ix.lines,
    text: ix.text,
  };
}

/** Reads every lazily computed body fact, as the rules do for the functions they look at. */
export function touchAll(ix: FileIndex): void {
  for (const f of ix.functions) void [f.calls, f.normBody];
}

export const edits: [string, (t: string) => string][] = [
  ['change a statement inside a function', (t) => t.replace('s->nr_blocked = nr_iowait();', 's->nr_blocked = nr_iowait() + 1;')],
  [
    'insert lines above later functions',
    (t) => t.replace('static void procstats_fill', '/* new\n * comment */\nstatic void procstats_fill'),
  ],
  ['add a whole function', (t) => t.replace('static int __init', 'static int extra(void)\n{\n\treturn 2;\n}\n\nstatic int __init')],
  ['turn __init into __exit (invisible to the blanked parse)', (t) => t.replace('static int __init', 'static int __exit')],
  ['open a brace that swallows what follows', (t) => t.replace('procstats_fill(&s);', 'procstats_fill(&s); {')],
  ['delete a function', (t) => t.replace(/static void procstats_fill[\s\S]*?\n}\n/, '')],
  ['rename a global', (t) => t.replace('procstats_limit = 128', 'procstats_max = 128')],
  [
    'add an export, an include and an escape hatch',
    (t) =>
      t.replace(
        'static int __init',
        'EXPORT_SYMBOL_GPL(procstats_fill);\n#include <linux/x.h>\nKPATCH_IGNORE_FUNCTION(procstats_fill);\nstatic int __init',
      ),
  ],
  ['remove an include', (t) => t.replace('#include <linux/seq_file.h>\n', '')],
  ['join two lines', (t) => t.replace(';\n', '; ')],
];

/** Everything an index holds, body facts computed, as plain data (stricter than summary()). */
export function plain(ix: FileIndex) {
  return {
    ...ix,
    // A function's body facts are getters on its prototype, which a spread does not copy.
    functions: ix.functions.map((f) => ({
      ...f,
      normBody: f.normBody,
      staticLocals: f.staticLocals,
      calls: f.calls,
      lineMacroUses: f.lineMacroUses,
      identifiers: [...f.identifiers].sort(),
    })),
    initTargets: [...ix.initTargets],
    escapeHatches: [...ix.escapeHatches],
  };
}
