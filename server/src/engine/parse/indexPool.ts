// Indexing the changed files of a big run on more than one core. The main thread
// indexes the files in order, from the first; a worker thread (dist/index-worker.js)
// takes them from the last. Each file is claimed once, through a shared array, so
// the two meet in the middle and neither waits for work the other could not start:
// a worker still loading when the main thread is done has claimed nothing.
//
// Only the CLI uses it, for runs whose changed C files are big enough to pay for a
// worker's start (its own bundle and wasm parser: 40-60 ms on a 2-core machine).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { StoredIndex } from '../index/indexer';
import type { RootItems } from './slice';

/** One changed file: its pre- and post-image, indexed together (the post-image reparses the pre-image's tree). */
export interface IndexJob {
  prePath: string;
  postPath: string;
  pre: string;
  post: string;
}

/** What a worker sends back: both indexes, or the parse timeout's message. */
/**
 * A worker's indexes as plain data (toStoredIndex): a function's body facts are getters
 * computed on first use, which a message between threads does not carry.
 */
export type IndexResult = { pre: StoredIndex; post: StoredIndex; items: RootItems; postItems: RootItems } | { timeout: string };

export interface WorkerRequest {
  jobs: IndexJob[];
  /** Int32Array over it: 0 free, 1 claimed by the main thread, 2 by a worker. */
  claims: SharedArrayBuffer;
}

export type WorkerReply = { job: number; result: IndexResult };

export const FREE = 0;
export const MAIN = 1;
export const WORKER = 2;

/** Below this many bytes of changed C (pre + post), one thread is faster than starting a worker (KLP_POOL_MIN_BYTES overrides it, for tests). */
export const POOL_MIN_BYTES = 512 * 1024;

/** The worker script beside the running bundle; null when running from source (tests via tsx), or KLP_NO_WORKERS is set. */
export function workerScript(): string | null {
  if (process.env.KLP_NO_WORKERS) return null;
  const file = path.join(__dirname, 'index-worker.js');
  return fs.existsSync(file) ? file : null;
}

export class IndexPool {
  private readonly claims: Int32Array;
  private readonly results = new Map<number, IndexResult>();
  private readonly waiting = new Map<number, () => void>();
  private readonly workers: Worker[] = [];
  private running = 0;
  /** Every worker has exited: a result not in yet never comes. */
  private stopped = false;

  /** Null when a pool would not pay (too little work, one core, no worker script): index in this thread. */
  static start(jobs: IndexJob[], opts: { minBytes?: number; script?: string } = {}): IndexPool | null {
    const minBytes = opts.minBytes ?? Number(process.env.KLP_POOL_MIN_BYTES ?? POOL_MIN_BYTES);
    const script = opts.script ?? workerScript();
    const bytes = jobs.reduce((n, j) => n + j.pre.length + j.post.length, 0);
    const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    if (!script || jobs.length < 2 || bytes < minBytes || cores < 2) return null;
    return new IndexPool(script, jobs, Math.min(cores - 1, 3));
  }

  private constructor(script: string, jobs: IndexJob[], workers: number) {
    const shared = new SharedArrayBuffer(jobs.length * 4);
    this.claims = new Int32Array(shared);
    const request: WorkerRequest = { jobs, claims: shared };
    // Required here, not imported: loading worker_threads costs every CLI run 1-2 ms, and most never start a worker.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Worker: WorkerThread } = require('node:worker_threads') as typeof import('node:worker_threads');
    for (let i = 0; i < workers; i++) {
      const w = new WorkerThread(script, { workerData: request });
      this.running++;
      w.on('message', (m: WorkerReply) => this.receive(m));
      // An uncaught error ends the worker: 'exit' follows, and what it held is done here.
      w.on('error', () => {});
      w.on('exit', () => {
        if (--this.running === 0) this.stop();
      });
      this.workers.push(w);
    }
  }

  /** Claims job `i` for this thread: true when no worker had it. */
  claim(i: number): boolean {
    return Atomics.compareExchange(this.claims, i, FREE, MAIN) === FREE;
  }

  /** Whether a worker holds job `i` (false also while it is free). */
  claimedByWorker(i: number): boolean {
    return Atomics.load(this.claims, i) === WORKER;
  }

  /**
   * The result of a job a worker claimed (after claim(i) returned false); null when the
   * worker failed or stopped without it, and the caller indexes the file itself.
   */
  async result(i: number): Promise<IndexResult | null> {
    for (;;) {
      const r = this.results.get(i);
      if (r) {
        this.results.delete(i);
        return r;
      }
      if (this.stopped) return null;
      await new Promise<void>((resolve) => this.waiting.set(i, resolve));
    }
  }

  /** Stops the workers (the jobs they hold are no longer wanted). The caller must: a running worker keeps the process up. */
  close(): void {
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }

  private receive(m: WorkerReply): void {
    if ('job' in m) {
      this.results.set(m.job, m.result);
      this.wake(m.job);
    }
  }

  private stop(): void {
    this.stopped = true;
    for (const i of [...this.waiting.keys()]) this.wake(i);
  }

  private wake(i: number): void {
    const w = this.waiting.get(i);
    if (w) {
      this.waiting.delete(i);
      w();
    }
  }
}
