// The kpatch-build and klp-build backends end to end on the loopback sshd: buildWithTool
// runs stand-in tools (testing/fakeBuildTools.ts) that check their
// arguments as the real ones do and replay a recording of every success and failure
// format (client/src/commands/fixtures/build-output). The output comes back over ssh,
// is parsed, located by the language server and placed as the Build command places it:
// each problem on the source line its recording names. A successful build's .ko is
// found where the tool wrote it, hashed, and loads on the stand-in kernel.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from '../../../testing/nodeTest';
import { tempDir } from '../../../testing/tempDir';
import { startServer, type TestServer } from '../../../testing/lspClient';
import { prepareControlDir, SshTarget } from '../remote/ssh';
import { giveToTestUser, startSshd, sshdUnavailable, type TestSshd } from '../../../testing/sshd';
import { chmodTree, installFakeKernelTools } from '../../../testing/fakeKernel';
import { installFakeBuildTools } from '../../../testing/fakeBuildTools';
import { BUILD_TREE, landed, place, recordings, RECORDINGS, type Recording } from '../../../testing/buildRecordings';
import { BuildFailed, buildWithTool, kpatchModuleFile, loadModule, type BuiltModule, type TargetSettings } from './operations';

const PATCH = `--- a/fs/proc/klpstat.c
+++ b/fs/proc/klpstat.c
@@ -31,3 +31,3 @@ static notrace int klpstat_show(struct seq_file *m, void *v)
 	calls++;
-	klpstat_hits++;
+	klpstat_hits += 2;
 	seq_printf(m, "%lu %d %d\\n", klpstat_hits, calls, klpstat_limits[klpstat_fold(klpstat_mode)]);
`;

const moduleFor = (r: Recording): string => `livepatch_${r.name.replace(/-/g, '_')}`;

describe(
  'kpatch-build and klp-build on the target: recorded output lands on the right source lines',
  { skip: sshdUnavailable(), timeout: 10 * 60_000 },
  () => {
    let sshd: TestSshd;
    let ssh: SshTarget;
    let server: TestServer;
    let fx: string;
    let rec: string;
    let settings: TargetSettings;

    before(async () => {
      fx = tempDir('klp-buildtool-');
      rec = path.join(fx, 'recordings');
      fs.mkdirSync(rec);
      // Each recording under the module name the test builds with: the stand-ins find it by that name.
      for (const r of recordings()) fs.copyFileSync(path.join(RECORDINGS, `${r.name}.txt`), path.join(rec, `${moduleFor(r)}.txt`));
      const ksrc = path.join(fx, 'linux');
      fs.mkdirSync(path.join(fx, 'boot'), { recursive: true });
      fs.writeFileSync(path.join(fx, 'boot/config-6.1.0-e2e-amd64'), 'CONFIG_LIVEPATCH=y\nCONFIG_DEBUG_INFO=y\n');
      fs.writeFileSync(path.join(fx, 'boot/vmlinux-6.1.0-e2e-amd64'), '\x7fELF stand-in\n');
      const bin = path.join(fx, 'bin');
      installFakeBuildTools(bin, ksrc, rec);
      for (const d of ['sys/kernel/livepatch', 'sys/module', 'proc/sys/kernel/random', 'work'])
        fs.mkdirSync(path.join(fx, d), { recursive: true });
      fs.writeFileSync(path.join(fx, 'proc/sys/kernel/tainted'), '0\n');
      fs.writeFileSync(path.join(fx, 'proc/sys/kernel/osrelease'), '6.1.0-e2e-amd64\n');
      fs.writeFileSync(path.join(fx, 'proc/sys/kernel/random/boot_id'), '00000000-0000-0000-0000-000000000001\n');
      installFakeKernelTools(bin, path.join(fx, 'sys'), path.join(fx, 'proc'));
      chmodTree(fx);
      await giveToTestUser(path.join(fx, 'work'));
      sshd = await startSshd({ env: { PATH: `${bin}:/usr/local/bin:/usr/bin:/bin` } });
      // One multiplexed connection, as the extension keeps.
      ssh = new SshTarget(sshd.target({ controlDir: prepareControlDir(tempDir('klp-buildtool-cm-'))! }));
      settings = {
        name: 'buildtool',
        destination: sshd.destination(),
        workDir: path.join(fx, 'work'),
        backend: 'kpatch-build',
        kernelSource: ksrc,
        kernelConfig: path.join(fx, 'boot/config-6.1.0-e2e-amd64'),
        vmlinux: path.join(fx, 'boot/vmlinux-6.1.0-e2e-amd64'),
        sysfsRoot: path.join(fx, 'sys'),
        procRoot: path.join(fx, 'proc'),
      };
      server = await startServer(BUILD_TREE);
    });
    after(async () => {
      await server?.stop();
      await sshd?.stop();
    });

    /** Runs the build; returns the module on success, the BuildFailed otherwise. */
    async function build(r: Recording, name = moduleFor(r)): Promise<BuiltModule | BuildFailed> {
      try {
        return await buildWithTool(ssh, { ...settings, backend: r.tool }, name, PATCH);
      } catch (err) {
        if (err instanceof BuildFailed) return err;
        throw err;
      }
    }

    for (const r of recordings()) {
      test(`${r.tool} ${r.name}: exit ${r.exit}, ${r.diagnostics.map((d) => `${d.file}:${d.line}`).join(', ') || 'nothing placed'}`, async () => {
        const result = await build(r);
        if (r.exit === 0) {
          assert.ok(!(result instanceof BuildFailed), `the build failed: ${result instanceof BuildFailed ? result.output : ''}`);
          // The .ko is where the tool wrote it, and its hash is that file's.
          const ko = path.join(settings.workDir, moduleFor(r), `${moduleFor(r)}.ko`);
          assert.equal(result.path, ko);
          assert.equal(result.name, moduleFor(r));
          assert.equal(result.sha256, createHash('sha256').update(fs.readFileSync(ko)).digest('hex'));
          assert.ok(
            result.events.some((e) => e.kind === 'success'),
            'SUCCESS came back',
          );
        } else {
          assert.ok(result instanceof BuildFailed, 'the build must fail');
          assert.equal(result.message, `${r.tool} failed (exit ${r.exit})`);
        }
        const events = result.events;
        // Nothing lost or mixed up on the way: every recorded line came back whole, from its own stream.
        const recorded = fs
          .readFileSync(path.join(RECORDINGS, `${r.name}.txt`), 'utf8')
          .split('\n')
          .filter((l) => /^[12] /.test(l))
          .map((l) => l.slice(2));
        if (result instanceof BuildFailed) assert.deepEqual(result.output.split('\n').filter(Boolean).sort(), [...recorded].sort());
        const p = await place(server, recorded.join('\n') + '\n', r.files);
        const fromTarget = await place(server, events.map((e) => e.line).join('\n') + '\n', r.files);
        assert.deepEqual(landed(fromTarget), r.diagnostics);
        assert.equal(fromTarget.unplaced.length, r.unplaced, `unplaced: ${JSON.stringify(fromTarget.unplaced)}`);
        assert.deepEqual(landed(fromTarget), landed(p));
      });
    }

    test('kpatch-build gets -n, -o, -s, -c, -v, --non-replace (stacking is the default) and the uploaded patch, and its module loads under the name the kernel gives it', async () => {
      const r = recordings().find((x) => x.name === 'kpatch-build-success')!;
      const built = await build(r);
      assert.ok(!(built instanceof BuildFailed));
      const argv = fs
        .readFileSync(path.join(rec, `${moduleFor(r)}.argv`), 'utf8')
        .trim()
        .split('\n\n')
        .pop()!
        .split('\n');
      const dir = path.join(settings.workDir, moduleFor(r));
      assert.deepEqual(argv, [
        '-n',
        moduleFor(r),
        '-o',
        dir,
        '-s',
        settings.kernelSource,
        '-c',
        settings.kernelConfig,
        '-v',
        settings.vmlinux,
        '--non-replace',
        path.join(dir, `${moduleFor(r)}.patch`),
      ]);
      assert.equal(fs.readFileSync(path.join(dir, `${moduleFor(r)}.patch`), 'utf8'), PATCH);
      const state = await loadModule(ssh, settings, built.path, built.name, {}, { sha256: built.sha256, transitionTimeoutMs: 10_000 });
      assert.ok(
        state.patches.some((x) => x.name === built.name && x.enabled),
        JSON.stringify(state.patches),
      );
    });

    test('a module name longer than 48 characters: kpatch-build cuts it, and the client follows', async () => {
      const long = 'livepatch_klpstat_show_counts_twice_per_read_fix_v2'; // 51 characters
      assert.ok(long.length > 48 && long.length <= 55);
      fs.copyFileSync(path.join(RECORDINGS, 'kpatch-build-success.txt'), path.join(rec, `${long}.txt`));
      chmodTree(rec);
      const built = await build(recordings().find((x) => x.name === 'kpatch-build-success')!, long);
      assert.ok(!(built instanceof BuildFailed), built instanceof BuildFailed ? built.output : '');
      assert.equal(kpatchModuleFile(long), long.slice(0, 48));
      assert.equal(built.path, path.join(settings.workDir, long, `${long.slice(0, 48)}.ko`));
      assert.equal(built.name, long.slice(0, 48));
      const state = await loadModule(ssh, settings, built.path, built.name, {}, { sha256: built.sha256, transitionTimeoutMs: 10_000 });
      assert.ok(
        state.patches.some((x) => x.name === long.slice(0, 48)),
        JSON.stringify(state.patches),
      );
    });

    test('klp-build runs from the kernel source root and writes the -o file', async () => {
      const r = recordings().find((x) => x.name === 'klp-build-success')!;
      const built = await build(r);
      assert.ok(!(built instanceof BuildFailed), built instanceof BuildFailed ? built.output : '');
      assert.ok(fs.existsSync(path.join(settings.workDir, moduleFor(r), `${moduleFor(r)}.ko`)));
      // Without a kernel source, klp-build has nowhere to run: a clear error before anything runs.
      await assert.rejects(
        buildWithTool(ssh, { ...settings, backend: 'klp-build', kernelSource: undefined }, moduleFor(r), PATCH),
        /set kernelSource/,
      );
    });
  },
);
