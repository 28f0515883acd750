// new-global-data: new file-scope variables are allowed (kpatch includes new
// data), but they live in the patch module: they start from their initializer,
// and with atomic replace (the default on 6.1) the next cumulative patch gets
// its own copy while this one goes away with the old module.

import type { VariableDef } from '../model';
import type { Rule } from './rule';
import { placementOf } from './special-data-section';

// DECLARE_* macros that define an object (the rest declare an extern).
const DEFINING_DECLARE = /^DECLARE_(?:WAIT_QUEUE_HEAD|BITMAP|COMPLETION|RWSEM|WORK|DELAYED_WORK|TASKLET)\w*$/;
const INIT_DATA = /^__(?:init|exit|meminit|ref)(?:data|const)/;

function isNewDefinition(v: VariableDef): boolean {
  if (v.storage === 'extern') return false;
  if (v.type === 'static_assert') return false;
  if (/^DECLARE_/.test(v.type) && !DEFINING_DECLARE.test(v.type)) return false;
  if (v.attributes.some((a) => INIT_DATA.test(a))) return false;
  // special-data-section owns variables placed in named sections.
  return !placementOf([...v.attributes, v.type], v.norm);
}

export const newGlobalData: Rule = {
  id: 'new-global-data',
  severity: 'info',
  title: 'New global variable: lives in the patch module, not handed over on replace',
  check(ctx) {
    for (const fc of ctx.files) {
      if (!fc.isC || !fc.post) continue;
      for (const c of fc.pairing.variables) {
        if (c.kind !== 'added' || !c.new || !isNewDefinition(c.new)) continue;
        const v = c.new;
        // Without the tree a hunk may start inside a function: trust only declarations at column 0.
        if (!ctx.tree && /^\s/.test(fc.post.lines[v.span.start] ?? '')) continue;
        const scope = v.storage === 'static' ? 'static variable' : 'global variable';
        ctx.report({
          file: fc.path,
          line: v.span.start,
          endLine: v.span.end,
          symbol: v.name,
          message:
            `New ${scope} '${v.name}': allowed (kpatch-build includes new data), but it lives in the patch module. ` +
            `It starts from its initializer when the patch loads, not from any state the running kernel built up; ` +
            `with atomic replace (the default on 6.1) the next cumulative patch gets its own fresh copy and this one ` +
            `disappears with the old module. If the value must survive a patch upgrade, or belongs to an object, ` +
            `keep it in a shadow variable (klp_shadow_get_or_alloc()) and version it with struct klp_state so the ` +
            `next patch can take it over.`,
        });
      }
    }
  },
};
