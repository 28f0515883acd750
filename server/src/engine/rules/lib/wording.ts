// Phrases shared by finding messages: a function's name, a list of names, a count with its noun.

import type { FunctionDef } from '../../model';

/** `name()` or the syscall form, for messages. */
export function describeFunction(fn: FunctionDef): string {
  return fn.syscallMacro ? `${fn.syscallMacro}(${fn.name})` : `${fn.name}()`;
}

/** "a(), b() and 3 more". */
export function listNames(names: string[], cap = 5): string {
  const shown = names.slice(0, cap);
  const rest = names.length - shown.length;
  if (rest > 0) return `${shown.join(', ')} and ${rest} more`;
  if (shown.length <= 1) return shown.join('');
  return `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
