// unsupported-file: kpatch-build refuses patches to assembly and lib/ up front,
// and its compiler wrapper never collects objects from boot code, the vDSO,
// purgatory, the EFI stub, host tools and a few generated objects, so changes
// there never reach the patch module. Build files are not live-patched at all.

import type { FileChange, Rule } from './rule';
import { firstChange } from './lib/hunks';

interface Verdict {
  severity: 'error' | 'warning';
  message: string;
}

// kpatch-cc's skip list (x86 first; the other arches kpatch supports too).
const SKIPPED: [RegExp, string][] = [
  [/^arch\/x86\/boot\//, 'x86 boot code (runs before the kernel proper)'],
  [/^arch\/x86\/(?:entry\/)?vdso\//, 'the vDSO (it runs in user space, mapped into every process)'],
  [/^arch\/x86\/purgatory\//, 'kexec purgatory'],
  [/^arch\/x86\/realmode\//, 'the real-mode trampoline'],
  [/^arch\/x86\/tools\//, 'a build-time host tool'],
  [/^arch\/powerpc\/kernel\/(?:prom_init\.c$|vdso64\/)/, 'early boot or vDSO code'],
  [/^arch\/s390\/(?:boot|purgatory|kernel\/vdso64)\//, 'boot, purgatory or vDSO code'],
  [/^drivers\/firmware\/efi\/libstub\//, 'the EFI stub (runs before the kernel, from the firmware)'],
  [/^tools\//, 'user-space tools, not kernel code'],
  [/^init\/version[^/]*$/, 'the kernel version banner object'],
  [/^kernel\/system_certificates/, 'the built-in certificate blob'],
  [/^usr\//, 'the built-in initramfs'],
];

const BUILD_FILE = /(?:^|\/)(?:Makefile[^/]*|Kbuild[^/]*|Kconfig[^/]*|[^/]+\.mk|[^/]*defconfig|\.config)$|\.lds$|^scripts\//;

export function classifyPath(path: string): Verdict | null {
  if (/\.S$/.test(path)) {
    return {
      severity: 'error',
      message:
        `${path} is assembly. Assembly has no ftrace entry (fentry) that livepatch could redirect, and kpatch-build ` +
        `refuses it before building ("unsupported patch to assembly: ${path}", then "Unsupported changes detected"). ` +
        `Move the fix into a C caller or callee, or repair the state it produces in a pre/post-patch callback ` +
        `(callbacks can compensate for code that cannot be patched).`,
    };
  }
  if (/^lib\//.test(path)) {
    return {
      severity: 'error',
      message:
        `${path} is under lib/. That code is linked into lib.a and kpatch-build refuses the patch before building ` +
        `("unsupported patch to lib/: ${path}", then "Unsupported changes detected"). Copy the fixed function ` +
        `under a new name into the file of a caller outside lib/ and patch the callers to use it.`,
    };
  }
  for (const [re, what] of SKIPPED) {
    if (re.test(path)) {
      return {
        severity: 'error',
        message:
          `${path} belongs to ${what}. kpatch-build's compiler wrapper skips the objects built there, so this ` +
          `change never reaches the patch module (if nothing else changes the build ends with "no changed objects ` +
          `found" or "no functional changes found"). It cannot be live-patched: ship it with the next kernel update ` +
          `and reboot, or fix the behaviour from kernel C code that can be patched.`,
      };
    }
  }
  if (BUILD_FILE.test(path)) {
    return {
      severity: 'warning',
      message:
        `${path} is a build file. A live patch replaces functions in the running kernel; it cannot change how ` +
        `that kernel was configured or built, and kpatch-build rebuilds with the running kernel's .config. If the ` +
        `fix needs this change (new object, flag, Kconfig option), it cannot be live-patched as is; if it does ` +
        `not, drop this file from the live patch.`,
    };
  }
  return null;
}

function paths(fc: FileChange): string[] {
  return [...new Set([fc.patch.oldPath, fc.patch.newPath].filter((p): p is string => !!p))];
}

export const unsupportedFile: Rule = {
  id: 'unsupported-file',
  severity: 'error',
  title: 'Assembly, lib/, skipped directories and build files cannot be live-patched',
  check(ctx) {
    for (const fc of ctx.files) {
      const verdicts = paths(fc)
        .map(classifyPath)
        .filter((v): v is Verdict => !!v);
      const v = verdicts.find((x) => x.severity === 'error') ?? verdicts[0];
      if (!v) continue;
      const at = firstChange(fc);
      ctx.report({ severity: v.severity, file: fc.path, line: at.line, endLine: at.endLine, image: at.image, message: v.message });
    }
  },
};
