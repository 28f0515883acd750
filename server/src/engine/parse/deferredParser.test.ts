// The stand-in parser of a run that may parse nothing: any use is recorded and throws.

import { test } from '../../../../testing/nodeTest';
import assert from 'node:assert/strict';
import { deferredParser, ParserPending } from './deferredParser';

test('deferred parser: unused until asked; every method records the use and throws ParserPending', () => {
  for (const call of [
    (p: ReturnType<typeof deferredParser>['parser']) => p.parse('int x;'),
    (p: ReturnType<typeof deferredParser>['parser']) => p.parseRaw('int x;'),
    (p: ReturnType<typeof deferredParser>['parser']) => p.parseRange!('int x;', 0, 6),
  ]) {
    const d = deferredParser();
    assert.equal(d.used, false);
    assert.throws(() => call(d.parser), ParserPending);
    assert.equal(d.used, true);
  }
  // A caller that swallows the error still leaves the record.
  const d = deferredParser();
  try {
    d.parser.parse('int x;');
  } catch {
    // a rule may do this
  }
  assert.equal(d.used, true);
});
