// The language server's own requests and notifications, typed: one constant per method, as
// rust-analyzer's lsp_ext.ts does. The client sends and the server handles the same constant,
// so a changed parameter or result type fails to compile on both sides.

import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import type { PatchedUnitModule } from '../engine/generate/patchedUnit';
import type { WireFinding, WireRefusal } from '../engine/report/wire';

export interface AnalyzeWorkspaceChangesParams {
  /** A file or folder inside the kernel tree; defaults to the first kernel-tree workspace folder. */
  uri?: string;
  /** Base ref to diff against; defaults to the `livepatch.baseRef` setting. */
  baseRef?: string;
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

/** All findings for the working tree (and unsaved open buffers) against the base ref. */
export const AnalyzeWorkspaceChangesRequest = new RequestType<AnalyzeWorkspaceChangesParams, AnalyzeWorkspaceChangesResult, void>(
  'livepatch/analyzeWorkspaceChanges',
);

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
  /** Generate despite error-level findings: the user chose Build Anyway. */
  allowFindings?: boolean;
}

export type GenerateModuleResult =
  | {
      ok: true;
      name: string;
      files: Record<string, string>;
      functions: { object: string; oldName: string; newName: string }[];
      unverified: string[];
      /** The patched-unit module (generator 'unit'): what the host build needs. */
      unit?: PatchedUnitModule;
    }
  | { ok: false; refusals: WireRefusal[] };

/** A kbuild livepatch module for a patch, or the reasons it cannot be generated. */
export const GenerateModuleRequest = new RequestType<GenerateModuleParams, GenerateModuleResult, void>('livepatch/generateModule');

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

/** Build output names functions, sections and symbols: where they are in the tree. */
export const LocateBuildReferencesRequest = new RequestType<LocateBuildReferencesParams, LocateBuildReferencesResult, void>(
  'livepatch/locateBuildReferences',
);

/**
 * Client -> server: the workspace's trust changed (VS Code: trust granted).
 * At start the client sends `workspaceTrusted` in initializationOptions; a
 * client that says nothing gets an untrusted workspace: git is not run in it.
 */
export interface DidChangeWorkspaceTrustParams {
  trusted: boolean;
}

export const DidChangeWorkspaceTrustNotification = new NotificationType<DidChangeWorkspaceTrustParams>('livepatch/didChangeWorkspaceTrust');

/**
 * Client -> server: the active target's facts, as files the client cached for its kernel
 * release (targets/<release>/ in the extension's storage). Sent once per target and release,
 * not per edit; `null` facts: no target (or it cannot be read), so the rules hedge again.
 * The server reads and parses the files once and re-checks the open documents.
 */
export interface DidChangeTargetFactsParams {
  facts: {
    /** The target's name in livepatch.targets, for the server's log. */
    target: string;
    /** `uname -r` of the target. */
    release: string;
    /** Paths on this machine; null for what the target does not have. */
    kallsyms: string | null;
    symvers: string | null;
    config: string | null;
  } | null;
}

export const DidChangeTargetFactsNotification = new NotificationType<DidChangeTargetFactsParams>('livepatch/didChangeTargetFacts');
