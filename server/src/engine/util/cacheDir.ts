// Where the tools keep what they work out once and reuse: `~/.cache/kernel-livepatch`,
// or `$KLP_CACHE`. Each cache has its own folder under it (grep, index, v8, preprocess).

import * as os from 'node:os';
import * as path from 'node:path';

/** `$KLP_CACHE/<parts>`, or `~/.cache/kernel-livepatch/<parts>`. */
export function cacheDir(...parts: string[]): string {
  return path.join(process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch'), ...parts);
}
