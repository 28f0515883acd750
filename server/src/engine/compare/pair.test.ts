// sameLineRange is the join-free form of comparing two line ranges' text; property:
// it answers exactly what joining the sliced lines with '\n' and comparing answers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { sameLineRange } from './pair';

const lines = fc.array(fc.constantFrom('', 'a', 'b', ' ', '}'), { maxLength: 6 });
const index = fc.integer({ min: -2, max: 8 });

test('sameLineRange agrees with comparing the joined slices', () => {
  fc.assert(
    fc.property(lines, index, index, lines, index, index, (x, s1, e1, y, s2, e2) => {
      const joined = x.slice(s1, e1 + 1).join('\n') === y.slice(s2, e2 + 1).join('\n');
      assert.equal(sameLineRange(x, s1, e1, y, s2, e2), joined);
    }),
    { numRuns: 20000 },
  );
});
