// KernelTree: the on-disk git grep cache follows the working tree, and a kernel
// .config must be a regular file of sane size.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KernelTree, readConfigFile } from './kernelTree';
import { headFromFiles, scopesOfSpecs, WHOLE_TREE, type TreeScope } from './treeState';
import { setGitAllowed } from './git';
import { tempDir } from '../../../../testing/tempDir';

/** Makes `dir` a git repository with one commit of everything in it. */
function commitAll(dir: string): void {
  const g = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { stdio: 'ignore' });
  g('init', '-q');
  g('add', '-A');
  g('-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'base');
}

/** Runs `fn` with KLP_CACHE set to a fresh folder (handed to `fn`), restored afterwards. */
function withCacheDir(fn: (cache: string) => void): void {
  const saved = process.env.KLP_CACHE;
  const cache = tempDir('klp-cache-');
  process.env.KLP_CACHE = cache;
  try {
    fn(cache);
  } finally {
    setGitAllowed(true);
    if (saved === undefined) delete process.env.KLP_CACHE;
    else process.env.KLP_CACHE = saved;
  }
}

test('git grep cache: an unstaged new caller of an inline function is found, and an unchanged tree is answered from the cache', () => {
  withCacheDir((cache) => {
    const dir = tempDir('klp-inline-callers-');
    fs.mkdirSync(path.join(dir, 'include'));
    fs.writeFileSync(path.join(dir, 'include', 'helper.h'), 'static inline int helper(void) { return 1; }\n');
    fs.writeFileSync(path.join(dir, 'a.c'), 'int a(void) { return helper(); }\n');
    fs.writeFileSync(path.join(dir, 'b.c'), 'int b(void) { return 0; }\n');
    commitAll(dir);

    assert.deepEqual(KernelTree.open(dir).grepWord('helper').sort(), ['a.c', 'include/helper.h']);
    // A new caller, neither staged nor committed: HEAD and the index are as before.
    fs.writeFileSync(path.join(dir, 'b.c'), 'int b(void) { return helper(); }\n');
    assert.deepEqual(KernelTree.open(dir).grepWord('helper').sort(), ['a.c', 'b.c', 'include/helper.h']);

    // Nothing changed since: the answer comes from the cache (made visible by planting a different one).
    const entries = () =>
      fs
        .readdirSync(path.join(cache, 'grep'))
        .flatMap((k) => fs.readdirSync(path.join(cache, 'grep', k)).map((f) => path.join(cache, 'grep', k, f)));
    const files = entries();
    assert.equal(files.length, 2);
    const newest = files.sort((x, y) => fs.statSync(y).mtimeMs - fs.statSync(x).mtimeMs)[0];
    fs.writeFileSync(newest, 'from-cache.c\n');
    assert.deepEqual(KernelTree.open(dir).grepWord('helper'), ['from-cache.c']);
  });
});

test('startCacheKey: the cache key is worked out in the background, equal to the one asked for on the spot, and an unstaged edit changes it', () => {
  withCacheDir(() => {
    const dir = tempDir('klp-prepare-');
    fs.writeFileSync(path.join(dir, 'a.c'), 'int a(void) { return 0; }\n');
    commitAll(dir);

    // With git refused after startCacheKey(), the key needs no further git run: it comes from the background one.
    const keyed = (): string | null => {
      const t = KernelTree.open(dir);
      t.startCacheKey();
      setGitAllowed(false);
      try {
        return t.cacheFile('facts.json', ['c']);
      } finally {
        setGitAllowed(true);
      }
    };
    const clean = keyed();
    assert.ok(clean, 'a key for a git checkout');
    assert.equal(clean, KernelTree.open(dir).cacheFile('facts.json', ['c']));
    // Without startCacheKey() and without git, there is no key at all: the one above came from the background run.
    setGitAllowed(false);
    try {
      assert.equal(KernelTree.open(dir).cacheFile('facts.json', ['c']), null);
    } finally {
      setGitAllowed(true);
    }

    fs.writeFileSync(path.join(dir, 'a.c'), 'int a(void) { return 1; }\n');
    const dirty = keyed();
    assert.ok(dirty);
    assert.notEqual(dirty, clean);
    assert.equal(dirty, KernelTree.open(dir).cacheFile('facts.json', ['c']));

    // Not a git checkout: nothing to prepare, no key.
    const plain = tempDir('klp-plain-');
    const t = KernelTree.open(plain);
    t.startCacheKey();
    assert.equal(t.cacheFile('facts.json', ['c']), null);
  });
});

test('headFromFiles reads what git rev-parse --show-toplevel HEAD prints (loose ref, packed ref, detached), and gives up on other layouts', () => {
  const dir = tempDir('klp-head-');
  fs.writeFileSync(path.join(dir, 'a.c'), 'int a;\n');
  const g = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { encoding: 'utf8' });
  g('init', '-q');
  g('add', '-A');
  g('-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'base');
  const root = fs.realpathSync(dir);
  const revParse = () => g('rev-parse', '--show-toplevel', 'HEAD');
  assert.equal(headFromFiles(root), revParse());
  g('pack-refs', '--all');
  const branch = fs
    .readFileSync(path.join(dir, '.git', 'HEAD'), 'utf8')
    .replace(/^ref: /, '')
    .trim();
  assert.ok(!fs.existsSync(path.join(dir, '.git', branch)), 'the branch now lives in packed-refs only');
  assert.equal(headFromFiles(root), revParse());
  g('checkout', '-q', '--detach');
  assert.equal(headFromFiles(root), revParse());
  // A worktree's .git is a file; an unborn branch has no commit: git is asked instead.
  const wt = path.join(tempDir('klp-head-wt-'), 'wt');
  g('worktree', 'add', '-q', wt);
  assert.equal(headFromFiles(fs.realpathSync(wt)), null);
  const empty = tempDir('klp-head-empty-');
  execFileSync('git', ['-C', empty, 'init', '-q']);
  assert.equal(headFromFiles(fs.realpathSync(empty)), null);
  // Settings that move the work tree or pull in other files: git is asked.
  fs.appendFileSync(path.join(dir, '.git', 'config'), '[include]\n\tpath = other\n');
  assert.equal(headFromFiles(root), null);
});

test('readConfigFile: a FIFO, a device and an oversized file are refused without reading them', () => {
  const dir = tempDir('klp-config-');
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  assert.throws(() => readConfigFile(fifo), /config '.*fifo' is not a regular file/);
  assert.throws(() => readConfigFile('/dev/zero'), /is not a regular file/);
  assert.throws(() => readConfigFile(dir), /is not a regular file/);
  const big = path.join(dir, 'big');
  fs.writeFileSync(big, Buffer.alloc(9 * 1024 * 1024, 0x41));
  assert.throws(() => readConfigFile(big), /larger than 8 MB/);
  assert.throws(() => readConfigFile(path.join(dir, 'none')), /does not exist/);
  const ok = path.join(dir, '.config');
  fs.writeFileSync(ok, 'CONFIG_FOO=m\n');
  assert.equal(readConfigFile(ok), 'CONFIG_FOO=m\n');
  // The tree's own .config as a FIFO: ignored, and the tree says why.
  fs.renameSync(fifo, path.join(dir, '.config'));
  const tree = KernelTree.open(dir);
  assert.equal(tree.kernelConfig(), null);
  assert.match(tree.configProblem ?? '', /not a regular file/);
});

test('cache keys by scope: an edit changes the key of the answers that read its part of the tree, and only theirs', () => {
  withCacheDir(() => {
    const dir = tempDir('klp-scope-');
    fs.mkdirSync(path.join(dir, 'fs'));
    fs.writeFileSync(path.join(dir, 'fs', 'a.c'), 'int a(void) { return 0; }\n');
    fs.writeFileSync(path.join(dir, 'fs', 'a.h'), 'int a(void);\n');
    fs.writeFileSync(path.join(dir, 'fs', 'Kconfig'), 'config A\n\ttristate "a"\n');
    fs.writeFileSync(path.join(dir, 'fs', 'Makefile'), 'obj-$(CONFIG_A) += a.o\n');
    commitAll(dir);
    const scopes: Record<string, readonly TreeScope[]> = { c: ['c'], h: ['h'], kconfig: ['kconfig'], whole: WHOLE_TREE };
    const keys = () => {
      const t = KernelTree.open(dir);
      t.startCacheKey();
      return Object.fromEntries(Object.entries(scopes).map(([k, s]) => [k, t.cacheFile('x', s)]));
    };
    const clean = keys();
    // A clean tree: every scope has the committed state's key.
    assert.equal(new Set(Object.values(clean)).size, 1, JSON.stringify(clean));
    const changed = (edit: () => void): string[] => {
      const before = keys();
      edit();
      const after = keys();
      return Object.keys(scopes).filter((k) => after[k] !== before[k]);
    };
    assert.deepEqual(
      changed(() => fs.appendFileSync(path.join(dir, 'fs', 'a.c'), '// more\n')),
      ['c', 'whole'],
    );
    assert.deepEqual(
      changed(() => fs.appendFileSync(path.join(dir, 'fs', 'a.h'), '// more\n')),
      ['h', 'whole'],
    );
    assert.deepEqual(
      changed(() => fs.appendFileSync(path.join(dir, 'fs', 'Kconfig'), '# more\n')),
      ['kconfig', 'whole'],
    );
    assert.deepEqual(
      changed(() => fs.appendFileSync(path.join(dir, 'fs', 'Makefile'), '# more\n')),
      ['whole'],
    );
    // prefetchCacheKey() starts the scopes' git in the background, once startCacheKey() has read HEAD:
    // with git refused afterwards, the keys still come, equal to the ones worked out on the spot.
    const refused = (t: KernelTree, scopes: readonly TreeScope[]): string | null => {
      setGitAllowed(false);
      try {
        return t.cacheFile('x', scopes);
      } finally {
        setGitAllowed(true);
      }
    };
    const early = KernelTree.open(dir);
    early.prefetchCacheKey(['h']);
    assert.equal(refused(early, ['h']), null, 'nothing started before startCacheKey()');
    const started = KernelTree.open(dir);
    started.startCacheKey();
    started.prefetchCacheKey(['h']);
    const key = refused(started, ['c', 'h']);
    assert.ok(key);
    assert.equal(key, KernelTree.open(dir).cacheFile('x', ['c', 'h']));
    // git grep's pathspecs pick the scopes.
    assert.deepEqual(scopesOfSpecs(['*.c']), ['c']);
    assert.deepEqual(scopesOfSpecs(['*.c', '*.h']), ['c', 'h']);
    assert.deepEqual(scopesOfSpecs(['fs/proc/*.h', 'fs/proc/*.c']), ['c', 'h']);
    assert.deepEqual(scopesOfSpecs(['*Kconfig*']), ['kconfig']);
    assert.deepEqual(scopesOfSpecs(['fs/proc/']), WHOLE_TREE);
    assert.deepEqual(scopesOfSpecs(['*.c', 'Makefile']), WHOLE_TREE);
    assert.deepEqual(scopesOfSpecs([':(icase)*.C']), WHOLE_TREE);
  });
});
