// printk-cold: printk() and the pr_*/dev_*/netdev_* printers are declared
// __cold. gcc then treats a path that calls one as unlikely, and may move it
// (or the whole function) to .text.unlikely or stop inlining its callees, so
// kpatch-build reports functions nobody edited, or fails on a changed section.
// KPATCH_PRINTK() puts the call on its own `if (jiffies)` path.

import type { CallSite, FunctionDef } from '../model';
import { children, type SyntaxNode } from '../parse/parser';
import type { FileChange, Rule, RuleContext } from './rule';
import { changedFunctions, isIgnoredFunction } from './lib/changedFunctions';
import { describeFunction, listNames } from './lib/wording';
import { normalizeC } from '../util/text';

/** Cold printers (pr_debug/dev_dbg are dynamic debug and not __cold). */
export const COLD_PRINTERS =
  /^(?:_?printk(?:_deferred|_once|_ratelimited)?|pr_(?:emerg|alert|crit|err|warn|warning|notice|info|cont)(?:_once|_ratelimited)?|dev_(?:emerg|alert|crit|err|warn|notice|info|printk)(?:_once|_ratelimited)?|netdev_(?:emerg|alert|crit|err|warn|notice|info|printk)(?:_once)?|dump_stack)$/;

const BRANCHING = new Set([
  'if_statement',
  'switch_statement',
  'case_statement',
  'for_statement',
  'while_statement',
  'do_statement',
  'conditional_expression',
]);

interface Context {
  conditional: boolean;
  jiffiesGuard: boolean;
}

/**
 * For each printer call line in a function: is it on a conditional path, is it under a
 * jiffies guard. Worked out for every printer call of the function's text (rows counted
 * from its first line), so the answer depends on that text alone and a run can keep it.
 */
function callContexts(ctx: RuleContext, fc: FileChange, fn: FunctionDef, lines: Set<number>): Map<number, Context> {
  const text = fc.post!.text.slice(fn.span.startByte, fn.span.endByte);
  const baseRow = fn.span.start;
  const byRow = ctx.kept('printk-cold contexts', text, () => printerContexts(ctx, text));
  const out = new Map<number, Context>();
  for (const [row, c] of byRow) if (lines.has(row + baseRow)) out.set(row + baseRow, c);
  return out;
}

function printerContexts(ctx: RuleContext, text: string): Map<number, Context> {
  const out = new Map<number, Context>();
  const tree = ctx.parser.parse(text);
  try {
    // Pre-order, children left to right, with an explicit stack: a deeply
    // nested expression (thousands of parentheses) must not overflow the JS stack.
    const stack: [SyntaxNode, Context][] = [[tree.rootNode, { conditional: false, jiffiesGuard: false }]];
    while (stack.length) {
      const [n, c] = stack.pop()!;
      if (n.type === 'call_expression') {
        const row = n.startPosition.row;
        const callee = n.childForFieldName('function');
        if (callee && COLD_PRINTERS.test(text.slice(callee.startIndex, callee.endIndex)) && !out.has(row)) {
          out.set(row, c);
        }
      }
      let inner = c;
      if (BRANCHING.has(n.type)) inner = { ...inner, conditional: true };
      if (n.type === 'binary_expression') {
        const op = n.child(1);
        if (op && (op.type === '&&' || op.type === '||')) inner = { ...inner, conditional: true };
      }
      if (n.type === 'if_statement') {
        const cond = n.childForFieldName('condition');
        if (cond && /\bjiffies\b/.test(text.slice(cond.startIndex, cond.endIndex))) inner = { ...inner, jiffiesGuard: true };
      }
      const kids: [SyntaxNode, Context][] = [];
      let afterLabel = false;
      for (const ch of children(n)) {
        // Statements after a goto label are usually an error exit.
        if (n.type === 'compound_statement' && ch.type === 'labeled_statement') afterLabel = true;
        kids.push([ch, afterLabel ? { ...inner, conditional: true } : inner]);
      }
      for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]);
    }
  } finally {
    tree.delete();
  }
  return out;
}

export const printkCold: Rule = {
  id: 'printk-cold',
  severity: 'warning',
  title: 'printk()/pr_*() added to an existing function: __cold can reshape its code',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.post || !fc.pre) continue;
      for (const c of changedFunctions(fc)) {
        const fn = c.new;
        if (isIgnoredFunction(fc, fn.name)) continue;
        const oldLines = new Set(fc.pre.lines.slice(c.old.span.start, c.old.span.end + 1).map((l) => normalizeC(l)));
        const added: CallSite[] = fn.calls.filter(
          (call) =>
            COLD_PRINTERS.test(call.name) && fc.maps.added.has(call.line) && !oldLines.has(normalizeC(fc.post!.lines[call.line] ?? '')),
        );
        if (!added.length) continue;
        const contexts = callContexts(ctx, fc, fn, new Set(added.map((a) => a.line)));
        const relevant = added
          .map((a) => ({ call: a, ctx: contexts.get(a.line) ?? { conditional: false, jiffiesGuard: false } }))
          .filter((x) => !x.ctx.jiffiesGuard);
        if (!relevant.length) continue;
        const hot = relevant.filter((x) => !x.ctx.conditional);
        const first = (hot[0] ?? relevant[0]).call;
        const names = listNames([...new Set(relevant.map((x) => `${x.call.name}()`))]);
        const where = hot.length
          ? `on the main path of existing ${describeFunction(fn)}, so gcc may treat the whole function as unlikely: move it to .text.unlikely, optimise it for size, or stop inlining its callees`
          : `on a conditional path of existing ${describeFunction(fn)}; gcc treats that branch as unlikely, which is usually harmless for an error path but can still move code to .text.unlikely or un-inline callees on it`;
        ctx.report({
          severity: hot.length ? 'warning' : 'info',
          file: fc.path,
          line: first.line,
          endLine: first.line,
          function: fn.name,
          symbol: first.name,
          message:
            `The patch adds ${names} ${where}. printk() and the pr_*/dev_* printers are declared __cold, and the ` +
            `resulting layout changes show up as unexpected "changed function" lines or changed-section errors in ` +
            `kpatch-build. Use KPATCH_PRINTK(...) from kpatch-macros.h, which keeps the call on its own ` +
            `\`if (jiffies)\` path.`,
          related: relevant
            .filter((x) => x.call !== first)
            .map((x) => ({
              file: fc.path,
              line: x.call.line,
              message: `${x.call.name}() added here${x.ctx.conditional ? ' (conditional)' : ''}`,
            })),
        });
      }
    }
  },
};
