// Test support: the bundled server (dist/server.js) over stdio, driven by a real
// JSON-RPC client, and a throwaway kernel-style git tree.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  createProtocolConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type ProtocolConnection,
  InitializeRequest,
  InitializedNotification,
  PublishDiagnosticsNotification,
  type PublishDiagnosticsParams,
  DidOpenTextDocumentNotification,
  DidChangeTextDocumentNotification,
  ExitNotification,
  ShutdownRequest,
  ConfigurationRequest,
  ShowMessageNotification,
  type TextEdit,
} from 'vscode-languageserver-protocol/node';

/** The repository root: the nearest folder above this file with our package.json (works from src and dist). */
export const ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
})();

export interface TestServer {
  conn: ProtocolConnection;
  proc: ChildProcess;
  /** Resolves with the next diagnostics for `uri` (optionally of a given version). */
  diagnostics(uri: string, version?: number): Promise<PublishDiagnosticsParams>;
  open(uri: string, languageId: string, text: string, version?: number): void;
  change(
    uri: string,
    version: number,
    changes: { range?: { start: { line: number; character: number }; end: { line: number; character: number } }; text: string }[],
  ): void;
  settings: Record<string, unknown>;
  /** window/showMessage notifications so far. */
  messages: { type: number; message: string }[];
  stop(): Promise<void>;
}

/** `trusted` (default true) is the workspace trust the client reports; `env` adds to the server's environment. */
export async function startServer(
  workspace: string,
  opts: { settings?: Record<string, unknown>; debounceMs?: number; trusted?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<TestServer> {
  // KLP_SERVER_NODE_ARGS: node options for the server alone, e.g. "--cpu-prof" to profile a bench run.
  const nodeArgs = (process.env.KLP_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'dist', 'server.js'), '--stdio'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...opts.env },
  });
  const conn = createProtocolConnection(new StreamMessageReader(proc.stdout!), new StreamMessageWriter(proc.stdin!));
  const waiting: { uri: string; version?: number; resolve: (p: PublishDiagnosticsParams) => void }[] = [];
  const latest = new Map<string, PublishDiagnosticsParams[]>();
  conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
    const i = waiting.findIndex((w) => w.uri === p.uri && (w.version === undefined || w.version === p.version));
    if (i >= 0) waiting.splice(i, 1)[0].resolve(p);
    else latest.set(p.uri, [...(latest.get(p.uri) ?? []), p]);
  });
  const server: TestServer = {
    conn,
    proc,
    settings: opts.settings ?? {},
    messages: [],
    diagnostics(uri, version) {
      const queued = latest.get(uri)?.findIndex((p) => version === undefined || p.version === version) ?? -1;
      if (queued >= 0) return Promise.resolve(latest.get(uri)!.splice(queued, 1)[0]);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no diagnostics for ${uri} v${version}`)), 20000);
        waiting.push({ uri, version, resolve: (p) => (clearTimeout(t), resolve(p)) });
      });
    },
    open(uri, languageId, text, version = 1) {
      void conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri, languageId, version, text } });
    },
    change(uri, version, changes) {
      void conn.sendNotification(DidChangeTextDocumentNotification.type, {
        textDocument: { uri, version },
        contentChanges: changes as any,
      });
    },
    async stop() {
      await conn.sendRequest(ShutdownRequest.type);
      void conn.sendNotification(ExitNotification.type);
      conn.dispose();
      await new Promise((r) => proc.once('exit', r));
    },
  };
  conn.onRequest(ConfigurationRequest.type, (p) => p.items.map(() => server.settings));
  conn.onNotification(ShowMessageNotification.type, (p: { type: number; message: string }) => void server.messages.push(p));
  conn.listen();
  await conn.sendRequest(InitializeRequest.type, {
    processId: process.pid,
    rootUri: pathToFileURL(workspace).toString(),
    workspaceFolders: [{ uri: pathToFileURL(workspace).toString(), name: 'kernel' }],
    capabilities: {
      workspace: { configuration: true },
      textDocument: { publishDiagnostics: { relatedInformation: true, versionSupport: true } },
    },
    initializationOptions: { debounceMs: opts.debounceMs ?? 0, workspaceTrusted: opts.trusted ?? true },
  });
  void conn.sendNotification(InitializedNotification.type, {});
  return server;
}

/** Makes `dir` (the caller's temp dir) a git repository holding a copy of `from` (e.g. the demo tree), one commit. */
export function makeGitTree(from: string, dir: string): string {
  fs.cpSync(from, dir, { recursive: true });
  const g = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { stdio: 'ignore' });
  g('init', '-q');
  g('add', '-A');
  g('-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'base');
  return dir;
}

/** Applies LSP text edits (non-overlapping, any order) to a text. */
export function applyEdits(text: string, edits: TextEdit[]): string {
  const lines = text.split('\n');
  const offset = (p: { line: number; character: number }) => {
    let o = 0;
    for (let i = 0; i < p.line && i < lines.length; i++) o += lines[i].length + 1;
    return o + p.character;
  };
  const sorted = edits.map((e, i) => ({ e, i, s: offset(e.range.start), t: offset(e.range.end) })).sort((a, b) => b.s - a.s || b.i - a.i);
  let out = text;
  for (const { e, s, t } of sorted) out = out.slice(0, s) + e.newText + out.slice(t);
  return out;
}
