// Debounced, cancellable validation per document. A new edit cancels the
// pending or running analysis of that document; results computed for an older
// version are dropped, never published.

export type Validate = (uri: string, version: number, isCancelled: () => boolean) => Promise<void>;

interface Pending {
  timer: NodeJS.Timeout | null;
  cancelled: boolean;
  version: number;
}

export class ValidationQueue {
  private pending = new Map<string, Pending>();

  constructor(
    private readonly validate: Validate,
    private readonly delayMs: () => number,
  ) {}

  /** Schedules validation of `version`; cancels whatever was scheduled or running for the URI. */
  schedule(uri: string, version: number, immediate = false): void {
    this.cancel(uri);
    const p: Pending = { timer: null, cancelled: false, version };
    this.pending.set(uri, p);
    const run = () => {
      p.timer = null;
      void this.validate(uri, version, () => p.cancelled).finally(() => {
        if (this.pending.get(uri) === p) this.pending.delete(uri);
      });
    };
    const delay = immediate ? 0 : this.delayMs();
    if (delay <= 0) setImmediate(run);
    else p.timer = setTimeout(run, delay);
  }

  cancel(uri: string): void {
    const p = this.pending.get(uri);
    if (!p) return;
    p.cancelled = true;
    if (p.timer) clearTimeout(p.timer);
    this.pending.delete(uri);
  }

  isLatest(uri: string, version: number): boolean {
    const p = this.pending.get(uri);
    return !p || p.version === version;
  }
}
