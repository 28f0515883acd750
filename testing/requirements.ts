// What some tests need from the machine (a local sshd, Debian's 6.1 headers, the
// kernel source tree), why it is missing and how to get it. Each probe returns a
// skip reason or undefined. CI sets KLP_REQUIRE_*=1: there a missing part must
// fail the tests that need it, so the probe says "present" and the test fails.
//
// A reason reads "<what is missing>: <how to get it>"; the skip summary at the end
// of `npm test` (testing/skipSummary.mjs) groups the skipped tests by it.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type Probe = () => string | undefined;

/** Where Debian's headers packages put their kbuild trees; tests may point it elsewhere. */
export function headersRoot(): string {
  return process.env.KLP_HEADERS_ROOT ?? '/usr/src';
}

/** The newest installed linux-headers-6.1.0-N-amd64 directory name, if any. */
export function installedHeaders(root = headersRoot()): string | undefined {
  if (!fs.existsSync(root)) return undefined;
  const names = fs.readdirSync(root).filter((d) => /^linux-headers-6\.1\.\d+-\d+-amd64$/.test(d));
  const abi = (d: string) => Number(/-(\d+)-amd64$/.exec(d)![1]);
  return names.sort((a, b) => abi(a) - abi(b)).pop();
}

export const kernelHeaders: Probe = () => {
  if (process.env.KLP_REQUIRE_KERNEL_HEADERS) return undefined;
  if (installedHeaders()) return undefined;
  return `no Debian 6.1 kernel headers in ${headersRoot()}: apt-get install linux-headers-6.1.0-<abi>-amd64 (the newest ABI apt knows)`;
};

/** The Debian 6.1 source tree the tests and benchmarks read (scripts/fetch-kernel-source.sh). */
export function kernelTreePath(): string {
  if (process.env.KLP_KERNEL_TREE) return process.env.KLP_KERNEL_TREE;
  const cache = process.env.KLP_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'kernel-livepatch');
  return path.join(cache, 'linux-6.1');
}

export const kernelTree: Probe = () => {
  if (process.env.KLP_REQUIRE_KERNEL_TREE === '1') return undefined;
  if (fs.existsSync(kernelTreePath())) return undefined;
  return 'no Debian 6.1 kernel tree: scripts/fetch-kernel-source.sh (or set KLP_KERNEL_TREE)';
};

export const shellcheck: Probe = () => {
  if (process.env.KLP_REQUIRE_SHELLCHECK) return undefined;
  const found = (process.env.PATH ?? '').split(path.delimiter).some((d) => d && fs.existsSync(path.join(d, 'shellcheck')));
  return found ? undefined : 'no shellcheck: apt-get install shellcheck';
};

/** The Debian release whose packages the target-facts tests read. */
export const DEBIAN_TARGET_RELEASE = '6.1.0-57-amd64';

/** Where scripts/fetch-target-facts.sh puts a release's facts (the deploy path caches kallsyms there too). */
export function targetFactsPath(release = DEBIAN_TARGET_RELEASE): string {
  const cache = process.env.KLP_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'kernel-livepatch');
  return path.join(cache, 'targets', release);
}

export const debianTargetFacts: Probe = () => {
  if (process.env.KLP_REQUIRE_TARGET_FACTS === '1') return undefined;
  if (fs.existsSync(path.join(targetFactsPath(), '.klp-facts'))) return undefined;
  return `no Debian ${DEBIAN_TARGET_RELEASE} target facts in ${targetFactsPath()}: scripts/fetch-target-facts.sh ${DEBIAN_TARGET_RELEASE}`;
};
