// Loads a CommonJS bundle with a V8 code cache on disk, so a short-lived CLI does
// not recompile half a megabyte of JavaScript on every run (Node 20 has no
// module.enableCompileCache). The cache is written after the first run, when it
// also holds the functions that run compiled lazily, and is keyed by the bundle's
// identity on disk, the Node version and the V8 flags; V8 itself refuses a cache
// made by another V8 or for a source of another length (cachedDataRejected), and
// then it is made again. Any failure only costs speed: the bundle still loads.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import Module from 'node:module';
import { cacheDir } from '../engine/util/cacheDir';

export interface LoadedBundle {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- whatever the bundle exports
  exports: any;
  /** Whether V8 took the compiled code from the cache. */
  fromCache: boolean;
  /** Writes the code cache when there was none or V8 refused it; call once the run's work is done. */
  saveCache(): void;
}

/** The folder of the cache, or null when switched off (KLP_NO_CODE_CACHE). */
export function codeCacheDir(): string | null {
  if (process.env.KLP_NO_CODE_CACHE) return null;
  return cacheDir('v8');
}

export function loadWithCodeCache(file: string, parent: NodeModule | undefined): LoadedBundle {
  let source = fs.readFileSync(file, 'utf8');
  // A #! line is only valid at the very start of a script, not inside the module wrapper.
  if (source.startsWith('#!')) source = '//' + source.slice(2);
  const dir = codeCacheDir();
  let cacheFile: string | null = null;
  let cached: Buffer | undefined;
  if (dir) {
    try {
      const st = fs.statSync(file);
      // A rebuilt bundle gets a new mtime, and with it a new cache file.
      cacheFile = path.join(
        dir,
        `${cachePrefix(file)}${process.version}-${process.arch}-${st.ino}-${st.size}-${Math.round(st.mtimeMs * 1000)}.bin`,
      );
      cached = fs.readFileSync(cacheFile);
    } catch {
      cached = undefined;
    }
  }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData: cached });
  // CommonJS's own wrapper signature.
  const wrapper = script.runInThisContext() as (
    exports: unknown,
    require: NodeRequire,
    module: NodeModule,
    filename: string,
    dirname: string,
  ) => void;
  const M = Module as unknown as { new (id: string, parent?: NodeModule): NodeModule; _nodeModulePaths(dir: string): string[] };
  const mod = new M(file, parent);
  mod.filename = file;
  mod.paths = M._nodeModulePaths(path.dirname(file));
  wrapper.call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  mod.loaded = true;
  const stale = cached === undefined || script.cachedDataRejected === true;
  return {
    exports: mod.exports,
    fromCache: !stale,
    saveCache() {
      if (!cacheFile || !stale) return;
      try {
        const data = script.createCachedData();
        fs.mkdirSync(dir!, { recursive: true });
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, data);
        fs.renameSync(tmp, cacheFile);
        // Caches of earlier builds of the same bundle are dead weight.
        const prefix = cachePrefix(file);
        for (const f of fs.readdirSync(dir!)) {
          if (f.startsWith(prefix) && f.endsWith('.bin') && path.join(dir!, f) !== cacheFile)
            fs.rmSync(path.join(dir!, f), { force: true });
        }
      } catch {
        // A read-only or full cache folder only costs speed.
      }
    },
  };
}

/** The bundle's name and a hash of its folder: two installs keep a cache each, a rebuild replaces its own. */
function cachePrefix(file: string): string {
  let h = 0x811c9dc5;
  const dir = path.dirname(file);
  for (let i = 0; i < dir.length; i++) h = Math.imul(h ^ dir.charCodeAt(i), 0x01000193) >>> 0;
  return `${path.basename(file, '.js')}-${h.toString(16)}-`;
}
