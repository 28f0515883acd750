// The phase timer: nested phases are charged their own time only, so a run's
// phases add up to its wall time; off, it records nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { add, enableTimings, end, phaseTimes, start, timed } from './timings';

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('a nested phase is not charged to the phase around it', () => {
  enableTimings();
  const t0 = performance.now();
  timed('rule', () => {
    busy(20);
    timed('parse', () => busy(30));
  });
  const wall = performance.now() - t0;
  const p = phaseTimes();
  enableTimings(false);
  assert.ok(p.parse >= 30 && p.parse < 45, `parse ${p.parse}`);
  assert.ok(p.rule >= 20 && p.rule < 30, `rule ${p.rule} must exclude the parse inside it`);
  assert.ok(Math.abs(p.rule + p.parse - wall) < 2, `phases ${p.rule + p.parse} add up to the wall time ${wall}`);
});

test('a phase closed out of order is a caller bug and throws', () => {
  enableTimings();
  start('a');
  start('b');
  assert.throws(() => end('a'), /end\('a'\) while 'b' is open/);
  enableTimings(false);
});

test('a phase that throws is still closed', () => {
  enableTimings();
  assert.throws(() =>
    timed('outer', () => {
      timed('inner', () => {
        throw new Error('boom');
      });
    }),
  );
  // Both closed: a new top-level phase is not nested in them.
  timed('after', () => busy(1));
  assert.deepEqual(Object.keys(phaseTimes()).sort(), ['after', 'inner', 'outer']);
  enableTimings(false);
});

test('off, nothing is recorded', () => {
  enableTimings(false);
  timed('parse', () => busy(1));
  add('node startup', 50);
  start('x');
  end('y'); // no check either: off costs one test per call
  assert.deepEqual(phaseTimes(), {});
});
