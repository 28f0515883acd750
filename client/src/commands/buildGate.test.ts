import assert from 'node:assert/strict';
import { test } from '../../../testing/nodeTest';
import { buildGate, gateFindingFromDiagnostic } from './buildGate';

test('a not-analysed file stops the build like an error finding, and the question names it', () => {
  const v = buildGate([
    {
      rule: 'not-analysed',
      severity: 'error',
      file: 'fs/proc/procstats.c',
      message: 'fs/proc/procstats.c was not analysed: 4.3 MB is over the 4.0 MB size limit',
    },
    { rule: 'late-module', severity: 'info', file: 'fs/proc/procstats.c', message: 'x' },
  ]);
  assert.equal(v.pass, false);
  assert.deepEqual(v.notAnalysed, ['fs/proc/procstats.c']);
  assert.equal(v.question, 'Livepatch: fs/proc/procstats.c was not analysed, so nothing checked its change. Build anyway?');
});

test('error findings and not-analysed files are both named; warnings alone pass', () => {
  const v = buildGate([
    { rule: 'struct-layout', severity: 'error', file: 'a.h', message: 'x' },
    { rule: 'not-analysed', severity: 'error', file: 'b.c', message: 'b.c was not analysed' },
    { rule: 'not-analysed', severity: 'error', file: 'c.c', message: 'c.c was not analysed' },
  ]);
  assert.equal(
    v.question,
    'Livepatch: the patch has 1 error-level finding(s); b.c, c.c were not analysed, so nothing checked their change. Build anyway?',
  );
  assert.deepEqual(buildGate([{ rule: 'ipa-clone', severity: 'warning', file: 'a.c', message: 'x' }]), {
    pass: true,
    question: '',
    errors: 0,
    notAnalysed: [],
  });
});

test("diagnostics of a .patch document: the server's errors count, with the file taken from the message", () => {
  const diags = [
    {
      source: 'livepatch',
      severity: 0,
      code: 'not-analysed',
      message: 'fs/big.c was not analysed: 5.0 MB is over the 4.0 MB size limit (livepatch.maxFileBytes)',
    },
    { source: 'livepatch', severity: 2, code: 'late-module', message: 'x' },
    { source: 'gcc', severity: 0, code: 'E1', message: 'another tool' },
  ];
  const v = buildGate(diags.map(gateFindingFromDiagnostic).filter((f) => f !== null));
  assert.equal(v.pass, false);
  assert.deepEqual(v.notAnalysed, ['fs/big.c']);
  assert.equal(v.errors, 1);
});
