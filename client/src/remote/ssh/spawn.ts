// The pieces of one ssh process that do not depend on the target: how its output is
// collected, and the private file its own messages (-E) go to.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

/** One output stream of an ssh process: decoded as UTF-8, the tail kept up to `max` characters. */
export class Collector {
  private readonly decoder = new StringDecoder('utf8');
  private text = '';
  constructor(
    private readonly max: number,
    private readonly on?: (chunk: string) => void,
  ) {}
  push(buf: Buffer): void {
    this.add(this.decoder.write(buf));
  }
  end(): string {
    this.add(this.decoder.end());
    return this.text;
  }
  private add(s: string): void {
    if (!s) return;
    this.text += s;
    if (this.text.length > this.max) this.text = this.text.slice(this.text.length - this.max);
    this.on?.(s);
  }
}

/** One ssh process to run: its arguments, remote command, stdin and limits. */
export interface SpawnSpec {
  args: string[];
  remote?: string;
  stdin: { kind: 'keepalive'; data?: Buffer } | { kind: 'file'; path: string } | { kind: 'buffer'; data: Buffer } | { kind: 'none' };
  timeoutMs?: number;
  signal?: AbortSignal;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  maxBuffer?: number;
  sudo: boolean;
  /** Classify failures (off for the fingerprint probe, which is expected to fail). */
  classify: boolean;
}

let logDir: string | null | undefined;
let logSeq = 0;

/** A fresh path for one ssh call's -E log, in a private directory removed at exit (null: none). */
export function sshLogFile(): string | null {
  if (logDir === undefined) {
    try {
      logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-sshlog-'));
      fs.chmodSync(logDir, 0o700);
      const dir = logDir;
      process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    } catch {
      logDir = null;
    }
  }
  return logDir === null ? null : path.join(logDir, `${process.pid}-${++logSeq}.log`);
}
