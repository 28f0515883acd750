// Every rule the engine runs, in catalog order.

import type { Rule } from './rule';
import { initSection } from './init-section';
import { structLayout } from './struct-layout';

export const allRules: Rule[] = [
  initSection,
  structLayout,
];

export function ruleById(id: string): Rule | undefined {
  return allRules.find((r) => r.id === id);
}
