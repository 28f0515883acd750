// Indexes of tree files kept on disk between CLI runs: an author checks the same
// patch against the same tree again and again, and every run parsed and indexed the
// same pre-images and headers from scratch. An entry is keyed by the file's path and
// content and by the engine build that made it, so a changed file, a rebuilt engine
// or another tree simply misses; a damaged entry is a miss too. With a stored
// pre-image index, the post-image is parsed only where the patch changed it
// (engine/parse/slice.ts).
//
// Pre-images, the headers rules read and post-images go in: the same patch checked again
// (a CI job run anew, an author who fixed one file of three) then parses nothing.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import type { FileIndex } from '../model';
import { fromStoredIndex, toStoredIndex, type StoredIndex } from './indexer';
import type { RootItems } from '../parse/slice';
import { blank } from '../parse/blank';
import * as timings from '../util/timings';

/** What the store keeps per file, and what a slice parse gives back: its index, its top-level items and its blanked text (for slice parses). */
export interface StoredFile {
  index: FileIndex;
  items: RootItems;
  /** The text as the parser saw it (parse/blank.ts). */
  blanked: string;
}

// An entry is two files: the index, which every run that hits it reads, and the top-level
// items and blanked text, which only a slice parse of a post-image reads. A run that finds
// both images of every file (the same patch checked again) reads a tenth of the bytes.
interface Entry {
  format: number;
  path: string;
  index: StoredIndex;
}

interface AuxEntry {
  format: number;
  path: string;
  items: RootItems;
  blanked: string;
}

/** A stored index whose items and blanked text are gone or damaged (a slice parse then gives way to a whole parse). */
export class IndexStoreMiss extends Error {
  constructor(file: string) {
    super(`index store: ${file} cannot be read`);
    this.name = 'IndexStoreMiss';
  }
}

interface KeptEntry {
  format: number;
  kind: string;
  input: string;
  value: unknown;
}

const FORMAT = 4;
/** A build id: 16 hex digits (see esbuild.mjs). */
export const BUILD_ID = /^[0-9a-f]{16}$/;
/** Bytes per build (an entry is 50 KB to 1.5 MB); past it, the oldest entries go down to half of it. */
export const MAX_BYTES = 256 * 1024 * 1024;

export class IndexStore {
  private readonly pending = new Map<string, () => Entry | AuxEntry | KeptEntry>();

  /**
   * @param root the folder of all builds' stores (`~/.cache/kernel-livepatch/index`)
   * @param buildId names the engine build: an index made by other code is never read
   * @param maxBytes the store's size bound (a kernel-wide run must not fill the disk)
   */
  constructor(
    readonly root: string,
    readonly buildId: string,
    private readonly maxBytes = MAX_BYTES,
  ) {
    if (!BUILD_ID.test(buildId)) throw new Error(`index store: build id '${buildId}' is not 16 hex digits`);
  }

  private get dir(): string {
    return path.join(this.root, this.buildId);
  }

  /** The entry file for a key of two strings (path and text, or kind and input). */
  private fileFor(first: string, second: string, suffix = '.bin'): string {
    const h = createHash('sha1').update(first).update('\0').update(second).digest('hex');
    return path.join(this.dir, `${h}${suffix}`);
  }

  /**
   * The stored index of `text` at `filePath`, or null. Its items and blanked text are read
   * on first use, and throw IndexStoreMiss if they cannot be.
   */
  get(filePath: string, text: string): StoredFile | null {
    return timings.timed('index store', () => {
      const file = this.fileFor(filePath, text);
      let entry: Entry;
      try {
        entry = v8.deserialize(fs.readFileSync(file)) as Entry;
      } catch {
        return null; // not stored, or unreadable
      }
      if (!entry || entry.format !== FORMAT || entry.path !== filePath || !entry.index) return null;
      const index = fromStoredIndex(entry.index, filePath, text);
      let aux: AuxEntry | null = null;
      const readAux = (): AuxEntry => {
        if (aux) return aux;
        const name = auxFile(file);
        try {
          aux = timings.timed('index store', () => v8.deserialize(fs.readFileSync(name)) as AuxEntry);
        } catch {
          throw new IndexStoreMiss(name);
        }
        if (!aux || aux.format !== FORMAT || aux.path !== filePath || !aux.items || aux.blanked?.length !== text.length) {
          aux = null;
          throw new IndexStoreMiss(name);
        }
        return aux;
      };
      return {
        index,
        get items() {
          return readAux().items;
        },
        get blanked() {
          return readAux().blanked;
        },
      };
    });
  }

  /** Keeps `index` for the next run; written by flush(), after the run's output (which blanks the text if `blanked` is not given). */
  put(filePath: string, text: string, index: FileIndex, items: RootItems, blanked?: string): void {
    const file = this.fileFor(filePath, text);
    this.pending.set(file, () => ({ format: FORMAT, path: filePath, index: toStoredIndex(index) }));
    this.pending.set(auxFile(file), () => ({ format: FORMAT, path: filePath, items, blanked: blanked ?? blank(text) }));
  }

  /**
   * A value that depends on `input` alone (a rule's parse of one function's text), kept
   * like an index: a run whose indexes are all stored then parses nothing. `compute` runs
   * on a miss; its value must survive v8.serialize and is not to be changed by the caller.
   */
  kept<T>(kind: string, input: string, compute: () => T): T {
    const file = this.fileFor(kind, input, '.kept.bin');
    const hit = timings.timed('index store', () => {
      try {
        const e = v8.deserialize(fs.readFileSync(file)) as KeptEntry;
        return e && e.format === FORMAT && e.kind === kind && e.input === input ? e : null;
      } catch {
        return null; // not kept yet, or unreadable
      }
    });
    if (hit) return hit.value as T;
    const value = compute();
    this.pending.set(file, () => ({ format: FORMAT, kind, input, value }));
    return value;
  }

  /** Writes what put() and kept() kept. A store that cannot be written only costs the next run time. */
  flush(): void {
    if (!this.pending.size) return;
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      for (const [file, make] of this.pending) {
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, v8.serialize(make()));
        fs.renameSync(tmp, file);
      }
      this.prune();
    } catch {
      // read-only or full: the next run parses again
    } finally {
      this.pending.clear();
    }
  }

  /** Drops other builds' stores, and this one's oldest entries past maxBytes, down to half of it. */
  private prune(): void {
    for (const d of fs.readdirSync(this.root)) {
      // Only what looks like another build's store: the root may be a folder the user named.
      if (d !== this.buildId && BUILD_ID.test(d)) fs.rmSync(path.join(this.root, d), { recursive: true, force: true });
    }
    const aged = fs
      .readdirSync(this.dir)
      .filter((n) => n.endsWith('.bin'))
      .map((n) => {
        try {
          const st = fs.statSync(path.join(this.dir, n));
          return { n, t: st.mtimeMs, size: st.size };
        } catch {
          return { n, t: 0, size: 0 };
        }
      })
      .sort((a, b) => a.t - b.t);
    let total = aged.reduce((s, a) => s + a.size, 0);
    if (total <= this.maxBytes) return;
    for (const { n, size } of aged) {
      if (total <= this.maxBytes / 2) break;
      fs.rmSync(path.join(this.dir, n), { force: true });
      total -= size;
    }
  }
}

/** The file of an entry's items and blanked text. */
function auxFile(file: string): string {
  return file.replace(/\.bin$/, '.aux.bin');
}
