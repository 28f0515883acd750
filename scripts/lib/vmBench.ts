// The VM half of bench:deploy: boots the test VM, and deploys one patched-unit module at a
// time through the client's code (host build + upload, verified insmod, state, unload),
// running the corpus's LOADED test in the VM and checking the kernel log and taint.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { prepareControlDir, SshTarget } from '../../client/src/remote/ssh';
import { loadModule, readState, unloadModule, type TargetSettings } from '../../client/src/deploy/operations';
import { buildUnitOnHost, cachedKallsyms, kallsymsMissesObjects, readUnitInputs, type UnitInputs } from '../../client/src/deploy/unitBuild';
import type { PatchedUnitModule } from '../../server/src/engine/generate/patchedUnit';

const ROOT = path.join(__dirname, '..', '..');
const CACHE = process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch');

/** Kernel log lines that mean the load went wrong. */
const BAD_LOG = /Oops|BUG:|WARNING:|general protection|Call Trace|Unknown symbol|livepatch: .*(?:failed|error)/i;
/** Taint bits other than O (12), E (13) and K (15). */
const OTHER_TAINT = ~((1 << 12) | (1 << 13) | (1 << 15));

interface RowLike {
  outcome: string;
  reasons: string[];
  buildSeconds: number | null;
  loadSeconds: number | null;
  loadedTest: 'pass' | 'fail' | null;
  moduleTest?: 'pass' | 'fail' | 'not-run' | null;
}

export class VmBench {
  private constructor(
    readonly name: string,
    readonly ssh: SshTarget,
    readonly settings: TargetSettings,
    readonly inputs: UnitInputs,
    /** The VM kernel's .config, copied here. */
    readonly configFile: string,
    private readonly cacheDir: string,
    private readonly controlDir: string,
  ) {}

  static async start(): Promise<VmBench> {
    const name = process.env.KLP_TESTVM_NAME ?? 'bench';
    execFileSync(path.join(ROOT, 'scripts/testvm/build-image.sh'), { stdio: ['ignore', 'inherit', 'inherit'] });
    const t0 = Date.now();
    execFileSync(path.join(ROOT, 'scripts/testvm/start.sh'), ['--name', name, '--port', 'auto'], { stdio: ['ignore', 2, 'inherit'] });
    process.stderr.write(`bench-deploy: VM ${name} up after ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    const controlDir = prepareControlDir(fs.mkdtempSync(path.join(os.tmpdir(), 'klp-bench-cm-')))!;
    const ssh = new SshTarget({
      destination: `klp-testvm-${name}`,
      configFile: path.join(CACHE, 'testvm', 'run', name, 'ssh_config'),
      connectTimeout: 30,
      controlDir,
    });
    const settings: TargetSettings = {
      name,
      destination: `klp-testvm-${name}`,
      workDir: '/root/livepatch',
      backend: 'kbuild',
      sysfsRoot: '/sys',
      procRoot: '/proc',
    };
    const cacheDir = path.join(CACHE, 'targets');
    const inputs = await readUnitInputs(ssh, settings, { cacheDir });
    if (!inputs.hostHeaders) throw new Error(`bench:deploy builds on this machine: ${inputs.where}`);
    const configFile = path.join(controlDir, 'config');
    fs.writeFileSync(configFile, (await ssh.runChecked(['cat', `/boot/config-${inputs.release}`], { maxBuffer: 16 << 20 })).stdout);
    return new VmBench(name, ssh, settings, inputs, configFile, cacheDir, controlDir);
  }

  /** modprobe the modules a patch changes; true when kallsyms was read again for them. */
  async loadObjects(objects: string[]): Promise<boolean> {
    const mods = objects.filter((o) => o !== 'vmlinux');
    if (!mods.length) return false;
    for (const m of mods) await this.ssh.run(['modprobe', m.replace(/_/g, '-')], { timeoutMs: 120_000 });
    if (!kallsymsMissesObjects(this.inputs.kallsyms, mods)) return false;
    this.inputs.kallsyms = (
      await cachedKallsyms(this.ssh, this.settings, this.cacheDir, this.inputs.release, this.inputs.symversSha256, {}, true)
    ).text;
    return true;
  }

  private async out(argv: string[]): Promise<string> {
    return (await this.ssh.runChecked(argv, { timeoutMs: 60_000, maxBuffer: 16 << 20 })).stdout;
  }

  /** Build (host), load, verify, LOADED test, log and taint, unload: fills the row. */
  async deploy(mod: PatchedUnitModule, row: RowLike, loadedTest: string | null, moduleTest: string | null = null): Promise<void> {
    const logBefore = (await this.out(['dmesg', '--color=never'])).split('\n').length;
    const built = await buildUnitOnHost(this.ssh, this.settings, mod, this.inputs);
    row.buildSeconds = built.seconds;
    if (moduleTest) await this.runModuleTest(built.path, moduleTest, row);
    const t0 = Date.now();
    let loaded;
    try {
      loaded = await loadModule(this.ssh, this.settings, built.path, mod.name, {}, { transitionTimeoutMs: 120_000, sha256: built.sha256 });
    } catch (err) {
      row.outcome = 'load-failed';
      row.reasons.push((err as Error).message.split('\n')[0].slice(0, 300));
      await this.cleanup(mod.name);
      return;
    }
    row.loadSeconds = (Date.now() - t0) / 1000;
    const problems: string[] = [];
    const p = loaded.patches.find((x) => x.name === mod.name);
    if (!p) problems.push('not in /sys/kernel/livepatch');
    else {
      if (!p.enabled || p.transition) problems.push(`enabled=${p.enabled} transition=${p.transition}`);
      for (const f of mod.functions) {
        const o = p.objects.find((x) => x.name === f.object);
        if (!o) problems.push(`object ${f.object} missing`);
        else if (o.patched === false) problems.push(`object ${f.object} not patched`);
        else if (!o.functions.some((x) => x.name === f.oldName)) problems.push(`${f.object}:${f.oldName} not patched`);
      }
    }
    if (loadedTest) {
      const remote = `/root/livepatch/${mod.name}/LOADED.test`;
      await this.ssh.upload(fs.readFileSync(loadedTest), remote, { mkdirs: true, mode: 0o755 });
      // kpatch's tests run as a user with sudo; here they run as root, where sudo is not installed:
      // a `sudo` that runs its arguments stands in for it.
      const bin = `/root/livepatch/${mod.name}/bin`;
      await this.ssh.upload(Buffer.from('#!/bin/sh\nexec "$@"\n'), `${bin}/sudo`, { mkdirs: true, mode: 0o755 });
      const r = await this.ssh.run(['env', `PATH=${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, 'bash', remote], {
        timeoutMs: 120_000,
      });
      row.loadedTest = r.code === 0 ? 'pass' : 'fail';
      if (r.code !== 0)
        problems.push(
          `${path.basename(loadedTest)} failed (exit ${r.code}): ${(r.stdout + r.stderr).trim().split('\n').slice(-2).join(' ').slice(0, 200)}`,
        );
    }
    try {
      await unloadModule(this.ssh, this.settings, mod.name);
    } catch (err) {
      problems.push(`unload: ${(err as Error).message.slice(0, 200)}`);
    }
    const log = (await this.out(['dmesg', '--color=never'])).split('\n').slice(Math.max(0, logBefore - 1));
    const bad = log.filter((l) => BAD_LOG.test(l));
    if (bad.length) problems.push(`kernel log: ${bad.slice(0, 2).join(' | ').slice(0, 300)}`);
    const taint = Number((await this.out(['cat', '/proc/sys/kernel/tainted'])).trim());
    if (taint & OTHER_TAINT) problems.push(`taint ${taint} has more than K, O, E`);
    row.outcome = problems.length ? 'verify-failed' : 'deployed';
    row.reasons.push(...problems);
  }

  /**
   * A corpus test without -LOADED checks the built module itself (kpatch runs it in the build
   * directory, on test-<name>.ko): here, on the .ko fetched back from the target.
   */
  private async runModuleTest(remoteKo: string, test: string, row: RowLike): Promise<void> {
    const ko = Buffer.from((await this.ssh.runChecked(['base64', '-w0', '--', remoteKo], { maxBuffer: 64 << 20 })).stdout.trim(), 'base64');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-module-test-'));
    try {
      fs.writeFileSync(path.join(dir, `test-${path.basename(test, '.test')}.ko`), ko);
      const r = spawnSync('bash', [test], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
      if (/command not found/.test(out)) {
        row.moduleTest = 'not-run';
        row.reasons.push(
          `${path.basename(test)} not run here: ${out
            .split('\n')
            .find((l) => /command not found/.test(l))!
            .replace(/^.*line \d+: /, '')} (apt-get install elfutils)`,
        );
      } else {
        row.moduleTest = r.status === 0 ? 'pass' : 'fail';
        if (r.status !== 0)
          row.reasons.push(`${path.basename(test)} failed (exit ${r.status}): ${out.split('\n').slice(-2).join(' ').slice(0, 200)}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private async cleanup(name: string): Promise<void> {
    const s = await readState(this.ssh, this.settings).catch(() => null);
    if (s && (s.patches.some((x) => x.name === name) || s.livepatchModules.some((m) => m.name === name))) {
      await unloadModule(this.ssh, this.settings, name).catch(() => undefined);
    }
  }

  private consoleLog(): string {
    return path.join(CACHE, 'testvm', 'run', this.name, 'console.log');
  }

  /** The first oops or BUG line on the serial console, with the function it names. */
  lastOops(): string | null {
    let text = '';
    try {
      text = fs.readFileSync(this.consoleLog(), 'utf8');
    } catch {
      return null;
    }
    const lines = text.split('\n');
    const i = lines.findIndex((l) => /BUG:|Oops:|general protection fault|Kernel panic/.test(l));
    if (i < 0) return null;
    const rip = lines.slice(i).find((l) => /\bRIP: /.test(l));
    return `${lines[i].replace(/^\[[^\]]*\]\s*/, '').trim()}${rip ? ` (${rip.replace(/^\[[^\]]*\]\s*/, '').trim()})` : ''}`.slice(0, 300);
  }

  /** Copies the console log (it is overwritten by the next boot); returns where. */
  saveConsole(to: string): string {
    try {
      fs.mkdirSync(path.dirname(to), { recursive: true });
      fs.copyFileSync(this.consoleLog(), to);
    } catch {
      return '(no console log)';
    }
    return to;
  }

  /** Closes the connection and stops the VM (unless KLP_BENCH_KEEP_VM asks to keep it; `crashed` stops it anyway). */
  async stop(crashed = false): Promise<void> {
    await this.ssh.closeMaster().catch(() => undefined);
    fs.rmSync(this.controlDir, { recursive: true, force: true });
    if (process.env.KLP_BENCH_KEEP_VM && !crashed) return;
    try {
      execFileSync(path.join(ROOT, 'scripts/testvm/stop.sh'), ['--name', this.name], { stdio: ['ignore', 2, 'inherit'] });
    } catch {
      // already gone
    }
  }
}
