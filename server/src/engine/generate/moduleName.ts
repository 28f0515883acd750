// One module-name rule for every path that names a generated livepatch module: the name is
// the module's name, its /sys/kernel/livepatch directory and a prefix of C identifiers.
// No VS Code or Node imports beyond path: the client bundles it too.

import * as path from 'node:path';

/** MODULE_NAME_LEN is 56 with the NUL on 64-bit kernels. */
export const MAX_MODULE_NAME = 55;
const NOT_NAME_CHARS = /[^A-Za-z0-9_]+/g;

/** Why `name` cannot name a generated module, or null when it can. */
export function moduleNameProblem(name: string): string | null {
  if (!name) return 'it is empty';
  if (name.length > MAX_MODULE_NAME) return `it is ${name.length} characters long, and the kernel takes at most ${MAX_MODULE_NAME}`;
  const bad = /[^A-Za-z0-9_]/.exec(name);
  if (bad) return `it contains ${JSON.stringify(bad[0])}; use letters, digits and '_' only`;
  if (/^[0-9]/.test(name)) return 'it starts with a digit (it also prefixes C identifiers)';
  return null;
}

/** Throws with a clear message when `name` cannot name a generated module. */
export function checkModuleName(name: string): string {
  const why = moduleNameProblem(name);
  if (why) throw new Error(`${JSON.stringify(name)} cannot be a module name: ${why}`);
  return name;
}

/** livepatch_<patch file name>, made to pass moduleNameProblem. */
export function moduleNameFrom(patchName: string): string {
  const base = path.basename(patchName).replace(/\.(patch|diff)$/, '');
  return ('livepatch_' + base.toLowerCase().replace(NOT_NAME_CHARS, '_')).replace(/_+/g, '_').slice(0, MAX_MODULE_NAME).replace(/_$/, '');
}
