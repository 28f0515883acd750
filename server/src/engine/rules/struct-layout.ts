// struct-layout: existing objects in the running kernel keep the old layout,
// and unpatched code keeps using old offsets; nothing rewrites live instances.

import type { Rule } from './rule';
import type { Member, TypeDef } from '../model';

function describeMemberChange(o: TypeDef, n: TypeDef): { what: string; member: Member | null } {
  const oldNames = o.members.map((m) => m.name);
  const newNames = n.members.map((m) => m.name);
  const added = n.members.filter((m) => !oldNames.includes(m.name));
  const removed = o.members.filter((m) => !newNames.includes(m.name));
  if (o.kind === 'enum') {
    if (
      added.length &&
      !removed.length &&
      added.every((m) => newNames.indexOf(m.name) >= oldNames.length) &&
      !o.members.some((m, i) => n.members[i]?.decl !== m.decl)
    ) {
      return { what: `enumerator ${added.map((m) => m.name).join(', ')} appended`, member: added[0] };
    }
    const renumbered = n.members.find((m, i) => oldNames.indexOf(m.name) !== i || o.members[i]?.decl !== m.decl);
    return {
      what: renumbered ? `enumerator ${renumbered.name} added, removed or renumbered` : 'enumerators changed',
      member: renumbered ?? null,
    };
  }
  if (added.length) return { what: `member '${added[0].name}' added`, member: added[0] };
  if (removed.length) return { what: `member '${removed[0].name}' removed`, member: null };
  const retyped = n.members.find((m) => o.members.find((x) => x.name === m.name)?.decl !== m.decl);
  if (retyped) return { what: `member '${retyped.name}' changed type or attributes`, member: retyped };
  const moved = n.members.find((m, i) => o.members[i]?.name !== m.name);
  if (moved) return { what: `member '${moved.name}' moved`, member: moved };
  return { what: 'definition changed', member: null };
}

export const structLayout: Rule = {
  id: 'struct-layout',
  severity: 'error',
  title: 'Changed struct/union/enum layout: live objects keep the old layout',
  check(ctx) {
    for (const fc of ctx.files) {
      for (const t of fc.pairing.types) {
        if (t.kind !== 'body' || !t.old || !t.new) continue;
        const { what, member } = describeMemberChange(t.old, t.new);
        // Appending an enumerator changes no existing value: builds, but users of a *_MAX bound may change.
        const appendOnlyEnum = t.new.kind === 'enum' && what.includes('appended');
        const typeName = `${t.new.kind} ${t.new.name}`;
        const fix =
          t.new.kind === 'enum'
            ? 'Keep existing values; add new state elsewhere.'
            : 'Keep the layout and attach new fields with a shadow variable (klp_shadow_get_or_alloc() / klp_shadow_free()), with callbacks for objects created before the patch.';
        ctx.report({
          severity: appendOnlyEnum ? 'warning' : 'error',
          file: fc.path,
          line: member?.line ?? t.new.span.start,
          endLine: member?.line ?? t.new.span.end,
          symbol: typeName,
          message: `${typeName}: ${what}. Objects already in the running kernel keep the old layout and unpatched code keeps the old offsets, so this corrupts memory (or changes modversion CRCs) even if it builds. ${fix}`,
          related: [{ file: fc.path, line: t.old.span.start, image: 'pre', message: `previous definition of ${typeName}` }],
        });
      }
    }
  },
};
