// Custom LSP requests shared by the server and the VS Code client. Kept free of
// runtime imports from either side so both bundles can include it.

import type { PatchedUnitModule } from '../engine/generate/patchedUnit';

export interface AnalyzeWorkspaceChangesParams {
  /** A file or folder inside the kernel tree; defaults to the first kernel-tree workspace folder. */
  uri?: string;
  /** Base ref to diff against; defaults to the `livepatch.baseRef` setting. */
  baseRef?: string;
}

export interface WireFinding {
  rule: string;
  severity: 'error' | 'warning' | 'info';
  /** Tree-relative path. */
  file: string;
  /** 1-based post-image (working tree) lines. */
  line: number;
  endLine: number;
  function: string | null;
  symbol: string | null;
  message: string;
  related: { file: string; line: number; message: string }[];
}

export interface AnalyzeWorkspaceChangesResult {
  /** Absolute path of the kernel tree, or null when none was found. */
  tree: string | null;
  baseRef: string;
  /** The unified diff that was analysed (working tree and open buffers vs the base). */
  diff: string;
  files: string[];
  findings: WireFinding[];
  notes: string[];
}

export const AnalyzeWorkspaceChangesRequest = 'livepatch/analyzeWorkspaceChanges';

export interface GenerateModuleParams {
  /** The patch text to turn into a module (a .patch document, or the working-tree diff). */
  patch: string;
  /** A file or folder inside the kernel tree the patch applies to. */
  uri?: string;
  name: string;
  replace?: boolean;
  /** The target's Module.symvers and /proc/kallsyms, when the client could read them. */
  symvers?: string;
  kallsyms?: string;
  /** 'unit': compile the patched file itself (patchedUnit.ts), for a build on the client's machine; default: the closure generator. */
  generator?: 'closure' | 'unit';
}

export type GenerateModuleResult =
  | {
    ok: true; name: string; files: Record<string, string>; functions: { object: string; oldName: string; newName: string }[]; unverified: string[];
    /** The patched-unit module (generator 'unit'): what the host build needs. */
    unit?: PatchedUnitModule;
  }
  | { ok: false; refusals: { symbol: string; file: string | null; line: number | null; message: string }[] };

export const GenerateModuleRequest = 'livepatch/generateModule';

export interface LocateBuildReferencesParams {
  /** The kernel tree (a folder inside it) the build ran from. */
  uri: string;
  /** Tree-relative files the patch touches; searched first. */
  files: string[];
  /** Names and places from build output (see BuildReference in engine/locate). */
  references: { object?: string; function?: string; symbol?: string; section?: string; file?: string; line?: number }[];
}

/** One entry per reference: where in the tree it is (0-based lines), or null. */
export type LocateBuildReferencesResult = ({ file: string; line: number; endLine: number; what: string } | null)[];

export const LocateBuildReferencesRequest = 'livepatch/locateBuildReferences';

/**
 * Client -> server: the workspace's trust changed (VS Code: trust granted).
 * At start the client sends `workspaceTrusted` in initializationOptions; a
 * client that says nothing gets an untrusted workspace: git is not run in it.
 */
export interface DidChangeWorkspaceTrustParams {
  trusted: boolean;
}

export const DidChangeWorkspaceTrustNotification = 'livepatch/didChangeWorkspaceTrust';
