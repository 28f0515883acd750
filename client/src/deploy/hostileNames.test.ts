// Every deploy operation that puts a caller-chosen word on the remote command line
// (module names, .ko paths, work directories, uploaded file names), fed hostile text:
// it is refused before anything runs, or it arrives as one verbatim word. The canary
// file proves no shell ever interpreted it.

// describe from testing/nodeTest: a suite skipped for a missing sshd still counts its tests.
import { after, before, describe, test } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SshTarget, SshError } from '../remote/ssh';
import { startSshd, sshdUnavailable, type TestSshd } from '../../../testing/sshd';
import {
  buildKbuildModule,
  buildWithTool,
  disablePatch,
  forceTransition,
  loadModule,
  unloadModule,
  uploadFiles,
  type TargetSettings,
} from './operations';
import { tempDir } from '../../../testing/tempDir';
import { withTargetLock } from './targetLock';

const CANARY = path.join(os.tmpdir(), `klp-hostile-canary-${process.pid}`);
const HOSTILE = [
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `x;touch ${CANARY}`,
  `x\ntouch ${CANARY}`,
  `x' ; touch ${CANARY} ; '`,
  `x" ; touch ${CANARY} ; "`,
  `x && touch ${CANARY}`,
  `x | touch ${CANARY}`,
  `-x --help`,
  `x y`,
];

describe('hostile words through every remote operation', { skip: sshdUnavailable(), timeout: 180_000 }, () => {
  let sshd: TestSshd;
  let root: string;
  let settings: TargetSettings;
  let ssh: SshTarget;
  before(async () => {
    sshd = await startSshd();
    root = tempDir('klp-hostile-');
    fs.mkdirSync(path.join(root, 'work'));
    fs.mkdirSync(path.join(root, 'sys/kernel/livepatch'), { recursive: true });
    fs.mkdirSync(path.join(root, 'proc'));
    for (const d of [
      root,
      path.join(root, 'work'),
      path.join(root, 'sys'),
      path.join(root, 'sys/kernel'),
      path.join(root, 'sys/kernel/livepatch'),
      path.join(root, 'proc'),
    ])
      fs.chmodSync(d, 0o777);
    settings = {
      name: 't',
      destination: '',
      workDir: path.join(root, 'work'),
      backend: 'kbuild',
      sysfsRoot: path.join(root, 'sys'),
      procRoot: path.join(root, 'proc'),
    };
    ssh = new SshTarget(sshd.target());
  });
  after(async () => {
    await sshd?.stop();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(CANARY, { force: true });
  });

  const invalid = (e: unknown) => e instanceof SshError && e.kind === 'invalid-argument';

  test('module names are refused before any command runs', async () => {
    for (const h of HOSTILE) {
      const ops: [string, () => Promise<unknown>][] = [
        ['buildKbuildModule', () => buildKbuildModule(ssh, settings, h, { 'a.c': 'int a;\n' })],
        ['buildWithTool', () => buildWithTool(ssh, settings, h, '--- a/x\n+++ b/x\n')],
        ['loadModule', () => loadModule(ssh, settings, `${settings.workDir}/m.ko`, h)],
        ['disablePatch', () => disablePatch(ssh, settings, h)],
        ['unloadModule', () => unloadModule(ssh, settings, h)],
        ['forceTransition', () => forceTransition(ssh, settings, h)],
      ];
      for (const [op, run] of ops) await assert.rejects(run(), invalid, `${op}(${JSON.stringify(h)})`);
    }
    assert.ok(!fs.existsSync(CANARY), 'a hostile name reached a shell');
    assert.deepEqual(fs.readdirSync(path.join(root, 'work')), [], 'nothing was uploaded for a refused name');
  });

  test('paths and file names are refused or arrive as one verbatim word', async () => {
    for (const h of HOSTILE) {
      // A .ko path: insmod gets exactly this path (and fails: there is no such file).
      await assert.rejects(loadModule(ssh, settings, `${settings.workDir}/${h}.ko`, 'livepatch_x'), (e: unknown) => e instanceof Error, h);
      // A work directory and a file name: the upload lands under exactly this name, or is refused.
      const dir = `d${HOSTILE.indexOf(h)}`;
      try {
        const remoteDir = await uploadFiles(ssh, { ...settings, workDir: path.join(root, 'work', h) }, dir, {
          [h.replace(/\//g, '_')]: 'payload\n',
        });
        assert.equal(fs.readFileSync(path.join(remoteDir, h.replace(/\//g, '_')), 'utf8'), 'payload\n', JSON.stringify(h));
      } catch (e) {
        assert.ok(invalid(e), `${JSON.stringify(h)}: ${(e as Error).message}`);
      }
    }
    assert.ok(!fs.existsSync(CANARY), 'a hostile path reached a shell');
  });

  test('the target lock: action labels and work directories arrive verbatim (the owner file says exactly what holds the VM)', async () => {
    for (const h of HOSTILE) {
      const workDir = path.join(root, 'work', `lock-${HOSTILE.indexOf(h)}`);
      fs.mkdirSync(workDir, { mode: 0o777 });
      fs.chmodSync(workDir, 0o777);
      assert.equal(await withTargetLock(ssh, { ...settings, workDir }, h, async () => 'ran'), 'ran', JSON.stringify(h));
      // Control characters (the newline) become spaces: the label is one line.
      assert.equal(
        fs.readFileSync(path.join(workDir, '.livepatch-lock-owner'), 'utf8').split(' (')[0],
        h.replace(/[\0-\x1f]/g, ' '),
        JSON.stringify(h),
      );
    }
    assert.ok(!fs.existsSync(CANARY), 'a hostile label reached a shell');
  });
});
