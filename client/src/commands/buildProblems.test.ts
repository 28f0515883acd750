// Every recorded kpatch-build / klp-build output (fixtures/build-output/recordings), parsed
// by the client, located by the language server (the request the Build command sends) and
// placed by the client: each problem lands on the tree line its recording names, and
// what names nothing in the tree stays in the log.

import assert from 'node:assert/strict';
import { after, before, describe, test } from '../../../testing/nodeTest';
import { parseBuildOutput } from '../remote/buildMessages';
import { startServer, type TestServer } from '../../../testing/lspClient';
import { BUILD_TREE, landed, place, recordings } from '../../../testing/buildRecordings';
import { buildProblems, placeProblems } from './buildProblems';

describe('build output lands on the source lines it is about', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(BUILD_TREE);
  });
  after(async () => {
    await server.stop();
  });

  const all = recordings();
  test('there is a recording for every success and failure format the tools print', () => {
    // kpatch-build, create-diff-object, objtool and klp-build formats (see fixtures/build-output/README.md).
    assert.ok(all.length >= 40, `only ${all.length} recordings`);
    assert.ok(
      all.some((r) => r.tool === 'kpatch-build' && r.exit === 0) && all.some((r) => r.tool === 'klp-build' && r.exit === 0),
      'a success for each tool',
    );
    for (const r of all) assert.ok(r.output.length > 0, `${r.name}: empty recording`);
  });

  for (const r of all) {
    test(`${r.name}: ${r.diagnostics.map((d) => `${d.file}:${d.line}`).join(', ') || 'nothing placed'}, ${r.unplaced} in the log`, async () => {
      const p = await place(server, r.output, r.files);
      assert.deepEqual(landed(p), r.diagnostics);
      assert.equal(p.unplaced.length, r.unplaced, `unplaced: ${JSON.stringify(p.unplaced)}`);
      for (const d of p.placed) {
        assert.ok(d.message.length > 0 && !/^ERROR: /.test(d.message), `a message without the tool's prefix: ${d.message}`);
        assert.ok(['kpatch-build', 'create-diff-object', 'objtool', 'klp-build', 'compiler'].includes(d.source), d.source);
      }
    });
  }

  test('a compiler error keeps its column; other tools mark from the start of the line', async () => {
    const r = all.find((x) => x.name === 'klp-compile-error')!;
    const p = await place(server, r.output, r.files);
    assert.deepEqual(
      p.placed.map((d) => [d.line, d.column, d.source]),
      [[31, 8, 'compiler']],
    );
    const n = await place(server, all.find((x) => x.name === 'no-patchable-entry')!.output, ['fs/proc/klpstat.c']);
    assert.deepEqual(
      n.placed.map((d) => [d.line, d.column, d.what]),
      [[26, 0, 'function klpstat_show']],
    );
  });

  test('without a tree to place them in, every problem goes to the log', () => {
    const problems = buildProblems(parseBuildOutput(all.find((x) => x.name === 'no-patchable-entry')!.output));
    const p = placeProblems(
      problems,
      problems.map(() => null),
    );
    assert.deepEqual(p.placed, []);
    assert.deepEqual(p.unplaced, ["ERROR: function klpstat_show doesn't have patchable function entry, unable to patch"]);
  });
});
