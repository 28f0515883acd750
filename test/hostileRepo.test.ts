// A repository that arrives with its own hostile .git (every config key that runs
// a program points at a canary script): the CLI and the language server, trusted
// and untrusted, still analyse it, and no canary appears. Untrusted, git is not
// run at all. Hostile livepatch.baseRef and kernelConfig values are refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeHostileRepo, type HostileRepo } from '../testing/hostileRepo';
import { tempDir } from '../testing/tempDir';
import { startServer, ROOT, type TestServer } from '../testing/lspClient';
import { AnalyzeWorkspaceChangesRequest, type AnalyzeWorkspaceChangesResult } from '../server/src/protocol';

const DEMO = path.join(ROOT, 'examples', 'demo');
const demoPatch = fs.readFileSync(path.join(DEMO, 'fix-proc-stats.patch'), 'utf8');
const CLI = path.join(ROOT, 'dist', 'livepatch-check.js');

/** PATH with the recording git wrapper first, and a fresh grep cache (a cache hit would skip git grep). */
function envFor(repo: HostileRepo): NodeJS.ProcessEnv {
  return { PATH: `${repo.gitWrapperDir}:${process.env.PATH}`, KLP_CACHE: tempDir('klp-hostile-cache-') };
}

/** Stops the server; one stuck in a blocking read (the bug these tests guard against) is killed. */
async function stop(server: TestServer): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    server.stop().catch(() => undefined),
    new Promise<void>((r) => (timer = setTimeout(() => (server.proc.kill('SIGKILL'), r()), 5000))),
  ]);
  clearTimeout(timer);
}

function gitRuns(repo: HostileRepo): string[] {
  return fs.existsSync(repo.gitRuns) ? fs.readFileSync(repo.gitRuns, 'utf8').split('\n').filter(Boolean) : [];
}

/** Adds a static local to procstats_show() in `text`. */
function withStaticLocal(text: string): string {
  return text
    .replace('\tstruct procstats_sample s;\n', '\tstatic unsigned long calls;\n\tstruct procstats_sample s;\n')
    .replace('\tprocstats_fill(&s);\n', '\tprocstats_fill(&s);\n\tcalls++;\n');
}

test('CLI: a hostile .git runs none of its programs, and git still serves the analysis', () => {
  const repo = makeHostileRepo(path.join(DEMO, 'tree'));
  const r = spawnSync(process.execPath, [CLI, '--tree', repo.tree, '--format', 'json', path.join(DEMO, 'fix-proc-stats.patch')], {
    encoding: 'utf8',
    env: { ...process.env, ...envFor(repo) },
    timeout: 60000,
  });
  assert.deepEqual(repo.fired(), []);
  assert.equal(r.status, 1, r.stderr);
  const out = JSON.parse(r.stdout) as { findings: { rule: string; message: string }[] };
  // The caller search went through git grep on the tree.
  assert.ok(
    out.findings.some((f) => f.rule === 'inline-callers' && /Callers found in the tree: 1 in 1 file/.test(f.message)),
    r.stdout,
  );
  assert.ok(
    gitRuns(repo).some((l) => /\bgrep\b/.test(l)),
    `git grep was not used: ${gitRuns(repo).join('; ')}`,
  );
});

async function lspSession(
  repo: HostileRepo,
  trusted: boolean,
): Promise<{ server: TestServer; patchCodes: string[]; sourceCodes: string[]; changes: AnalyzeWorkspaceChangesResult }> {
  const server = await startServer(repo.tree, { trusted, env: envFor(repo) });
  try {
    const patchUri = pathToFileURL(path.join(repo.tree, 'fix-proc-stats.patch')).toString();
    server.open(patchUri, 'diff', demoPatch);
    const patchCodes = (await server.diagnostics(patchUri)).diagnostics.map((d) => String(d.code));
    // A saved change (for the working-tree request) and an unsaved one in the editor.
    const file = path.join(repo.tree, 'fs', 'proc', 'procstats.c');
    const saved = fs
      .readFileSync(file, 'utf8')
      .replace('static unsigned long procstats_limit = 128;', 'static unsigned long procstats_limit = 256;');
    fs.writeFileSync(file, saved);
    const uri = pathToFileURL(file).toString();
    server.open(uri, 'c', saved, 1);
    await server.diagnostics(uri, 1);
    server.change(uri, 2, [{ text: withStaticLocal(saved) }]);
    const sourceCodes = (await server.diagnostics(uri, 2)).diagnostics.map((d) => String(d.code));
    const changes: AnalyzeWorkspaceChangesResult = await server.conn.sendRequest(AnalyzeWorkspaceChangesRequest, {});
    return { server, patchCodes, sourceCodes, changes };
  } catch (err) {
    await stop(server);
    throw err;
  }
}

test('language server, trusted: patches, live edits and the workspace-changes request run no program of the repository', async () => {
  const repo = makeHostileRepo(path.join(DEMO, 'tree'));
  const { server, patchCodes, sourceCodes, changes } = await lspSession(repo, true);
  await stop(server);
  assert.deepEqual(repo.fired(), []);
  assert.ok(patchCodes.includes('inline-callers') && patchCodes.includes('struct-layout'), patchCodes.join());
  assert.ok(sourceCodes.includes('static-local-new'), sourceCodes.join());
  // Against HEAD: the saved initializer change and the unsaved static local.
  const rules = changes.findings.map((f) => f.rule);
  assert.ok(rules.includes('data-global-changed') && rules.includes('static-local-new'), JSON.stringify(changes));
  assert.ok(gitRuns(repo).some((l) => /\bdiff\b/.test(l)) && gitRuns(repo).some((l) => /\bcat-file\b/.test(l)), gitRuns(repo).join('; '));
});

test('language server, untrusted: no git at all; edits are checked against the saved file, and a notice says what is reduced', async () => {
  const repo = makeHostileRepo(path.join(DEMO, 'tree'));
  const { server, patchCodes, sourceCodes, changes } = await lspSession(repo, false);
  await stop(server);
  assert.deepEqual(repo.fired(), []);
  assert.deepEqual(gitRuns(repo), []);
  assert.ok(patchCodes.includes('inline-callers') && patchCodes.includes('struct-layout'), patchCodes.join());
  // Only the unsaved static local: the saved initializer change is the base now.
  assert.ok(sourceCodes.includes('static-local-new'), sourceCodes.join());
  assert.ok(!sourceCodes.includes('data-global-changed'), sourceCodes.join());
  assert.deepEqual(
    changes.findings.map((f) => f.rule).filter((r) => r === 'data-global-changed'),
    [],
  );
  assert.ok(
    changes.findings.some((f) => f.rule === 'static-local-new'),
    JSON.stringify(changes),
  );
  assert.ok(
    changes.notes.some((n) => /not trusted: git is not run/.test(n)),
    changes.notes.join(),
  );
  const notices = server.messages.filter((m) => /not trusted, so git is not run/.test(m.message));
  assert.equal(notices.length, 1, JSON.stringify(server.messages));
  assert.match(notices[0].message, /saved copy instead of livepatch\.baseRef/);
});

test('language server: trust granted later turns git back on for the open documents', async () => {
  const repo = makeHostileRepo(path.join(DEMO, 'tree'));
  const server = await startServer(repo.tree, { trusted: false, env: envFor(repo) });
  try {
    const file = path.join(repo.tree, 'fs', 'proc', 'procstats.c');
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, withStaticLocal(text));
    const uri = pathToFileURL(file).toString();
    // Saved to disk and open unchanged: untrusted, there is nothing to compare.
    server.open(uri, 'c', withStaticLocal(text), 1);
    assert.deepEqual(
      (await server.diagnostics(uri, 1)).diagnostics.map((d) => d.code),
      [],
    );
    void server.conn.sendNotification('livepatch/didChangeWorkspaceTrust', { trusted: true });
    const after = (await server.diagnostics(uri, 1)).diagnostics.map((d) => String(d.code));
    assert.ok(after.includes('static-local-new'), after.join());
    assert.ok(gitRuns(repo).length > 0);
  } finally {
    await stop(server);
  }
  assert.deepEqual(repo.fired(), []);
});

test('a hostile livepatch.baseRef is never an option to git: no file is emptied or created', async () => {
  const repo = makeHostileRepo(path.join(DEMO, 'tree'));
  const victim = path.join(tempDir('klp-victim-'), 'victim.txt');
  fs.writeFileSync(victim, 'keep me\n');
  const server = await startServer(repo.tree, { trusted: true, env: envFor(repo), settings: { baseRef: `--output=${victim}` } });
  let diags: { message: unknown }[];
  let results: AnalyzeWorkspaceChangesResult[];
  try {
    const file = path.join(repo.tree, 'fs', 'proc', 'procstats.c');
    const uri = pathToFileURL(file).toString();
    server.open(uri, 'c', withStaticLocal(fs.readFileSync(file, 'utf8')), 1);
    diags = (await server.diagnostics(uri, 1)).diagnostics;
    // A failed request is an answer too: what matters first is what git did to the files.
    const ask = (p: { baseRef?: string }) =>
      server.conn.sendRequest(AnalyzeWorkspaceChangesRequest, p).then(
        (r) => r as AnalyzeWorkspaceChangesResult,
        (e: Error) => ({ notes: [e.message], findings: [] }) as unknown as AnalyzeWorkspaceChangesResult,
      );
    results = [await ask({}), await ask({ baseRef: '--output=../escaped' }), await ask({ baseRef: 'HEAD' })];
  } finally {
    await stop(server);
  }
  assert.equal(fs.readFileSync(victim, 'utf8'), 'keep me\n');
  assert.ok(!fs.existsSync(path.join(path.dirname(repo.tree), 'escaped')));
  assert.ok(!fs.existsSync(path.join(repo.tree, 'escaped')));
  assert.deepEqual(repo.fired(), []);
  assert.match(String(diags[0]?.message), /Cannot read the base '--output=.*does not name a commit/);
  assert.match(results[0].notes.join(), /cannot use base '--output=.*does not name a commit/);
  assert.match(results[1].notes.join(), /does not name a commit/);
  assert.ok(
    results[2].findings.some((f) => f.rule === 'static-local-new'),
    JSON.stringify(results[2]),
  );
});

/** A FIFO nobody writes to: reading it blocks forever. */
function fifo(): string {
  const f = path.join(tempDir('klp-fifo-'), 'config');
  execFileSync('mkfifo', [f]);
  return f;
}

test('CLI --config: a FIFO, /dev/zero or an oversized file is refused at once with the reason', () => {
  const big = path.join(tempDir('klp-bigconfig-'), 'config');
  fs.writeFileSync(big, Buffer.alloc(9 * 1024 * 1024, 0x41));
  for (const [config, why] of [
    [fifo(), /is not a regular file/],
    ['/dev/zero', /is not a regular file/],
    [big, /larger than 8 MB/],
  ] as const) {
    const r = spawnSync(
      process.execPath,
      [CLI, '--tree', path.join(DEMO, 'tree'), '--config', config, path.join(DEMO, 'fix-proc-stats.patch')],
      { encoding: 'utf8', timeout: 20000 },
    );
    assert.equal(r.error, undefined, `${config}: ${r.error}`);
    assert.equal(r.status, 2, `${config}: ${r.stderr}`);
    assert.match(r.stderr, why);
  }
});

test('language server: livepatch.kernelConfig naming a FIFO does not hang analysis and is reported', async () => {
  const repo = makeHostileRepo(path.join(DEMO, 'tree'));
  const server = await startServer(repo.tree, { trusted: true, env: envFor(repo), settings: { kernelConfig: fifo() } });
  try {
    const uri = pathToFileURL(path.join(repo.tree, 'fix-proc-stats.patch')).toString();
    server.open(uri, 'diff', demoPatch);
    const codes = (await server.diagnostics(uri)).diagnostics.map((d) => String(d.code));
    assert.ok(codes.includes('struct-layout'), codes.join());
    for (let i = 0; i < 50 && !server.messages.length; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      server.messages.some((m) => /livepatch\.kernelConfig: config '.*' is not a regular file; it is ignored/.test(m.message)),
      JSON.stringify(server.messages),
    );
  } finally {
    await stop(server);
  }
});
