// Temporary directories for tests, removed when the test process exits (node --test runs each
// test file in its own process), so runs do not pile up directories in /tmp.
// KLP_KEEP_TMP=1 keeps them for a post-mortem.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const made: string[] = [];

process.on('exit', () => {
  if (process.env.KLP_KEEP_TMP) return;
  for (const dir of made) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // a file the test login made and root cannot remove does not exist; nothing else to do
    }
  }
});

/** A new directory under the system temp dir (`prefix` names the test that made it). */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
