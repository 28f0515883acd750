// Data brought up to date around line edits must equal the data of the whole text, however
// many edits came between two reads, and whichever versions were never read.

import { test } from '../../../../testing/nodeTest';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FileIndex } from '../model';
import { LineDerived, noteLineEdit } from './lineEdits';

/** A stand-in index: only its lines. */
const linesIndex = (lines: string[]) => ({ lines }) as unknown as FileIndex;

// The derived value here is the lines themselves: around an edit, the kept lines come
// from the earlier value and only lines [aLine, bNew] from the index.
const copy = new LineDerived<string[]>(
  (idx) => [...idx.lines],
  (prev, { aLine, bOld, bNew }, idx) => [...prev.slice(0, aLine), ...idx.lines.slice(aLine, bNew + 1), ...prev.slice(bOld + 1)],
);

test('property: a value brought up to date over a chain of line edits, read after any of them, equals the whole reading', () => {
  let incremental = 0;
  const line = fc.constantFrom('a', 'b', 'c', '');
  fc.assert(
    fc.property(
      fc.array(line, { minLength: 1, maxLength: 30 }),
      fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.array(line, { maxLength: 4 }), fc.nat(2), fc.boolean()), { minLength: 1, maxLength: 6 }),
      (start, edits) => {
        let lines = start;
        let idx = linesIndex(lines);
        assert.deepEqual(copy.get(idx), lines);
        for (const [i, [at, del, ins, widen, read]] of edits.entries()) {
          const a = at % lines.length;
          // Lines [a, a + del - 1] are replaced by `ins`; the indexer may report a wider region.
          const next = [...lines.slice(0, a), ...ins, ...lines.slice(a + del)];
          if (!next.length) return;
          const aLine = Math.max(0, a - widen);
          const bOld = Math.min(lines.length - 1, Math.max(a + del - 1, a) + widen);
          const bNew = bOld + (next.length - lines.length);
          if (bNew < aLine - 1 || bNew >= next.length) return;
          const nextIdx = linesIndex(next);
          noteLineEdit(idx, nextIdx, aLine, bOld, bNew);
          // Rules read some versions only: the edits of the others are joined.
          if (read || i === edits.length - 1) {
            const before = copy.stats.incremental;
            assert.deepEqual(copy.get(nextIdx), next, JSON.stringify({ start, edits: edits.slice(0, i + 1) }));
            incremental += copy.stats.incremental - before;
          }
          lines = next;
          idx = nextIdx;
        }
      },
    ),
    { seed: 15, numRuns: 3000 },
  );
  assert.ok(incremental > 1500, `${incremental} values brought up to date`);
});
