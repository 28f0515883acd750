// The server's view of the `livepatch.*` settings (resource scope).

import type { Severity } from '../engine/model';

export type SeveritySetting = 'error' | 'warning' | 'information' | 'hint' | 'off';

export interface Settings {
  baseRef: string;
  kernelConfig: string;
  /** Per rule id: severity override, or 'off' to disable. */
  rules: Record<string, { severity?: SeveritySetting }>;
  /** Debounce before validating after an edit, in ms. */
  debounceMs: number;
  /** Documents and changed files larger than this are not analysed (a not-analysed error says so). */
  maxFileBytes: number;
}

/** The largest livepatch.maxFileBytes honoured (package.json says the same). */
export const MAX_FILE_BYTES_LIMIT = 64 * 1024 * 1024;

export const defaultSettings: Settings = {
  baseRef: 'HEAD',
  kernelConfig: '',
  rules: {},
  debounceMs: 200,
  maxFileBytes: 4 * 1024 * 1024,
};

const SEVERITIES = new Set(['error', 'warning', 'information', 'hint', 'off']);

/** Merges a raw `livepatch` configuration section over the defaults, ignoring junk. */
export function readSettings(raw: unknown): Settings {
  const s: Settings = { ...defaultSettings, rules: {} };
  if (!raw || typeof raw !== 'object') return s;
  const r = raw as Record<string, unknown>;
  if (typeof r.baseRef === 'string' && r.baseRef.trim()) s.baseRef = r.baseRef.trim();
  if (typeof r.kernelConfig === 'string') s.kernelConfig = r.kernelConfig;
  if (typeof r.debounceMs === 'number' && r.debounceMs >= 0) s.debounceMs = r.debounceMs;
  // package.json's maximum only binds the settings editor: keep a hand-edited value sane too.
  if (typeof r.maxFileBytes === 'number' && r.maxFileBytes > 0) s.maxFileBytes = Math.min(r.maxFileBytes, MAX_FILE_BYTES_LIMIT);
  if (r.rules && typeof r.rules === 'object') {
    for (const [id, v] of Object.entries(r.rules as Record<string, unknown>)) {
      const sev = typeof v === 'string' ? v : (v as { severity?: unknown })?.severity;
      if (typeof sev === 'string' && SEVERITIES.has(sev)) s.rules[id] = { severity: sev as SeveritySetting };
    }
  }
  return s;
}

/** The severity a finding is shown with, or null when its rule is off. */
export function effectiveSeverity(settings: Settings, rule: string, severity: Severity): SeveritySetting | null {
  const o = settings.rules[rule]?.severity;
  if (o === 'off') return null;
  if (o) return o;
  return severity === 'info' ? 'information' : severity;
}
