// VS Code entry point: starts the livepatch language server and wires the
// client-side features (commands, status bar, the Livepatch view). Each
// feature lives in its own module; this file only connects them.

import * as path from 'node:path';
import * as vscode from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { Log } from './log';
import { registerCheckCommand } from './commands/checkPatch';
import { registerRemoteCommands } from './commands/remote';
import { Targets } from './targets';
import { StateView } from './views/stateTree';
import { DidChangeTargetFactsNotification, DidChangeWorkspaceTrustNotification } from '../../server/src/protocol';
import { TargetFactsSync } from './deploy/targetFacts';

let client: LanguageClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const log = new Log();
  context.subscriptions.push(log);
  const serverModule = context.asAbsolutePath(path.join('dist', 'server.js'));
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.ipc },
    debug: { module: serverModule, transport: TransportKind.ipc, options: { execArgv: ['--nolazy', '--inspect=6011'] } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'diff' },
      { scheme: 'file', pattern: '**/*.{patch,diff}' },
      { scheme: 'file', language: 'c' },
    ],
    synchronize: { configurationSection: 'livepatch' },
    outputChannel: log.serverChannel,
    // The server runs no git in an untrusted workspace (the repository's config can name programs).
    initializationOptions: { workspaceTrusted: vscode.workspace.isTrusted },
  };
  client = new LanguageClient('livepatch', 'Livepatch Language Server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (err) {
    // VS Code does not surface activation failures by itself.
    void vscode.window.showErrorMessage(`Livepatch: cannot start the language server: ${(err as Error).message}`);
    log.error(`language server failed to start: ${(err as Error).stack ?? err}`);
    throw err;
  }
  void vscode.commands.executeCommand('setContext', 'livepatch.serverRunning', true);
  registerCheckCommand(context, client, log);

  const targets = new Targets(path.join(context.globalStorageUri.fsPath, 'ssh'));
  const view = new StateView(targets, log);
  const buildDiagnostics = vscode.languages.createDiagnosticCollection('livepatch-build');
  context.subscriptions.push(targets, view, buildDiagnostics, view.createView('livepatch.state'));
  registerRemoteCommands({ context, client, targets, view, log, buildDiagnostics });
  // The rules' target facts follow the active target's kernel release, which every state read
  // reports: read over SSH once per release (cached with the deploy path's kallsyms), never
  // in Restricted Mode.
  const facts = new TargetFactsSync({
    cacheDir: path.join(context.globalStorageUri.fsPath, 'targets'),
    send: (p) => client?.sendNotification(DidChangeTargetFactsNotification, p),
    log: (m) => log.info(m),
  });
  const active = () => {
    try {
      return targets.active();
    } catch {
      return undefined; // an invalid livepatch.targets: the view says why
    }
  };
  context.subscriptions.push(
    view.onDidChangeTreeData(() => void facts.update(active(), view.state?.kernelRelease || null, vscode.workspace.isTrusted)),
  );
  context.subscriptions.push(
    targets.onDidChange(() => void view.refresh()),
    // Trust granted later: the view can now talk to the target.
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      void client?.sendNotification(DidChangeWorkspaceTrustNotification, { trusted: true });
      void view.refresh();
    }),
  );
  void view.refresh();
  log.info('Livepatch extension activated');
}

export async function deactivate(): Promise<void> {
  await client?.stop();
  client = undefined;
}
