// Remote words: the remote command ssh sends is one string the login shell parses, so every
// word of it is quoted here, and names and paths are checked before they get that far.

import { SshError } from './errors';

const SAFE_WORD = /^[A-Za-z0-9_/.:@+-][A-Za-z0-9_/.,:=@+-]*$/;

/**
 * POSIX single-quote one remote word. The remote command ssh sends is a string that the
 * login shell parses, so every word of it is built through this function.
 */
export function shQuote(word: string): string {
  if (word.includes('\0')) throw new SshError('invalid-argument', 'A remote argument contains a NUL byte.');
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Quote and join argv into the one string the remote shell will run. */
export function shJoin(argv: readonly string[]): string {
  return argv.map(shQuote).join(' ');
}

const MODULE_NAME = /^[A-Za-z0-9_-]+$/;

/** A kernel module name that may reach the remote shell: `[A-Za-z0-9_-]+`. */
export function assertModuleName(name: string): string {
  // MODULE_NAME_LEN is 56 with the NUL on 64-bit kernels.
  if (!MODULE_NAME.test(name) || name.length > 55) {
    throw new SshError('invalid-argument', `Not a valid module name: ${JSON.stringify(name)} (1-55 letters, digits, '_' or '-').`);
  }
  return name;
}

/** A remote path: no NUL or newline, not empty, not starting with '-' (it would read as an option). */
export function assertRemotePath(p: string): string {
  if (!p || /[\0\n\r]/.test(p) || p.startsWith('-')) {
    throw new SshError('invalid-argument', `Not a usable remote path: ${JSON.stringify(p)}.`);
  }
  return p;
}
