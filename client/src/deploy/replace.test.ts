import assert from 'node:assert/strict';
import { test } from '../../../testing/nodeTest';
import { parseStateSnapshot } from '../remote/state';
import { replaceQuestion, replaceSummary, wouldReplace } from './replace';

/** A state snapshot with these patches: [name, enabled, transition]. */
function state(patches: Array<[string, 0 | 1, 0 | 1]>) {
  const lines = ['klp-state\t1', 'livepatch\t1'];
  for (const [name, en, tr] of patches)
    lines.push(`patch\t${name}`, `patch-attr\t${name}\tenabled\t${en}`, `patch-attr\t${name}\ttransition\t${tr}`);
  return parseStateSnapshot([...lines, 'end', ''].join('\n'));
}

test('a replace patch replaces every other livepatch on the target, not itself', () => {
  const s = state([
    ['livepatch_a', 1, 0],
    ['livepatch_b', 0, 1],
    ['livepatch_new', 1, 0],
  ]);
  assert.deepEqual(wouldReplace(s, 'livepatch_new'), ['livepatch_a', 'livepatch_b']);
  assert.deepEqual(wouldReplace(state([]), 'livepatch_new'), []);
});

test('the build and load questions name what would be replaced; nothing loaded, nothing to ask', () => {
  const s = state([
    ['livepatch_a', 1, 0],
    ['livepatch_b', 1, 0],
  ]);
  const build = replaceQuestion(s, 'livepatch_new', 'testvm', 'build')!;
  assert.match(build, /^testvm has 2 livepatches loaded: livepatch_a, livepatch_b\. Build livepatch_new as an atomic-replace patch\?/);
  assert.match(build, /Otherwise it stacks on them\.$/);
  assert.match(
    replaceQuestion(state([['livepatch_a', 1, 0]]), 'livepatch_new', 'testvm', 'load')!,
    /^Loading livepatch_new replaces livepatch_a on testvm: it is disabled/,
  );
  assert.equal(replaceQuestion(state([['livepatch_new', 1, 0]]), 'livepatch_new', 'testvm', 'load'), null);
});

test('the deploy CLI line says what a replace patch replaces, or what it stacks on', () => {
  const s = state([['livepatch_a', 1, 0]]);
  assert.equal(
    replaceSummary(s, 'livepatch_new', 'lab', true),
    'livepatch_new replaces the livepatches loaded on lab: livepatch_a (they are disabled when its transition ends)',
  );
  assert.equal(replaceSummary(s, 'livepatch_new', 'lab', false), 'livepatch_new stacks on the livepatches loaded on lab: livepatch_a');
  assert.match(replaceSummary(state([]), 'livepatch_new', 'lab', true), /replaces nothing/);
});
