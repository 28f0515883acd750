// `livepatch-deploy`: the extension's kbuild path from a terminal or a CI job. Checks a patch
// with the engine, generates the klp_patch module from the target's own symbols, builds it on
// the target, loads it (sha256-checked), verifies what the kernel reports against what was
// generated, and (unless --keep) disables and unloads it again. The same code as the
// extension's commands: SshTarget, deploy/operations and the target-wide lock.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  analyzePatches,
  DEFAULT_MAX_FILE_BYTES,
  PatchError,
  GenerateError,
  moduleNameFrom,
  moduleNameProblem,
  type GeneratedModule,
  NOT_ANALYSED,
  readBounded,
  KernelTree,
  generatePatchedUnit,
  type PatchedUnitModule,
  Kallsyms,
  parseSymversObjects,
  createParser,
  formatText,
} from '../../../server/src/engine';
import { replaceSummary } from '../deploy/replace';
import {
  BuildFailed,
  IntegrityError,
  LoadInterrupted,
  afterInterruptedLoad,
  loadModule,
  readState,
  unloadModule,
  type BuiltModule,
  type Progress,
  type TargetSettings,
} from '../deploy/operations';
import { buildUnit, defaultTargetCache, generateWithCurrentKallsyms, readUnitInputs } from '../deploy/unitBuild';
import { withTargetLock } from '../deploy/targetLock';
import { SshError, SshTarget, configFromSetting, prepareControlDir } from '../remote/ssh';
import type { LivepatchState } from '../remote/state';

const USAGE = `usage: livepatch-deploy --target DEST --tree DIR [options] PATCH
  --target DEST        the test VM: a ~/.ssh/config alias or user@host[:port]
  --tree DIR           the kernel source tree the patch applies to
  --config FILE        kernel .config for module decisions (default: DIR/.config)
  --ssh-config FILE    ssh_config file to use instead of ~/.ssh/config
  --sudo               run privileged commands with sudo -n (default: log in as root)
  --accept-new-host-key  accept the key of a host never seen before (a changed key is always refused)
  --work-dir DIR       remote directory for sources and modules (default /root/livepatch)
  --name NAME          module name (default: livepatch_<patch file name>): letters, digits, '_'
  --replace            build an atomic-replace patch: loading it disables and replaces every
                       livepatch already loaded (it says which); default: stack on them
  --max-file-size BYTES  changed files bigger than this are not analysed (default 4 MiB)
  --force              deploy despite error-level findings (a file that was not analysed
                       still cannot be turned into a module)
  --keep               leave the patch loaded (default: disable and unload it after verifying)
  --build-on WHERE     where make runs; the module is the patched file itself, compiled, with
                       the kernel's symbols bound by klp relocations (the ELF pass runs here).
                       auto (default): on this machine when it has /usr/src/linux-headers-<release>
                       with the target's identical Module.symvers, else on the target against
                       /lib/modules/<release>/build; host: this machine or fail; target: the target
exit status: 0 deployed and verified, 1 the patch cannot be deployed (findings, refused by the
generator, build or verification failed), 2 usage, input or target errors, 130 interrupted
(it then says whether the patch is loaded)`;

interface Args {
  target: string;
  tree: string;
  config: string | null;
  sshConfig: string | null;
  sudo: boolean;
  acceptNew: boolean;
  workDir: string;
  name: string | null;
  replace: boolean;
  maxFileBytes: number;
  force: boolean;
  keep: boolean;
  sysfsRoot: string;
  procRoot: string;
  buildOn: 'auto' | 'host' | 'target';
  patch: string;
}

class UsageError extends Error {}
/** The patch cannot be deployed as it is (exit 1), as opposed to a broken setup (exit 2). */
class NotDeployable extends Error {}

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> & { patches: string[] } = {
    config: null,
    sshConfig: null,
    sudo: false,
    acceptNew: false,
    workDir: '/root/livepatch',
    name: null,
    replace: false,
    maxFileBytes: DEFAULT_MAX_FILE_BYTES,
    force: false,
    keep: false,
    sysfsRoot: '/sys',
    procRoot: '/proc',
    buildOn: 'auto',
    patches: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--target':
        a.target = value();
        break;
      case '--tree':
        a.tree = value();
        break;
      case '--config':
        a.config = value();
        break;
      case '--ssh-config':
        a.sshConfig = value();
        break;
      case '--sudo':
        a.sudo = true;
        break;
      case '--accept-new-host-key':
        a.acceptNew = true;
        break;
      case '--work-dir':
        a.workDir = value();
        break;
      case '--name':
        a.name = value();
        break;
      case '--replace':
        a.replace = true;
        break;
      case '--no-replace':
        a.replace = false;
        break; // the default; still accepted
      case '--max-file-size': {
        const v = value();
        if (!/^[1-9][0-9]{0,15}$/.test(v) || !Number.isSafeInteger(Number(v)))
          throw new UsageError(`--max-file-size takes a number of bytes, not '${v}'`);
        a.maxFileBytes = Number(v);
        break;
      }
      case '--force':
        a.force = true;
        break;
      case '--keep':
        a.keep = true;
        break;
      case '--build-on': {
        const v = value();
        if (v !== 'auto' && v !== 'host' && v !== 'target') throw new UsageError(`--build-on takes auto, host or target, not '${v}'`);
        a.buildOn = v;
        break;
      }
      // Where sysfs and procfs are on the target: for tests against a fixture, and chroots.
      case '--sysfs-root':
        a.sysfsRoot = value();
        break;
      case '--proc-root':
        a.procRoot = value();
        break;
      case '-h':
      case '--help':
        throw new UsageError('');
      default:
        if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
        a.patches.push(arg);
    }
  }
  if (!a.target) throw new UsageError('--target is required');
  if (!a.tree) throw new UsageError('--tree is required');
  if (a.patches.length !== 1) throw new UsageError('give exactly one patch');
  if (a.name !== null && a.name !== undefined) {
    const why = moduleNameProblem(a.name);
    if (why) throw new UsageError(`--name ${JSON.stringify(a.name)}: ${why}`);
  }
  return { ...(a as Args), patch: a.patches[0] };
}

const log = (msg: string): void => void process.stderr.write(`livepatch-deploy: ${msg}\n`);
const say = (msg: string): void => void process.stdout.write(`livepatch-deploy: ${msg}\n`);

/** What the kernel reports for the loaded patch, checked against the functions generated for it. */
export function verifyLoaded(state: LivepatchState, mod: Pick<GeneratedModule, 'name' | 'functions'>): string[] {
  const p = state.patches.find((x) => x.name === mod.name);
  if (!p) return [`${mod.name} is not in /sys/kernel/livepatch`];
  const problems: string[] = [];
  if (!p.enabled) problems.push(`${mod.name} is not enabled`);
  if (p.transition) problems.push(`${mod.name} is still in transition`);
  for (const f of mod.functions) {
    const o = p.objects.find((x) => x.name === f.object);
    if (!o) problems.push(`object ${f.object} is missing`);
    else if (!o.functions.some((x) => x.name === f.oldName)) problems.push(`${f.object}:${f.oldName} is not patched`);
  }
  for (const o of p.objects) if (o.patched === false && o.name === 'vmlinux') problems.push('vmlinux is not patched');
  if (!state.taint.livepatch) problems.push('the kernel is not tainted K');
  return problems;
}

function describe(state: LivepatchState, name: string): string {
  const p = state.patches.find((x) => x.name === name);
  const objs =
    p?.objects.map(
      (o) =>
        `${o.name}${o.patched === false ? ' (waiting for its module)' : ' patched'}: ${o.functions.map((f) => `${f.name},${f.sympos}`).join(' ')}`,
    ) ?? [];
  return `${objs.join('; ')}; taint ${state.taint.flags.join('') || 'none'}`;
}

async function deploy(args: Args): Promise<number> {
  const text = readBounded(args.patch);
  if (!fs.existsSync(args.tree)) throw new PatchError(`kernel tree '${args.tree}' does not exist`);
  const parser = await createParser();
  const result = await analyzePatches([{ name: args.patch, text }], {
    tree: args.tree,
    config: args.config,
    parser,
    maxFileBytes: args.maxFileBytes,
    maxFileBytesName: '--max-file-size',
  });
  const errors = result.findings.filter((f) => f.severity === 'error');
  if (errors.length) {
    process.stdout.write(formatText(result));
    const unchecked = errors.filter((f) => f.rule === NOT_ANALYSED.id).map((f) => f.file);
    const what =
      unchecked.length === errors.length
        ? `${unchecked.join(', ')} ${unchecked.length === 1 ? 'was' : 'were'} not analysed`
        : `${errors.length} error-level finding(s)${unchecked.length ? `, ${unchecked.join(', ')} not analysed` : ''}`;
    if (!args.force) throw new NotDeployable(`${what}: not deploying (--force deploys anyway)`);
    log(`--force: deploying despite ${what}`);
  }
  const name = args.name ?? moduleNameFrom(args.patch === '-' ? 'stdin' : args.patch);
  const settings: TargetSettings = {
    name: args.target,
    destination: args.target,
    workDir: args.workDir,
    backend: 'kbuild',
    sysfsRoot: args.sysfsRoot,
    procRoot: args.procRoot,
  };
  const controlDir = prepareControlDir(fs.mkdtempSync(path.join(os.tmpdir(), 'klp-deploy-')));
  const ssh = new SshTarget(
    configFromSetting(
      {
        destination: args.target,
        sshConfigFile: args.sshConfig ?? undefined,
        privilege: args.sudo ? 'sudo' : 'root',
        acceptNewHostKey: args.acceptNew,
      },
      { controlDir },
    ),
  );
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const p: Progress = { signal: abort.signal, onStep: log };
  /** Set once insmod may have run: from then on an interruption says what is loaded. */
  let loading: string | undefined;
  try {
    return await withTargetLock(
      ssh,
      settings,
      `livepatch-deploy ${name}`,
      async () => {
        const sym = await readUnitInputs(ssh, settings, { cacheDir: defaultTargetCache() }, p);
        if (args.buildOn === 'host' && !sym.hostHeaders) throw new NotDeployable(`--build-on host: ${sym.where}`);
        const onHost = sym.hostHeaders !== null && args.buildOn !== 'target';
        log(onHost ? sym.where : args.buildOn === 'target' ? `building on ${args.target} (--build-on target)` : sym.where);
        log(`generating ${name} for ${sym.release}${sym.kallsymsFromCache ? ' (kallsyms from the cache)' : ''}`);
        let mod: Pick<GeneratedModule, 'name' | 'functions'>;
        let built: BuiltModule;
        try {
          const tree = KernelTree.open(args.tree, args.config);
          const unit = (kallsyms: string): PatchedUnitModule =>
            generatePatchedUnit(result, {
              name,
              replace: args.replace,
              exported: parseSymversObjects(sym.symvers),
              kallsyms: kallsyms ? new Kallsyms(kallsyms) : null,
              tree,
              parser,
              allowFindings: args.force,
            });
          const m = await generateWithCurrentKallsyms(ssh, settings, defaultTargetCache(), sym, p, unit, (u) => u.objects);
          for (const n of m.notes) log(`note: ${n}`);
          mod = m;
          built = await buildUnit(ssh, settings, m, sym, p, args.buildOn);
        } catch (err) {
          if (err instanceof GenerateError) throw new NotDeployable(err.message);
          if (err instanceof BuildFailed) {
            process.stderr.write(`${err.output.split('\n').slice(-40).join('\n')}\n`);
            throw new NotDeployable(err.message);
          }
          throw err;
        }
        say(
          `${mod.name}: built on ${built.builtOn === 'host' ? 'this machine, uploaded to ' : ''}${args.target} (${sym.release}), sha256 ${built.sha256.slice(0, 16)}…`,
        );
        // What a replace patch is about to take the place of, read just before loading it.
        const before = await readState(ssh, settings, p);
        (args.replace ? say : log)(replaceSummary(before, mod.name, args.target, args.replace));
        let loaded: LivepatchState;
        loading = mod.name;
        try {
          loaded = await loadModule(ssh, settings, built.path, mod.name, p, { sha256: built.sha256 });
        } catch (err) {
          if (err instanceof IntegrityError) throw new NotDeployable(err.message);
          throw err;
        }
        const problems = verifyLoaded(loaded, mod);
        if (problems.length) {
          if (!args.keep)
            await unloadModule(ssh, settings, mod.name, p).catch((e: Error) => log(`unloading after the failed check: ${e.message}`));
          throw new NotDeployable(`${mod.name} loaded, but ${problems.join('; ')}`);
        }
        say(`${mod.name}: loaded and verified: ${describe(loaded, mod.name)}`);
        if (args.keep) return 0;
        const after = await unloadModule(ssh, settings, mod.name, p);
        if (after.patches.some((x) => x.name === mod.name) || after.livepatchModules.some((m) => m.name === mod.name)) {
          throw new NotDeployable(`${mod.name} is still loaded after unloading`);
        }
        say(`${mod.name}: disabled and unloaded`);
        return 0;
      },
      { signal: abort.signal, onUnlocked: (why) => log(`running without the target lock: ${why}`) },
    );
  } catch (err) {
    // Ctrl-C after the load began (verifying, unloading): the patch may well be loaded.
    if (abort.signal.aborted && loading && !(err instanceof LoadInterrupted))
      throw await afterInterruptedLoad(ssh, settings, loading, err as Error);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await ssh.closeMaster();
    if (controlDir) fs.rmSync(controlDir, { recursive: true, force: true });
  }
}

export async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    const msg = (err as Error).message;
    process.stderr.write(msg ? `livepatch-deploy: ${msg}\n${USAGE}\n` : `${USAGE}\n`);
    return msg ? 2 : 0;
  }
  try {
    return await deploy(args);
  } catch (err) {
    if ((err instanceof LoadInterrupted && err.cancelled) || (err instanceof SshError && err.kind === 'cancelled')) {
      const what = err instanceof LoadInterrupted ? err.loadedNote : 'Nothing was loaded.';
      process.stderr.write(`livepatch-deploy: interrupted. ${what}\n`);
      return 130;
    }
    if (err instanceof NotDeployable) {
      process.stderr.write(`livepatch-deploy: ${err.message}\n`);
      return 1;
    }
    if (err instanceof PatchError || err instanceof SshError) {
      process.stderr.write(`livepatch-deploy: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`livepatch-deploy: ${(err as Error).stack ?? err}\n`);
    return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.stdout.write('', () => process.exit(code)));
}
