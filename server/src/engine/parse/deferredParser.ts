// A stand-in for the parser while it may not be needed at all. A CLI run whose changed
// files all have stored indexes (engine/index/indexStore.ts), pre- and post-image, parses
// nothing unless a rule does; starting tree-sitter's wasm for it costs more than the rest
// of such a run. The stand-in records any use and throws, and the caller runs the analysis
// again with the real parser: a rule may catch the error, so the record, not the throw,
// decides.

import type { CParser } from './parser';

/** Thrown by a deferred parser on use: the analysis needs the real one. */
export class ParserPending extends Error {
  constructor() {
    super('the parser is needed after all');
    this.name = 'ParserPending';
  }
}

export interface DeferredParser {
  parser: CParser;
  /** True once anything asked the stand-in to parse or edit. */
  readonly used: boolean;
}

export function deferredParser(): DeferredParser {
  let used = false;
  const pending = (): never => {
    used = true;
    throw new ParserPending();
  };
  return {
    parser: { backend: 'wasm', parse: pending, parseRaw: pending, edit: pending, parseRange: pending },
    get used() {
      return used;
    },
  };
}
