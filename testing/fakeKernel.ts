// Test support: a stand-in kernel for tests that drive the client's real commands over the
// loopback sshd (the fault suite, the VS Code end-to-end test). A sysfs/procfs-shaped fixture,
// plus `make`, `insmod` and `rmmod` scripts placed first on the login's PATH that change the
// fixture the way kbuild and the kernel would. Nothing here touches the real kernel.

import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * A stand-in .ko is one line of text:
 *   klp-fake-ko <module name> <seconds insmod takes> <transition left 0|1> [<object>:<func,sympos> ...]
 * With no functions listed, it patches vmlinux:klp_fake_func,1.
 */
export function fakeKo(name: string, opts: { delaySeconds?: number | string; transition?: 0 | 1; functions?: string[] } = {}): string {
  return `${['klp-fake-ko', name, String(opts.delaySeconds ?? 0), String(opts.transition ?? 0), ...(opts.functions ?? [])].join(' ')}\n`;
}

/** The scripts, for a fixture whose sysfs is `sys` and procfs `proc`; `insmodLog` records every load. */
export function fakeKernelTools(sys: string, proc: string, opts: { insmodLog?: string } = {}): Record<'make' | 'insmod' | 'rmmod', string> {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    // kbuild stand-in: runs the fake-build.sh uploaded with the module sources (M=dir), or
    // "builds" a generated klp_patch module: a fake .ko naming the objects and functions of
    // its klp_func/klp_object tables.
    make: `#!/bin/sh
for a; do case $a in M=*) M=\${a#M=};; esac; done
if [ -n "$M" ] && [ -f "$M/fake-build.sh" ]; then exec sh "$M/fake-build.sh" "$M"; fi
name=$(sed -n 's/^obj-m *[:+]= *\\([A-Za-z0-9_-]*\\)\\.o$/\\1/p' "$M/Kbuild" 2>/dev/null | head -n 1)
src="$M/$name.c"; [ -f "$src" ] || src="$M/klp_patch_tables.c"
if [ -z "$name" ] || [ ! -f "$src" ]; then echo "make: *** stand-in make: nothing to build in M=$M" >&2; exit 2; fi
echo "  CC [M]  $M/$name.o"
funcs=$(awk '
  /static struct klp_func [A-Za-z0-9_]+_funcs\\[\\]/ { t = $4; sub(/_funcs.*/, "", t) }
  /\\.old_name = "/ { split($0, q, "\\""); f[t] = f[t] " " q[2] }
  /\\.old_sympos = / { gsub(/[^0-9]/, "", $3); s[t, q[2]] = $3 }
  /\\.name = NULL/ { o = "vmlinux" }
  /^\\t\\t\\.name = "/ { split($0, q, "\\""); o = q[2] }
  /\\.funcs = / { t = $3; sub(/_funcs.*/, "", t); n = split(f[t], a, " ")
    for (i = 1; i <= n; i++) printf "%s:%s,%s ", o, a[i], ((t, a[i]) in s ? s[t, a[i]] : 1) }
  /^\\t\\.replace = true,/ { printf "+replace " }
' "$src")
line=$(printf 'klp-fake-ko %s 0 0 %s' "$name" "$funcs")
if [ "$src" = "$M/klp_patch_tables.c" ]; then
  # A patched unit: the client runs its ELF pass on the .ko, so it is a real ELF object
  # carrying the stand-in's line in a section of its own.
  printf 'const char klp_fake_ko[] __attribute__((used, section(".klp_fake"))) = "%s";\\n' "$line" >"$M/.fake-ko.c"
  gcc -c -o "$M/$name.ko" "$M/.fake-ko.c" || exit 2
else
  printf '%s\\n' "$line" >"$M/$name.ko"
fi
echo "  LD [M]  $M/$name.ko"
`,
    // Creates the patch's sysfs tree like klp_enable_patch(), taints K, and leaves the
    // transition as the .ko says (1: stuck, for the stalled-transition faults).
    insmod: `#!/bin/sh
SYS=${q(sys)}; PROC=${q(proc)}
f=$1
# Uninterruptible from the start, as finit_module is (the sleep below is the load's length).
if [ -r "$SYS/.insmod-uninterruptible" ]; then trap '' TERM INT HUP; fi
# An ELF .ko (a patched unit after the ELF pass) carries the line in its .klp_fake section.
if [ "$(head -c 4 "$f" 2>/dev/null | tr -d '\\177')" = ELF ]; then line=$(strings -a "$f" | grep -m 1 '^klp-fake-ko '); else line=$(head -n 1 "$f" 2>/dev/null); fi
if ! read -r magic name delay tr funcs <<EOF_LINE || [ "$magic" != klp-fake-ko ]; then
$line
EOF_LINE
  echo "insmod: ERROR: could not insert module $f: Invalid module format" >&2; exit 1
fi
[ "$delay" = 0 ] || sleep "$delay"
# finit_module cannot be interrupted: with <sys>/.insmod-uninterruptible holding N, the load
# ignores TERM (and so does its sleep) and completes after N seconds whatever happens.
if [ -r "$SYS/.insmod-uninterruptible" ]; then read -r n <"$SYS/.insmod-uninterruptible"; trap '' TERM INT HUP; sleep "$n"; fi
d="$SYS/kernel/livepatch/$name"
if [ -d "$SYS/module/$name" ]; then echo "insmod: ERROR: could not insert module $f: File exists" >&2; exit 1; fi
mkdir -p "$SYS/module/$name"
rep=0
for of in \${funcs:-vmlinux:klp_fake_func,1}; do
  [ "$of" = +replace ] && { rep=1; continue; }
  mkdir -p "$d/\${of%%:*}/\${of#*:}"; echo 1 >"$d/\${of%%:*}/patched"
done
echo 1 >"$d/enabled"; echo "$tr" >"$d/transition"; : >"$d/force"
# A replace patch (the 6.11+ attribute): when its transition ends, the kernel frees every other
# patch (their directories go; their modules stay loaded until rmmod).
if [ "$rep" = 1 ]; then
  echo 1 >"$d/replace"
  if [ "$tr" = 0 ]; then for o in "$SYS/kernel/livepatch"/*; do [ "$o" = "$d" ] || rm -rf "$o"; done; fi
fi
echo OEK >"$SYS/module/$name/taint"
echo 45056 >"$PROC/sys/kernel/tainted"
${opts.insmodLog ? `echo "$name $f" >>${q(opts.insmodLog)}` : ':'}
`,
    // Refuses while the patch is enabled (module in use); a disabled patch is freed; a module
    // finishTransition() marked as kept by a forced removal stays until "reboot", as on 6.1.
    rmmod: `#!/bin/sh
SYS=${q(sys)}
name=$1; d="$SYS/kernel/livepatch/$name"
[ -d "$SYS/module/$name" ] || { echo "rmmod: ERROR: Module $name is not currently loaded" >&2; exit 1; }
if [ -d "$d" ]; then
  read -r en <"$d/enabled"
  if [ "$en" = 1 ]; then echo "rmmod: ERROR: Module $name is in use" >&2; exit 1; fi
  rm -rf "$d"
fi
if [ -e "$SYS/module/$name/forced" ]; then echo "rmmod: ERROR: Module $name is in use" >&2; exit 1; fi
rm -rf "$SYS/module/$name"
`,
  };
}

/**
 * The kernel ends the transition of `name` (tests call this where the real kernel would finish
 * it on its own). When `force` was written, it marks what klp_force_transition() marks on 6.1:
 * the patch itself when it was being disabled, every other patch when a replace patch (a
 * `replace` attribute of 1) was being enabled; a marked module stays in use for ever. Then the
 * patches a replace patch replaced and a disabled patch are freed (their directories go); an
 * enabled one stays, with transition 0.
 */
export function finishTransition(sys: string, name: string): void {
  const root = path.join(sys, 'kernel/livepatch');
  const d = path.join(root, name);
  const read = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim() : '');
  const enabled = read(path.join(d, 'enabled')) === '1';
  const replaced = enabled && read(path.join(d, 'replace')) === '1' ? fs.readdirSync(root).filter((p) => p !== name) : [];
  if (read(path.join(d, 'force')) === '1') {
    for (const k of enabled ? replaced : [name]) {
      if (fs.existsSync(path.join(sys, 'module', k))) fs.writeFileSync(path.join(sys, 'module', k, 'forced'), '');
    }
    fs.writeFileSync(path.join(d, 'force'), '');
  }
  // Replaced patches are freed with the transition; so is a disabled one.
  for (const k of replaced) fs.rmSync(path.join(root, k), { recursive: true, force: true });
  if (enabled) fs.writeFileSync(path.join(d, 'transition'), '0\n');
  else fs.rmSync(d, { recursive: true, force: true });
}

/** Writes the scripts into `bin` (executable); put `bin` first on the sshd login's PATH. */
export function installFakeKernelTools(bin: string, sys: string, proc: string, opts: { insmodLog?: string } = {}): void {
  fs.mkdirSync(bin, { recursive: true });
  fs.chmodSync(bin, 0o755);
  for (const [name, text] of Object.entries(fakeKernelTools(sys, proc, opts)))
    fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
}

/** The module sources buildKbuildModule uploads: the stand-in make runs their fake-build.sh. */
export function fakeModuleSources(name: string, opts: { sleep?: string; log?: string } = {}): Record<string, string> {
  const log = opts.log ? `echo "begin ${name}" >>'${opts.log}'\n` : '';
  const logEnd = opts.log ? `echo "end ${name}" >>'${opts.log}'\n` : '';
  return {
    [`${name}.c`]: '/* stand-in */\n',
    Kbuild: `obj-m += ${name}.o\n`,
    'fake-build.sh': `M=$1\n${log}echo "  CC [M]  $M/${name}.o"\n${opts.sleep ? `sleep ${opts.sleep}\n` : ''}printf '${fakeKo(name).trimEnd()}\\n' >"$M/${name}.ko"\necho "  LD [M]  $M/${name}.ko"\n${logEnd}`,
  };
}

/**
 * Lets the unprivileged test login change the fixture: directories 0777, files 0666;
 * executables stay executable and write-only attributes (like `force`) stay write-only.
 */
export function chmodTree(p: string): void {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    fs.chmodSync(p, 0o777);
    for (const e of fs.readdirSync(p)) chmodTree(path.join(p, e));
  } else if (st.isFile() && !(st.mode & 0o111)) {
    // Owner-unreadable is a write-only attribute by intent (a umask of 077 gives 0600, not that).
    fs.chmodSync(p, st.mode & 0o400 ? 0o666 : 0o222);
  }
}
