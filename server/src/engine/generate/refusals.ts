// How a refusal reads as a line: `file:line: symbol: message`, the line 1-based. The one
// formatter behind GenerateError's message, the CLIs and the VS Code commands.

import type { Refusal } from './moduleGenerator';

export function formatRefusal(r: Refusal): string {
  return `${r.file ? `${r.file}:${(r.line ?? 0) + 1}: ` : ''}${r.symbol}: ${r.message}`;
}
