// The true end to end, on a real Debian 6.1 kernel under QEMU: a .patch is
// checked by the engine against the Debian 6.1 source tree, turned into a
// livepatch module by the generator, built and loaded on the VM through the
// client's own deploy code, observed through the Patch State snapshot, and
// unloaded again. Run with `npm run test:vm` (scripts/testvm builds the image).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzePatches } from '../../server/src/engine/analyze';
import { generateModule, parseSymvers } from '../../server/src/engine/generate/moduleGenerator';
import { KernelTree } from '../../server/src/engine/tree/kernelTree';
import { SshTarget } from '../../client/src/remote/ssh';
import { BuildFailed, buildKbuildModule, loadModule, readState, unloadModule, type TargetSettings } from '../../client/src/deploy/operations';

const ROOT = path.join(__dirname, '..', '..');
const TREE = process.env.KLP_KERNEL_TREE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch', 'linux-6.1');
const CACHE = process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch');
const NAME = 'e2e';
const sshConfig = path.join(CACHE, 'testvm', 'run', NAME, 'ssh_config');
const timings: [string, number][] = [];

async function timed<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings.push([what, Date.now() - t0]);
  }
}

const MARKER = 'klp-e2e: cmdline_proc_show is livepatched';
const patch = `--- a/fs/proc/cmdline.c
+++ b/fs/proc/cmdline.c
@@ -6,8 +6,7 @@
 
 static int cmdline_proc_show(struct seq_file *m, void *v)
 {
-\tseq_puts(m, saved_command_line);
-\tseq_putc(m, '\\n');
+\tseq_puts(m, "${MARKER}\\n");
 \treturn 0;
 }
 
`;

let ssh: SshTarget;
const settings: TargetSettings = {
  name: 'e2e', destination: `klp-testvm-${NAME}`, workDir: '/root/livepatch', backend: 'kbuild', sysfsRoot: '/sys', procRoot: '/proc',
};

before(async () => {
  assert.ok(fs.existsSync(path.join(TREE, 'fs/proc/cmdline.c')), `no kernel tree at ${TREE}: run scripts/fetch-kernel-source.sh`);
  await timed('image (build or reuse)', () => execFileSync(path.join(ROOT, 'scripts/testvm/build-image.sh'), { stdio: 'inherit' }));
  await timed('boot until ssh answers', () => execFileSync(path.join(ROOT, 'scripts/testvm/start.sh'), ['--name', NAME, '--port', 'auto'], { stdio: 'inherit' }));
  ssh = new SshTarget({ destination: settings.destination, configFile: sshConfig, connectTimeout: 30 });
});

after(async () => {
  await ssh?.closeMaster().catch(() => undefined);
  try {
    execFileSync(path.join(ROOT, 'scripts/testvm/stop.sh'), ['--name', NAME], { stdio: 'inherit' });
  } catch {
    // already gone
  }
  for (const [what, ms] of timings) console.log(`test:vm timing: ${what}: ${(ms / 1000).toFixed(1)} s`);
});

test('a .patch becomes a loaded livepatch on a real 6.1 kernel, and is unloaded cleanly', { timeout: 30 * 60 * 1000 }, async () => {
  const r = await timed('check the patch (engine)', () => analyzePatches([{ name: 'cmdline-marker.patch', text: patch }], { tree: TREE }));
  assert.deepEqual(r.findings.filter((f) => f.severity === 'error'), []);

  const release = (await ssh.runChecked(['uname', '-r'])).stdout.trim();
  assert.match(release, /^6\.1\.0-/);
  const symvers = (await ssh.runChecked(['cat', `/lib/modules/${release}/build/Module.symvers`], { maxBuffer: 64 << 20 })).stdout;
  const kallsyms = (await ssh.runChecked(['cat', '/proc/kallsyms'], { maxBuffer: 64 << 20 })).stdout;
  const mod = await timed('generate the module', () => generateModule(r, {
    name: 'livepatch_e2e', tree: KernelTree.open(TREE), exported: parseSymvers(symvers), kallsyms,
  }));

  const built = await timed('build in the VM (kbuild)', () => buildKbuildModule(ssh, settings, mod.name, mod.files));
  const loaded = await timed('insmod + transition', () => loadModule(ssh, settings, built.path, mod.name, {}, 120_000));
  const p = loaded.patches.find((x) => x.name === 'livepatch_e2e');
  assert.ok(p, JSON.stringify(loaded.patches));
  assert.equal(p.enabled, true);
  assert.equal(p.transition, false);
  const vmlinux = p.objects.find((o) => o.name === 'vmlinux');
  assert.equal(vmlinux?.patched, true);
  assert.deepEqual(vmlinux?.functions, [{ name: 'cmdline_proc_show', sympos: 1 }]);
  assert.equal(loaded.taint.livepatch, true, 'taint K');
  assert.equal((await ssh.runChecked(['cat', '/proc/cmdline'])).stdout.trim(), MARKER);

  const after = await timed('disable + transition + rmmod', () => unloadModule(ssh, settings, mod.name));
  assert.equal(after.patches.length, 0);
  assert.ok(!after.livepatchModules.some((m) => m.name === 'livepatch_e2e'));
  assert.notEqual((await ssh.runChecked(['cat', '/proc/cmdline'])).stdout.trim(), MARKER);
});

test('a build that fails shows the compiler error', { timeout: 10 * 60 * 1000 }, async () => {
  const broken = { 'livepatch_broken.c': '#include <linux/module.h>\nstatic int broken(void) { return undeclared_thing; }\nMODULE_LICENSE("GPL");\n', Kbuild: 'obj-m += livepatch_broken.o\n' };
  await assert.rejects(timed('failing build', () => buildKbuildModule(ssh, settings, 'livepatch_broken', broken)), (e: BuildFailed) => {
    assert.ok(e instanceof BuildFailed);
    assert.match(e.output, /livepatch_broken\.c:2:\d+: error: .undeclared_thing. undeclared/);
    return true;
  });
  const s = await readState(ssh, settings);
  assert.equal(s.patches.length, 0);
});
