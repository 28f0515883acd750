// The language server with the preprocessor's view: once the target's facts name a release
// whose headers package is installed, an opened kernel file is preprocessed off the keystroke
// path and checked again; DEFINE_IDTENTRY_RAW's noinstr becomes the notrace error. An edit
// never waits for gcc: the edited buffer is not preprocessed.

import { describe, it, before, after } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startServer, makeGitTree, ROOT, type TestServer } from '../../../testing/lspClient';
import { tempDir } from '../../../testing/tempDir';
import { headersRoot, installedHeaders, kernelHeaders } from '../../../testing/requirements';
import { DidChangeTargetFactsNotification } from '../protocol';

const CASE = path.join(ROOT, 'server/src/build/fixtures/expand/idtentry');
const REL = 'arch/x86/kernel/demo_entry.c';

describe("the preprocessor's view in the language server", { skip: kernelHeaders(), timeout: 120_000 }, () => {
  let server: TestServer;
  let tree: string;
  before(async () => {
    tree = makeGitTree(path.join(CASE, 'before'), tempDir('klp-lsp-expand-'));
    server = await startServer(tree, { env: { KLP_HEADERS_ROOT: headersRoot() } });
  });
  after(async () => {
    await server?.stop();
  });

  it('facts naming an installed release: the opened file is preprocessed and notrace becomes an error', async () => {
    const release = installedHeaders()!.replace(/^linux-headers-/, '');
    const dir = tempDir('klp-lsp-expand-facts-');
    fs.writeFileSync(path.join(dir, 'kallsyms'), 'ffffffff81001000 T demo_read\n');
    const uri = pathToFileURL(path.join(tree, REL)).toString();
    const after = fs.readFileSync(path.join(CASE, 'after', REL), 'utf8');
    server.open(uri, 'c', after);
    const first = (await server.diagnostics(uri, 1)).diagnostics;
    assert.ok(!first.some((d) => d.code === 'notrace'), 'raw view: no notrace finding');
    void server.conn.sendNotification(DidChangeTargetFactsNotification, {
      facts: { target: 'vm', release, kallsyms: path.join(dir, 'kallsyms'), symvers: null, config: null },
    });
    // With the facts, then (gcc done in the background) with the view.
    let found: string | undefined;
    for (let i = 0; i < 6 && !found; i++) {
      const ds = (await server.diagnostics(uri, 1)).diagnostics;
      found = ds.find((d) => d.code === 'notrace' && /exc_demo_trap/.test(String(d.message)))?.message as string | undefined;
    }
    assert.ok(found, 'the notrace error arrives once the view is ready');
    assert.match(found, /DEFINE_IDTENTRY_RAW\(exc_demo_trap\)/);

    // An edit: the edited buffer is not preprocessed; the pre-image's view still stands in.
    const t0 = Date.now();
    server.change(uri, 2, [{ text: `${after}\n` }]);
    const ds = (await server.diagnostics(uri, 2)).diagnostics;
    assert.ok(ds.some((d) => d.code === 'notrace' && /exc_demo_trap/.test(String(d.message))));
    assert.ok(Date.now() - t0 < 5000);
  });
});
