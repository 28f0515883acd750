// Findings and refusals as they leave the engine. The engine counts lines from 0; every
// reader outside it (livepatch-check --format json, the VS Code commands, editors and CI
// parsing the text output) counts from 1. toWireFinding is the one place that converts; the
// language server's protocol (server/src/protocol) sends these same objects.

import type { Finding } from '../model';
import type { Refusal } from '../generate/moduleGenerator';

/** A finding on the wire: the `findings[]` entry of the JSON contract (version 1), also in AnalyzeWorkspaceChangesResult. */
export interface WireFinding {
  rule: string;
  severity: 'error' | 'warning' | 'info';
  /** Tree-relative path. */
  file: string;
  /** 1-based lines of the image named by `image` (post: the working tree). */
  line: number;
  endLine: number;
  image: 'pre' | 'post';
  function: string | null;
  symbol: string | null;
  message: string;
  /** Name of the patch the finding comes from, when the analysis knows it. */
  patch: string | null;
  /** 1-based line in that patch, when the finding maps to one. */
  patchLine: number | null;
  related: { file: string; line: number; image: 'pre' | 'post'; message: string }[];
}

/** `patches`: the analysis's patch list, to name the patch a finding comes from. */
export function toWireFinding(f: Finding, patches: readonly { name: string }[] = []): WireFinding {
  return {
    rule: f.rule,
    severity: f.severity,
    file: f.file,
    line: f.line + 1,
    endLine: f.endLine + 1,
    image: f.image,
    function: f.function,
    symbol: f.symbol,
    message: f.message,
    patch: f.patchIndex !== undefined ? (patches[f.patchIndex]?.name ?? null) : null,
    patchLine: f.patchLine !== undefined ? f.patchLine + 1 : null,
    related: f.related.map((x) => ({ file: x.file, line: x.line + 1, image: x.image ?? 'post', message: x.message })),
  };
}

/** Why a module cannot be generated. `line` stays 0-based, as the engine gives it; formatRefusal prints it 1-based. */
export type WireRefusal = Refusal;

export { formatRefusal } from '../generate/refusals';
