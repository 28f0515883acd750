// Every rule the engine runs. Ids are the catalog's (shared livepatch-rules.md).

import type { Rule } from './rule';
import { initSection } from './init-section';
import { structLayout } from './struct-layout';
// -- function rules (imports) --
// -- data rules (imports) --
// -- text rules (imports) --

export const allRules: Rule[] = [
  initSection,
  structLayout,
  // -- function rules --
  // -- data rules --
  // -- text rules --
];

export function ruleById(id: string): Rule | undefined {
  return allRules.find((r) => r.id === id);
}
