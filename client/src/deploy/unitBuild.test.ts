// The host half of the kbuild backend's patched-unit path: a compiler error in the patched
// file is a build event on the patched file's own line (the unit keeps #line markers), and
// the cached kallsyms is used again only for the same Module.symvers.

import { describe, it } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { installedHeaders, headersRoot, kernelHeaders, kernelTree, kernelTreePath } from '../../../testing/requirements';
import { tempDir } from '../../../testing/tempDir';
import { analyzePatches } from '../../../server/src/engine';
import { createParser } from '../../../server/src/engine';
import { KernelTree } from '../../../server/src/engine';
import { generatePatchedUnit } from '../../../server/src/engine';
import { parseSymversObjects } from '../../../server/src/engine';
import type { SshTarget } from '../remote/ssh';
import { BuildFailed, type TargetSettings } from './operations';
import { buildUnitOnHost, cachedKallsyms, generateWithCurrentKallsyms, kallsymsMissesObjects, type UnitInputs } from './unitBuild';

const settings: TargetSettings = {
  name: 'vm',
  destination: 'vm',
  workDir: '/root/livepatch',
  backend: 'kbuild',
  sysfsRoot: '/sys',
  procRoot: '/proc',
};

/** An ssh target that answers `cat` with `text` and counts the calls. */
function fakeSsh(text: string): SshTarget & { calls: string[][] } {
  const calls: string[][] = [];
  return Object.assign(
    {
      calls,
      run: async (argv: string[]) => (calls.push(argv), { code: 0, stdout: text, stderr: '' }),
      runChecked: async () => assert.fail('not expected'),
      upload: async () => assert.fail('nothing is uploaded after a failed build'),
    },
    {},
  ) as unknown as SshTarget & { calls: string[][] };
}

describe('kallsyms cache per release', () => {
  const ks = 'ffffffff81000000 T _stext\nffffffffc0000000 t dummy_get_stats64\t[dummy]\n';
  it('reads once, then serves the cache for the same release and Module.symvers; another Module.symvers reads again', async () => {
    const dir = tempDir('klp-ks-cache-');
    const ssh = fakeSsh(ks);
    assert.deepEqual(await cachedKallsyms(ssh, settings, dir, '6.1.0-57-amd64', 'a'.repeat(64)), { text: ks, cached: false });
    assert.deepEqual(await cachedKallsyms(ssh, settings, dir, '6.1.0-57-amd64', 'a'.repeat(64)), { text: ks, cached: true });
    assert.equal(ssh.calls.length, 1);
    assert.equal(fs.statSync(path.join(dir, '6.1.0-57-amd64', 'kallsyms')).mode & 0o777, 0o600);
    assert.equal((await cachedKallsyms(ssh, settings, dir, '6.1.0-57-amd64', 'b'.repeat(64))).cached, false);
    assert.equal((await cachedKallsyms(ssh, settings, dir, '6.1.0-57-amd64', 'b'.repeat(64), {}, true)).cached, false);
    assert.equal(ssh.calls.length, 3);
  });
  it('says when a patched module is missing from the cached kallsyms', () => {
    assert.equal(kallsymsMissesObjects('ffffffff81000000 T _stext\n', ['vmlinux', 'dummy']), true);
    assert.equal(kallsymsMissesObjects('ffffffff81000000 T _stext\nffffffffc0000000 t dummy_xmit\t[dummy]\n', ['vmlinux', 'dummy']), false);
    assert.equal(kallsymsMissesObjects('ffffffff81000000 T _stext\n', ['vmlinux']), false);
  });
});

describe('generating with the current kallsyms', () => {
  const stale = 'ffffffff81000000 T _stext\n';
  const fresh = 'ffffffff81000000 T _stext\nffffffffc0000000 t dummy_xmit\t[dummy]\n';
  const inputs = (kallsyms: string, fromCache: boolean): UnitInputs => ({
    release: '6.1.0-57-amd64',
    symvers: '',
    symversSha256: 'a'.repeat(64),
    kallsyms,
    kallsymsFromCache: fromCache,
    hostHeaders: null,
    where: '',
  });
  it('reads kallsyms again and generates once more when the cached copy misses a patched module', async () => {
    const ssh = fakeSsh(fresh);
    const seen: string[] = [];
    const i = inputs(stale, true);
    const m = await generateWithCurrentKallsyms(
      ssh,
      settings,
      tempDir('klp-ks-regen-'),
      i,
      {},
      (ks) => (seen.push(ks), { objects: ['vmlinux', 'dummy'], ks }),
      (x) => x.objects,
    );
    assert.deepEqual(seen, [stale, fresh]);
    assert.equal(m.ks, fresh);
    assert.equal(i.kallsyms, fresh);
    assert.equal(ssh.calls.length, 1);
  });
  it('generates once when the copy was just read, or lists the module', async () => {
    for (const i of [inputs(stale, false), inputs(fresh, true)]) {
      const ssh = fakeSsh(fresh);
      let n = 0;
      await generateWithCurrentKallsyms(
        ssh,
        settings,
        tempDir('klp-ks-regen-'),
        i,
        {},
        () => (n++, { objects: ['dummy'] }),
        (x) => x.objects,
      );
      assert.equal(n, 1);
      assert.equal(ssh.calls.length, 0);
    }
  });
});

const skip = kernelHeaders() ?? kernelTree();

describe('a host build that fails', { skip }, () => {
  it("reports the compiler error on the patched file's own line, and uploads nothing", { timeout: 300_000 }, async () => {
    const tree = kernelTreePath();
    const headers = path.join(headersRoot(), installedHeaders()!);
    const symvers = fs.readFileSync(path.join(headers, 'Module.symvers'), 'utf8');
    const text = fs.readFileSync(path.join(__dirname, 'fixtures', 'call-before-declaration.patch'));
    const parser = await createParser();
    const r = await analyzePatches([{ name: 'call-before-declaration.patch', text }], { tree, parser });
    const mod = generatePatchedUnit(r, {
      name: 'livepatch_unit_err',
      exported: parseSymversObjects(symvers),
      kallsyms: null,
      tree: KernelTree.open(tree),
      parser,
    });
    const inputs: UnitInputs = {
      release: 'x',
      symvers,
      symversSha256: '',
      kallsyms: '',
      kallsymsFromCache: false,
      hostHeaders: headers,
      where: '',
    };
    await assert.rejects(buildUnitOnHost(fakeSsh(''), settings, mod, inputs), (e: BuildFailed) => {
      assert.ok(e instanceof BuildFailed, String(e));
      // The call comes before the function's definition: line 246 of the patched fs/filesystems.c.
      const ev = e.events.find((x) => x.severity === 'error' && x.tool === 'compiler');
      assert.ok(ev, JSON.stringify(e.events));
      assert.equal(ev.file, 'fs/filesystems.c');
      assert.equal(ev.lineNumber, 246);
      assert.match(ev.message, /__get_fs_type/);
      return true;
    });
  });
});
