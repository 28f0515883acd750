// Every rule the engine runs. Ids are the catalog's (docs/rules/<id>.md).

import type { Rule } from './rule';
import type { Severity } from '../model';
import { NOT_ANALYSED } from '../notAnalysed';
import { initSection } from './init-section';
import { structLayout } from './struct-layout';
// -- function rules (imports) --
import { exitSection } from './exit-section';
import { sectionAttrFunc } from './section-attr-func';
import { notrace } from './notrace';
import { inlineNotrace } from './inline-notrace';
import { syscall } from './syscall';
import { inlineCallers } from './inline-callers';
import { ipaClone } from './ipa-clone';
import { alwaysOnStack } from './always-on-stack';
import { probeOnceState } from './probe-once-state';
// -- data rules (imports) --
import { staticLocalRemoved } from './static-local-removed';
import { staticLocalNew } from './static-local-new';
import { specialStatic } from './special-static';
import { dataGlobalChanged } from './data-global-changed';
import { dataSizeChanged } from './data-size-changed';
import { jumpLabel } from './jump-label';
import { staticCall } from './static-call';
import { exportedAbi } from './exported-abi';
import { symbolNamespace } from './symbol-namespace';
import { lateModule } from './late-module';
import { replaceCallbacks } from './replace-callbacks';
// -- text rules (imports) --
import { lineMacro } from './line-macro';
import { noFunctionalChange } from './no-functional-change';
import { unsupportedFile } from './unsupported-file';
import { codeRemoval } from './code-removal';
import { printkCold } from './printk-cold';
import { specialDataSection } from './special-data-section';
import { dataSemantic } from './data-semantic';
import { newGlobalData } from './new-global-data';
import { kconfigEnv } from './kconfig-env';

export const allRules: Rule[] = [
  initSection,
  structLayout,
  // -- function rules --
  exitSection,
  sectionAttrFunc,
  notrace,
  inlineNotrace,
  syscall,
  inlineCallers,
  ipaClone,
  alwaysOnStack,
  probeOnceState,
  // -- data rules --
  staticLocalRemoved,
  staticLocalNew,
  specialStatic,
  dataGlobalChanged,
  dataSizeChanged,
  jumpLabel,
  staticCall,
  exportedAbi,
  symbolNamespace,
  lateModule,
  replaceCallbacks,
  // -- text rules --
  lineMacro,
  noFunctionalChange,
  unsupportedFile,
  codeRemoval,
  printkCold,
  specialDataSection,
  dataSemantic,
  newGlobalData,
  kconfigEnv,
];

export function ruleById(id: string): Rule | undefined {
  return allRules.find((r) => r.id === id);
}

/** Finding ids the engine itself reports (not rules: nothing to run), each with a page in docs/rules/. */
export const engineFindingIds: readonly { id: string; severity: Severity; title: string }[] = [NOT_ANALYSED];

/** Id, severity and title of a rule or an engine finding: what hovers and SARIF describe. */
export function findingKind(id: string): { id: string; severity: Severity; title: string } | undefined {
  return ruleById(id) ?? engineFindingIds.find((e) => e.id === id);
}
