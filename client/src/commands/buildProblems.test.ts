// Every recorded kpatch-build / klp-build output (fixtures/build-output/recordings), parsed
// by the client, located by the language server (the request the Build command sends) and
// placed by the client: each problem lands on the tree line its recording names, and
// what names nothing in the tree stays in the log.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from '../../../test/support/nodeTest';
import { parseBuildOutput } from '../remote/buildMessages';
import { LocateBuildReferencesRequest, type LocateBuildReferencesResult } from '../../../server/src/lsp/protocol';
import { startServer, type TestServer } from '../../../server/src/lsp/testing/lspClient';
import { buildProblems, buildReferences, placeProblems, type Placement } from './buildProblems';

export const BUILD_OUTPUT = path.join(__dirname, 'fixtures', 'build-output');
export const RECORDINGS = path.join(BUILD_OUTPUT, 'recordings');
export const BUILD_TREE = path.join(BUILD_OUTPUT, 'tree');

export interface Recording {
  name: string;
  tool: 'kpatch-build' | 'klp-build';
  exit: number;
  files: string[];
  diagnostics: { file: string; line: number; severity: 'error' | 'warning'; rule: string | null }[];
  unplaced: number;
  /** The lines as they reach the client: stdout and stderr, in recorded order. */
  output: string;
}

export function recordings(): Recording[] {
  return fs.readdirSync(RECORDINGS).filter((f) => f.endsWith('.txt')).sort().map((f) => {
    const name = f.replace(/\.txt$/, '');
    const text = fs.readFileSync(path.join(RECORDINGS, f), 'utf8');
    const output = text.split('\n').filter((l) => /^[12] /.test(l)).map((l) => `${l.slice(2)}\n`).join('');
    return { name, output, ...JSON.parse(fs.readFileSync(path.join(RECORDINGS, `${name}.json`), 'utf8')) };
  });
}

/** What the Build command does with a build's output: parse, ask the server, place. */
export async function place(server: TestServer, output: string, files: string[]): Promise<Placement> {
  const problems = buildProblems(parseBuildOutput(output));
  const where = (await server.conn.sendRequest(LocateBuildReferencesRequest, {
    uri: pathToFileURL(BUILD_TREE).toString(), files, references: buildReferences(problems),
  })) as LocateBuildReferencesResult;
  return placeProblems(problems, where);
}

/** The placement in the recordings' terms: 1-based lines. */
export function landed(p: Placement): Recording['diagnostics'] {
  return p.placed.map((d) => ({ file: d.file, line: d.line + 1, severity: d.severity, rule: d.rule ?? null }));
}

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
    // build-messages.tsv's kpatch-build, create-diff-object, objtool and klp-build rows (see the README there).
    assert.ok(all.length >= 40, `only ${all.length} recordings`);
    assert.ok(all.some((r) => r.tool === 'kpatch-build' && r.exit === 0) && all.some((r) => r.tool === 'klp-build' && r.exit === 0), 'a success for each tool');
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
    assert.deepEqual(p.placed.map((d) => [d.line, d.column, d.source]), [[31, 8, 'compiler']]);
    const n = await place(server, all.find((x) => x.name === 'no-patchable-entry')!.output, ['fs/proc/klpstat.c']);
    assert.deepEqual(n.placed.map((d) => [d.line, d.column, d.what]), [[26, 0, 'function klpstat_show']]);
  });

  test('without a tree to place them in, every problem goes to the log', () => {
    const problems = buildProblems(parseBuildOutput(all.find((x) => x.name === 'no-patchable-entry')!.output));
    const p = placeProblems(problems, problems.map(() => null));
    assert.deepEqual(p.placed, []);
    assert.deepEqual(p.unplaced, ["ERROR: function klpstat_show doesn't have patchable function entry, unable to patch"]);
  });
});
