// What a patched unit needs from its kernel tree besides the file: the `"..."` headers
// it reaches (a headers package has none of them) and its directory's kbuild flags.

import * as path from 'node:path';
import type { KernelTree } from '../../tree/kernelTree';

/** The `"..."` headers the file reaches (copied: a headers package has none of them) and its directory's flags. */
export function buildContext(
  file: string,
  text: string,
  tree: KernelTree,
): { headers: Map<string, string>; flags: string[]; missing: string[] } {
  const dir = path.posix.dirname(file);
  // The directory's flags first: their -I directories are where `"..."` includes are found too
  // (fs/xfs: `-I $(srctree)/$(src)/libxfs`).
  const flags = [`-I$(src)/src/${dir}`];
  const includeDirs: string[] = [];
  const mk = tree.makefile(dir) ?? '';
  const base = path.posix.basename(file, '.c');
  for (const line of mk.split('\n')) {
    const m = new RegExp(`^\\s*(?:ccflags-y|EXTRA_CFLAGS|CFLAGS_${base.replace(/[.+]/g, '\\$&')}\\.o)\\s*[:+]?=\\s*([^#]*)`).exec(line);
    if (!m) continue;
    const value = m[1].replace(/\$\(srctree\)\/\$\(src\)|\$\(src\)|\$\(obj\)/g, `$(src)/src/${dir}`).trim();
    if (!value) continue;
    flags.push(value);
    for (const inc of value.matchAll(/-I\s*\$\(src\)\/src\/(\S+)/g)) includeDirs.push(path.posix.normalize(inc[1]));
  }
  const headers = new Map<string, string>();
  const missing: string[] = [];
  const queue: { from: string; text: string }[] = [{ from: dir, text }];
  while (queue.length) {
    const { from, text: t } = queue.pop()!;
    for (const m of t.matchAll(/^[ \t]*#[ \t]*include[ \t]*"([^"]+)"/gm)) {
      if (m[1] === 'kpatch-macros.h' || m[1] === 'kpatch-syscall.h') continue; // provided: KPATCH_MACROS, KPATCH_SYSCALL
      let found: { rel: string; content: string } | null = null;
      for (const d of [from, dir, ...includeDirs]) {
        const rel = path.posix.normalize(path.posix.join(d, m[1]));
        if (rel.startsWith('..')) continue;
        if (headers.has(rel)) {
          found = { rel, content: '' };
          break;
        }
        const content = tree.readFile(rel);
        if (content !== null) {
          found = { rel, content };
          break;
        }
      }
      if (!found) {
        // The C file's own includes must exist; a header's may sit under an #if.
        if (from === dir && t === text) missing.push(m[1]);
        continue;
      }
      if (headers.has(found.rel)) continue;
      headers.set(found.rel, found.content);
      queue.push({ from: path.posix.dirname(found.rel), text: found.content });
    }
  }
  for (const d of includeDirs) headers.set(`${d}/.keep`, '');
  return { headers, flags, missing };
}
