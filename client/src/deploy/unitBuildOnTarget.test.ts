// The target half of the kbuild backend's patched-unit path, on the loopback sshd with this
// machine as the target: make runs over ssh against /lib/modules/<release>/build, the .ko
// comes back for the ELF pass, and the livepatch .ko that replaces it there is the one
// whose sha256 the load step will check. A compiler error lands on the patched file's line.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from '../../../testing/nodeTest';
import { installedHeaders, headersRoot, kernelHeaders, kernelTree, kernelTreePath } from '../../../testing/requirements';
import { tempDir } from '../../../testing/tempDir';
import {
  analyzePatches,
  createParser,
  generatePatchedUnit,
  KernelTree,
  parseSymversObjects,
  type PatchedUnitModule,
} from '../../../server/src/engine';
import { prepareControlDir, SshTarget } from '../remote/ssh';
import { giveToTestUser, startSshd, sshdUnavailable, type TestSshd } from '../../../testing/sshd';
import { BuildFailed, type TargetSettings } from './operations';
import { buildUnit, type UnitInputs } from './unitBuild';

const REAL_FIXTURES = path.join(__dirname, '..', '..', '..', 'server', 'src', 'build', 'fixtures', 'real-6.1');

const headers = installedHeaders();
const release = headers?.replace(/^linux-headers-/, '');
const buildDir = release ? `/lib/modules/${release}/build` : '';
const skip =
  sshdUnavailable() ??
  kernelHeaders() ??
  kernelTree() ??
  (fs.existsSync(path.join(buildDir, 'Makefile')) ? undefined : `no ${buildDir} (the headers package's link to its build directory)`);

describe('a patched-unit module built on the target (loopback sshd, make over ssh)', { skip, timeout: 10 * 60_000 }, () => {
  let sshd: TestSshd;
  let ssh: SshTarget;
  let settings: TargetSettings;
  let inputs: UnitInputs;

  before(async () => {
    const work = tempDir('klp-unit-target-');
    fs.chmodSync(work, 0o755);
    await giveToTestUser(work);
    sshd = await startSshd();
    ssh = new SshTarget(sshd.target({ controlDir: prepareControlDir(tempDir('klp-unit-target-cm-'))! }));
    settings = {
      name: 'loopback',
      destination: sshd.destination(),
      workDir: work,
      backend: 'kbuild',
      sysfsRoot: '/sys',
      procRoot: '/proc',
    };
    const symvers = fs.readFileSync(path.join(headersRoot(), headers!, 'Module.symvers'), 'utf8');
    // No local headers in the inputs: the build must happen on the target.
    inputs = { release: release!, symvers, symversSha256: '', kallsyms: '', kallsymsFromCache: false, hostHeaders: null, where: 'test' };
  });
  after(async () => {
    await ssh?.closeMaster().catch(() => undefined);
    await sshd?.stop();
  });

  async function unit(file: string, name: string): Promise<PatchedUnitModule> {
    const tree = kernelTreePath();
    const parser = await createParser();
    const r = await analyzePatches([{ name: path.basename(file), text: fs.readFileSync(file) }], { tree, parser });
    return generatePatchedUnit(r, {
      name,
      exported: parseSymversObjects(inputs.symvers),
      kallsyms: null,
      tree: KernelTree.open(tree),
      parser,
    });
  }

  it('builds there, runs the ELF pass here, and leaves the livepatch .ko there with the sha256 it reports', async () => {
    const mod = await unit(path.join(REAL_FIXTURES, 'meminfo-static-function-internal-h.patch'), 'livepatch_unit_target');
    const steps: string[] = [];
    const built = await buildUnit(ssh, settings, mod, inputs, { onStep: (s) => steps.push(s) });
    assert.equal(built.builtOn, 'target');
    assert.equal(built.path, path.join(settings.workDir, mod.name, `${mod.name}.ko`));
    assert.ok(
      steps.some((s) => /^Building livepatch_unit_target\.ko on loopback/.test(s)),
      steps.join('\n'),
    );
    // The loopback target's file is this machine's: what the load step will hash.
    const bytes = fs.readFileSync(built.path);
    assert.equal(execFileSync('sha256sum', [built.path], { encoding: 'utf8' }).split(' ')[0], built.sha256);
    assert.ok(bytes.length > 1000);
    const syms = execFileSync('readelf', ['-sW', built.path], { encoding: 'utf8' });
    // The static function of the same file, bound through a klp relocation: in SHN_LIVEPATCH (0xff20).
    assert.match(syms, /OS \[0xff20\]\s+\.klp\.sym\.vmlinux\.show_val_kb,0$/m);
    const sections = execFileSync('readelf', ['-SW', built.path], { encoding: 'utf8' });
    assert.match(sections, /\.klp\.rela\.vmlinux\.\.text\s/);
  });

  it("a compiler error on the target lands on the patched file's own line, and nothing is fetched", async () => {
    const mod = await unit(path.join(__dirname, 'fixtures', 'call-before-declaration.patch'), 'livepatch_unit_target_err');
    const steps: string[] = [];
    await assert.rejects(buildUnit(ssh, settings, mod, inputs, { onStep: (s) => steps.push(s) }), (e: BuildFailed) => {
      assert.ok(e instanceof BuildFailed, String(e));
      const ev = e.events.find((x) => x.severity === 'error' && x.tool === 'compiler');
      assert.ok(ev, JSON.stringify(e.events));
      assert.equal(ev.file, 'fs/filesystems.c');
      assert.equal(ev.lineNumber, 246);
      return true;
    });
    assert.ok(!steps.some((s) => /^Fetching/.test(s)), steps.join('\n'));
  });

  it("`host` without this machine's headers is refused, naming why", () => {
    assert.throws(() => buildUnit(ssh, settings, {} as PatchedUnitModule, inputs, {}, 'host'), /cannot build on this machine: test/);
  });
});
