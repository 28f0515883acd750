// One log output channel for the extension, one for the language server.
// The log is shown only on errors the user caused (rust-analyzer does the same).

import * as vscode from 'vscode';

export class Log implements vscode.Disposable {
  readonly channel = vscode.window.createOutputChannel('Livepatch', { log: true });
  readonly serverChannel = vscode.window.createOutputChannel('Livepatch Language Server', { log: true });

  info(msg: string): void {
    this.channel.info(msg);
  }
  warn(msg: string): void {
    this.channel.warn(msg);
  }
  error(msg: string, show = false): void {
    this.channel.error(msg);
    if (show) this.channel.show(true);
  }
  /** Streams remote output verbatim, line by line. */
  append(text: string): void {
    for (const line of text.split('\n')) if (line) this.channel.info(line);
  }
  dispose(): void {
    this.channel.dispose();
    this.serverChannel.dispose();
  }
}
