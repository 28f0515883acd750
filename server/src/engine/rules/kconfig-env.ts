// kconfig-env: kpatch-build refuses some kernels whatever the patch says. It reads
// the running kernel's .config before building anything and stops when debug info
// is missing or an option it does not support is on (randomised struct layout,
// latent entropy, split DWARF, x86 IBT); without CONFIG_LIVEPATCH nothing can be
// loaded. Only the target's .config knows this (not the tree's, which describes
// how that source was last configured), so the rule reads target facts only.

import type { Rule } from './rule';
import { firstChange } from './lib/hunks';

/** Options kpatch-build stops on when they are set: "kernel option 'CONFIG_X' not supported". */
const UNSUPPORTED = [
  'CONFIG_DEBUG_INFO_SPLIT',
  'CONFIG_GCC_PLUGIN_LATENT_ENTROPY',
  'CONFIG_GCC_PLUGIN_RANDSTRUCT',
  'CONFIG_X86_KERNEL_IBT',
];

const on = (config: ReadonlyMap<string, string>, k: string) => config.get(k) === 'y';

export const kconfigEnv: Rule = {
  id: 'kconfig-env',
  severity: 'error',
  title: "The target kernel's configuration rules out kpatch-build, whatever the patch",
  check(ctx) {
    const config = ctx.facts?.config;
    if (!config) return;
    const problems: string[] = [];
    if (!on(config, 'CONFIG_LIVEPATCH'))
      problems.push('CONFIG_LIVEPATCH is not set: the kernel has no livepatch core, so no patch module can be loaded');
    if (!on(config, 'CONFIG_DEBUG_INFO'))
      problems.push(`CONFIG_DEBUG_INFO is not set: kpatch-build stops with "kernel doesn't have 'CONFIG_DEBUG_INFO' enabled"`);
    for (const k of UNSUPPORTED) {
      if (on(config, k)) problems.push(`${k}=y: kpatch-build stops with "kernel option '${k}' not supported"`);
    }
    if (!problems.length) return;
    // One finding per analysis, on the first change of the first file: it is about the target, not a line.
    const fc = ctx.files.find((f) => f.isC) ?? ctx.files[0];
    if (!fc) return;
    const at = firstChange(fc);
    const of = ctx.facts!.release ? ` of ${ctx.facts!.release}` : '';
    ctx.report({
      file: fc.path,
      line: at.line,
      endLine: at.line,
      image: at.image,
      symbol: null,
      message: `The target's .config${of} rules out kpatch-build for any patch: ${problems.join('; ')}. Nothing in the patch can fix this: build against a kernel configured for livepatching (Debian's 6.1 kernels are), or check that the .config given is the target's.`,
    });
  },
};
