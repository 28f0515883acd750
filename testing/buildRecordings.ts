// Test support: the recorded kpatch-build / klp-build outputs in
// client/src/commands/fixtures/build-output (see its README), and what the Build command
// does with a build's output: parse it, ask the language server where each problem is,
// place them (client/src/commands/buildProblems.ts).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseBuildOutput } from '../client/src/remote/buildMessages';
import { LocateBuildReferencesRequest, type LocateBuildReferencesResult } from '../server/src/protocol';
import type { TestServer } from './lspClient';
import { buildProblems, buildReferences, placeProblems, type Placement } from '../client/src/commands/buildProblems';

export const BUILD_OUTPUT = path.join(__dirname, '..', 'client', 'src', 'commands', 'fixtures', 'build-output');
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
  return fs
    .readdirSync(RECORDINGS)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .map((f) => {
      const name = f.replace(/\.txt$/, '');
      const text = fs.readFileSync(path.join(RECORDINGS, f), 'utf8');
      const output = text
        .split('\n')
        .filter((l) => /^[12] /.test(l))
        .map((l) => `${l.slice(2)}\n`)
        .join('');
      return { name, output, ...JSON.parse(fs.readFileSync(path.join(RECORDINGS, `${name}.json`), 'utf8')) };
    });
}

/** What the Build command does with a build's output: parse, ask the server, place. */
export async function place(server: TestServer, output: string, files: string[]): Promise<Placement> {
  const problems = buildProblems(parseBuildOutput(output));
  const where = (await server.conn.sendRequest(LocateBuildReferencesRequest, {
    uri: pathToFileURL(BUILD_TREE).toString(),
    files,
    references: buildReferences(problems),
  })) as LocateBuildReferencesResult;
  return placeProblems(problems, where);
}

/** The placement in the recordings' terms: 1-based lines. */
export function landed(p: Placement): Recording['diagnostics'] {
  return p.placed.map((d) => ({ file: d.file, line: d.line + 1, severity: d.severity, rule: d.rule ?? null }));
}
