// The README's Patch State screenshot (docs/screenshots/patch-state.png), taken against the
// real test VM: the packed extension in code-server (as in `npm run test:e2e`) whose target is
// the VM's ssh alias, with a livepatch loaded on that kernel by livepatch-deploy.
//
//   node --import tsx scripts/screenshots/patch-state.ts [--vm NAME] [--out FILE]
//
// Boots the VM `NAME` (default "shots", alias klp-testvm-NAME) unless it is running, and stops it
// again if it booted it. Needs what test:vm and test:e2e need: the VM image (scripts/testvm),
// the Debian 6.1 source (scripts/fetch-kernel-source.sh), code-server and Chromium.

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium } from 'playwright-core';
import { defaultKernelTree } from '../../server/src/engine/parse/accuracy';
import { SshTarget } from '../../client/src/remote/ssh';
import { readState, type TargetSettings } from '../../client/src/deploy/operations';
import { QUIET_SETTINGS, installCodeServer, installExtension, startCodeServer, writeUserSettings, type Dirs } from '../../test/e2e/codeServer';
import { Workbench } from '../../test/e2e/workbench';
import { cmdlineMarkerPatch } from '../../test/vm/cmdlinePatch';

const ROOT = path.join(__dirname, '..', '..');
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
};
const VM = arg('--vm', 'shots');
const OUT = path.resolve(arg('--out', path.join(ROOT, 'docs/screenshots/patch-state.png')));
const CACHE = process.env.KLP_CACHE ?? path.join(os.homedir(), '.cache', 'kernel-livepatch');
const SSH_CONFIG = path.join(CACHE, 'testvm', 'run', VM, 'ssh_config');
const ALIAS = `klp-testvm-${VM}`;
const TARGET = 'testvm';
const MODULE = 'livepatch_cmdline_marker';
const PATCH_FILE = 'cmdline-marker.patch';
const PATCH = cmdlineMarkerPatch('cmdline_proc_show is livepatched');

const testvm = (script: string, ...args: string[]): void => {
  execFileSync(path.join(ROOT, 'scripts/testvm', script), args, { stdio: 'inherit' });
};

function running(): boolean {
  try {
    execFileSync(path.join(ROOT, 'scripts/testvm/status.sh'), ['--name', VM], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A small kernel-style workspace: the patch, the file it changes, and the top-level Makefile/Kbuild. */
function makeWorkspace(tree: string, dir: string): void {
  for (const f of ['Makefile', 'Kbuild', 'fs/proc/cmdline.c']) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(tree, f), path.join(dir, f));
  }
  fs.writeFileSync(path.join(dir, PATCH_FILE), PATCH);
  const git = (...a: string[]): void => {
    execFileSync('git', ['-C', dir, '-c', 'user.name=shots', '-c', 'user.email=shots@localhost', '-c', 'init.defaultBranch=main', ...a], { stdio: 'ignore' });
  };
  git('init', '-q');
  git('add', '-A');
  git('commit', '-q', '-m', 'base');
}

/** Loads the patch on the VM with livepatch-deploy --keep (checked, generated, built, verified). */
function deploy(tree: string, patchFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'client/src/cli/livepatch-deploy.ts'),
      '--target', ALIAS, '--ssh-config', SSH_CONFIG, '--tree', tree, '--name', MODULE, '--keep', patchFile], { cwd: ROOT, stdio: 'inherit' });
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`livepatch-deploy exited with ${code}`))));
  });
}

async function main(): Promise<void> {
  const tree = defaultKernelTree();
  if (!fs.existsSync(path.join(tree, 'fs/proc/cmdline.c'))) throw new Error(`no kernel tree at ${tree}: run scripts/fetch-kernel-source.sh`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-shots-'));
  const booted = !running();
  let stopCs: (() => Promise<void>) | undefined;
  let closeBrowser: (() => Promise<void>) | undefined;
  try {
    if (booted) testvm('start.sh', '--name', VM, '--port', 'auto');
    const workspace = path.join(tmp, 'linux');
    makeWorkspace(tree, workspace);

    const settings: TargetSettings = { name: TARGET, destination: ALIAS, workDir: '/root/livepatch', backend: 'kbuild', sysfsRoot: '/sys', procRoot: '/proc' };
    const ssh = new SshTarget({ destination: ALIAS, configFile: SSH_CONFIG, connectTimeout: 30 });
    const s = await readState(ssh, settings);
    if (!s.patches.some((p) => p.name === MODULE && p.enabled)) await deploy(tree, path.join(workspace, PATCH_FILE));
    const loaded = await readState(ssh, settings);
    console.log(`kernel ${loaded.kernelRelease}, taint ${loaded.taint.value} (${loaded.taint.flags.join('')}), patches: ${loaded.patches.map((p) => p.name).join(', ')}`);

    const out = execFileSync(process.execPath, [path.join(ROOT, 'scripts/e2e/package.mjs'), '--out', path.join(tmp, 'kernel-livepatch.vsix')], { cwd: ROOT, encoding: 'utf8' });
    const vsix = /^vsix: (.+)$/m.exec(out)?.[1];
    if (!vsix) throw new Error(`package.mjs printed no VSIX path:\n${out}`);
    const bin = installCodeServer();
    const dirs: Dirs = { extensions: path.join(tmp, 'extensions'), userData: path.join(tmp, 'user-data'), xdg: path.join(tmp, 'xdg') };
    writeUserSettings(dirs, {
      ...QUIET_SETTINGS,
      'livepatch.targets': [{ name: TARGET, destination: ALIAS, sshConfigFile: SSH_CONFIG, backend: 'kbuild' }],
    });
    installExtension(bin, dirs, vsix);
    const cs = await startCodeServer(bin, dirs, workspace, { trust: true });
    stopCs = cs.stop;
    const ctx = await chromium.launchPersistentContext(path.join(tmp, 'chromium'), {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      viewport: { width: 1600, height: 1000 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps'],
    });
    closeBrowser = () => ctx.close();
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const wb = new Workbench(page, { ui: 30_000, slow: 180_000 }, tmp);
    await page.goto(`${cs.url}/?folder=${encodeURIComponent(workspace)}`);
    await wb.waitReady(PATCH_FILE);
    await wb.openFile(PATCH_FILE);
    await wb.runCommand('Livepatch: Focus on Patch State View');
    const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await wb.sidebarRow(new RegExp(`Kernel\\s*${esc(loaded.kernelRelease)}`)).waitFor({ timeout: 180_000 });
    await wb.sidebarRow(new RegExp(`${MODULE}\\s*enabled`)).waitFor({ timeout: 30_000 });
    await wb.expand(/vmlinux/);
    await wb.sidebarRow('cmdline_proc_show').waitFor({ timeout: 30_000 });
    await wb.sidebarRow(new RegExp(`Taint\\s*${loaded.taint.value} \\(${loaded.taint.flags.join('')}\\)`)).waitFor({ timeout: 30_000 });
    await wb.statusItem(`${TARGET}: ${loaded.patches.length} patch`).waitFor({ timeout: 30_000 });
    // The view's own selection highlight and the hover of the last click would be in the picture.
    await page.mouse.move(800, 980);
    fs.mkdirSync(path.dirname(OUT), { recursive: true });
    await page.screenshot({ path: OUT });
    console.log(`screenshot: ${OUT}`);
  } finally {
    await closeBrowser?.().catch(() => undefined);
    await stopCs?.().catch(() => undefined);
    if (booted) {
      try {
        testvm('stop.sh', '--name', VM);
      } catch {
        // already gone
      }
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
