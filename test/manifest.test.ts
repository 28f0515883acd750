// The extension manifest and the code agree: every contributed command has a
// handler, settings that choose hosts or commands are restricted in untrusted
// workspaces and not resource-scoped, and the package ships what it needs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** The client's own sources (no tests, no test support), by path. */
function clientSources(dir = path.join(root, 'client', 'src')): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'testing' && e.name !== 'fixtures') for (const [k, v] of clientSources(p)) out.set(k, v);
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
      out.set(p, fs.readFileSync(p, 'utf8'));
    }
  }
  return out;
}

/**
 * Command ids the client registers: `registerCommand('<id>', …)`, or a call of a local helper
 * that passes its first argument on to registerCommand (`const reg = (id, fn) => …registerCommand(id, fn)`).
 * A mention elsewhere (executeCommand, a string in a test) does not count.
 */
export function registeredCommands(sources: Iterable<string>): Set<string> {
  const ids = new Set<string>();
  for (const raw of sources) {
    // Comments out first: a registration quoted in a comment is not one.
    const src = raw.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"\w])\/\/.*$/gm, '$1');
    for (const [, id] of src.matchAll(/\bregisterCommand\(\s*'([\w.]+)'/g)) ids.add(id);
    for (const [, helper, param] of src.matchAll(
      /\b(?:const|let|function)\s+(\w+)\s*=?\s*(?:async\s*)?\(\s*(\w+)[^)]*\)[^\n]*\bregisterCommand\(\s*(\w+)\b/g,
    )) {
      if (!new RegExp(`registerCommand\\(\\s*${param}\\b`).test(src)) continue;
      for (const [, id] of src.matchAll(new RegExp(`(?<![\\w.])${helper}\\(\\s*'([\\w.]+)'`, 'g'))) ids.add(id);
    }
  }
  return ids;
}

test('every contributed command is registered by the client', () => {
  const registered = registeredCommands(clientSources().values());
  for (const c of pkg.contributes.commands)
    assert.ok(registered.has(c.command), `${c.command} has no registerCommand in the client's sources`);
});

test('only a registration counts: a mention in executeCommand, a test or a comment does not', () => {
  assert.deepEqual(
    [
      ...registeredCommands([
        "const reg = (id: string, fn: () => void) => ctx.subscriptions.push(vscode.commands.registerCommand(id, fn));\nreg('a.one', f);\nvscode.commands.registerCommand('a.two', g); // reg('a.four')\n/* registerCommand('a.six', h) */",
        "void vscode.commands.executeCommand('a.three');\nconst x = 'a.five';",
      ]),
    ].sort(),
    ['a.one', 'a.two'],
  );
});

test('settings that pick hosts or commands are machine-scoped and restricted without trust', () => {
  const props = pkg.contributes.configuration.properties;
  const restricted: string[] = pkg.capabilities.untrustedWorkspaces.restrictedConfigurations;
  assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
  for (const key of ['livepatch.targets', 'livepatch.activeTarget', 'livepatch.ssh.path']) {
    assert.ok(restricted.includes(key), `${key} restricted`);
    assert.ok(['machine', 'application'].includes(props[key].scope), `${key} scope`);
  }
  assert.equal(props['livepatch.baseRef'].scope, 'resource');
});

test('settings the language server hands to git or reads as files are restricted without trust', () => {
  // baseRef reaches git (as a resolved hash), kernelConfig is opened and read: a workspace must not pick them.
  const restricted: string[] = pkg.capabilities.untrustedWorkspaces.restrictedConfigurations;
  for (const key of ['livepatch.baseRef', 'livepatch.kernelConfig']) assert.ok(restricted.includes(key), `${key} restricted`);
});

test('the VSIX allowlist ships the bundles, both wasm files, grammars and rule pages', () => {
  const ignore = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8');
  assert.match(ignore, /^\*\*$/m);
  for (const f of [
    'dist/client.js',
    'dist/server.js',
    'dist/tree-sitter.wasm',
    'dist/tree-sitter-c.wasm',
    'syntaxes/*.tmLanguage.json',
    'docs/rules/*.md',
  ]) {
    assert.ok(ignore.includes(`!${f}`), f);
  }
  for (const g of pkg.contributes.grammars) assert.ok(fs.existsSync(path.join(root, g.path)), g.path);
  assert.equal(pkg.bin['livepatch-check'], 'dist/livepatch-check.js');
});

test('the walkthrough links only to real commands and ships its pages', () => {
  const commands = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));
  for (const view of Object.values(pkg.contributes.views).flat() as { id: string }[]) commands.add(`${view.id}.focus`);
  const [walk] = pkg.contributes.walkthroughs;
  assert.ok(walk.steps.length >= 4);
  for (const step of walk.steps) {
    assert.ok(fs.existsSync(path.join(root, step.media.markdown)), step.media.markdown);
    for (const [, cmd] of step.description.matchAll(/\(command:([\w.]+)\)/g)) assert.ok(commands.has(cmd), `${step.id} links to ${cmd}`);
    for (const ev of step.completionEvents) {
      const m = /^onCommand:(.+)$/.exec(ev);
      if (m) assert.ok(commands.has(m[1]), `${step.id} completes on ${m[1]}`);
    }
  }
});
