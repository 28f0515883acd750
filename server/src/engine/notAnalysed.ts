// `not-analysed`: an engine finding, not a rule. When the engine could not index a
// changed .c/.h file (over the size limit, out of the parse time budget), no rule
// looked at its change, so the change must not read as clean: it is an error-level
// finding, which makes the CLI exit non-zero and the deploy and build paths refuse
// unless forced. Its page is docs/rules/not-analysed.md like a rule's.

import type { Finding } from './model';

export const NOT_ANALYSED = {
  id: 'not-analysed',
  severity: 'error',
  title: 'a changed file the engine could not analyse (too big or too slow to parse): nothing vouches for its change',
} as const;

/** The finding for a changed file the engine gave up on; `why` says what stopped it. */
export function notAnalysedFinding(file: string, why: string, patchIndex: number, patchLine: number | undefined): Finding {
  return {
    rule: NOT_ANALYSED.id,
    severity: NOT_ANALYSED.severity,
    file,
    line: 0,
    endLine: 0,
    image: 'post',
    function: null,
    symbol: null,
    message: `${file} was not analysed: ${why}. No rule checked its change, so it cannot count as safe`,
    related: [],
    patchIndex,
    patchLine,
  };
}
