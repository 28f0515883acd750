// A node:test reporter that prints nothing but, at the very end of the run, one
// line naming what was skipped and how to get it, e.g.
//   skipped 52 tests: 49 no sshd at /usr/sbin/sshd: apt-get install openssh-server …; 3 no Debian 6.1 kernel tree: …
// or "skipped no test". It runs beside the spec reporter (package.json "test").
export default async function* skipSummary(source) {
  const reasons = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { skip, details } = event.data;
    if (skip === undefined || skip === false || details?.type === 'suite') continue;
    const reason = typeof skip === 'string' && skip ? skip : 'skipped without a reason';
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  const total = [...reasons.values()].reduce((a, b) => a + b, 0);
  if (total === 0) {
    yield 'skipped no test\n';
    return;
  }
  const parts = [...reasons].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${n} ${reason}`);
  yield `skipped ${total} test${total === 1 ? '' : 's'}: ${parts.join('; ')}\n`;
}
