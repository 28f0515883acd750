import { test } from 'node:test';
import assert from 'node:assert/strict';
import { treeArgument } from './treeArgument';

test('treeArgument: both spellings, the first one wins, nothing after --', () => {
  assert.equal(treeArgument(['--tree', '/src/linux', 'a.patch']), '/src/linux');
  assert.equal(treeArgument(['--format', 'json', '--tree=/src/linux', 'a.patch']), '/src/linux');
  assert.equal(treeArgument(['--tree', '/a', '--tree', '/b']), '/a');
  assert.equal(treeArgument(['--', '--tree', '/src/linux']), null);
  assert.equal(treeArgument(['a.patch']), null);
  assert.equal(treeArgument(['--tree']), null);
});
