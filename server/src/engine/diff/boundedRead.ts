// Reading a patch with a bound: `yes | livepatch-check -`, /dev/zero or a FIFO that never
// ends must stop with a clear error instead of eating memory for ever.

import * as fs from 'node:fs';
import { PatchError } from './readPatch';

/** Patch inputs (files and standard input) bigger than this are refused. */
export const MAX_PATCH_BYTES = 64 * 1024 * 1024;

/** Reads `file` ('-': standard input) whole, or throws PatchError once it passes `max` bytes. */
export function readBounded(file: string, max = MAX_PATCH_BYTES): Buffer {
  const what = file === '-' ? 'standard input' : file;
  const tooBig = () => new PatchError(`${what} is bigger than ${max / 1048576} MB: not a patch this tool reads`);
  let fd: number;
  try {
    fd = file === '-' ? 0 : fs.openSync(file, 'r');
  } catch (err) {
    throw new PatchError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new PatchError(`cannot read ${file}: EISDIR`);
    // A regular file says its size: refuse before reading anything.
    if (st.isFile() && st.size > max) throw tooBig();
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Standard input in non-blocking mode (a pipe from some shells): wait and read again.
        if (code === 'EAGAIN') {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        if (code === 'EOF') break;
        throw new PatchError(`cannot read ${what}: ${code ?? (err as Error).message}`);
      }
      if (n === 0) break;
      total += n;
      if (total > max) throw tooBig();
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    return Buffer.concat(chunks, total);
  } finally {
    if (fd !== 0) fs.closeSync(fd);
  }
}
