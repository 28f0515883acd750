import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codeIdentifiers } from './codeText';

test('codeIdentifiers drops comments spanning lines and // comments on every line', () => {
  const decl = 'static int /* was\n __read_mostly */ hits // per_cpu here\n = 0; /* x */';
  assert.deepEqual(codeIdentifiers(decl), ['static', 'int', 'hits']);
  assert.deepEqual(codeIdentifiers('a("x y", \'z\') b'), ['a', 'b']);
});
