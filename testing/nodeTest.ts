// node:test with suites that stay countable when the machine lacks what they need.
//
// Node 20 skips a `describe(name, { skip })` without running its body, so the
// tests inside are never registered: the summary says "skipped 0" while dozens
// of tests did not run. Here a suite whose `skip` is a reason string still runs
// its body, but every test in it is registered as skipped with that reason and
// its hooks are dropped (they would start the very thing that is missing).
// Test files import describe/it/test/before/after from here instead of node:test.

import * as nodeTest from 'node:test';

type SuiteFn = (s: nodeTest.SuiteContext) => void;
type TestFn = nodeTest.TestFn;
type HookFn = Parameters<typeof nodeTest.before>[0];
type HookOptions = Parameters<typeof nodeTest.before>[1];

// The reason of the innermost suite being registered as skipped. Suite bodies run
// synchronously while they are registered, so a plain variable is enough.
let skipping: string | undefined;

export function describe(name: string, options: nodeTest.TestOptions, fn: SuiteFn): Promise<void>;
export function describe(name: string, fn: SuiteFn): Promise<void>;
export function describe(name: string, a: nodeTest.TestOptions | SuiteFn, b?: SuiteFn): Promise<void> {
  const [options, fn] = typeof a === 'function' ? [{}, a] : [a, b!];
  const reason = skipping ?? (typeof options.skip === 'string' ? options.skip : undefined);
  if (reason === undefined) return nodeTest.describe(name, options, fn);
  return nodeTest.describe(name, { ...options, skip: false }, (s) => {
    const outer = skipping;
    skipping = reason;
    try {
      const r: unknown = fn(s);
      if (r instanceof Promise) throw new Error(`suite "${name}": an async suite body cannot be registered as skipped`);
    } finally {
      skipping = outer;
    }
  });
}

export function test(name: string, options: nodeTest.TestOptions, fn?: TestFn): Promise<void>;
export function test(name: string, fn?: TestFn): Promise<void>;
export function test(name: string, a?: nodeTest.TestOptions | TestFn, b?: TestFn): Promise<void> {
  const [options, fn] = typeof a === 'function' || a === undefined ? [{}, a] : [a, b];
  if (skipping !== undefined) return nodeTest.test(name, { ...options, skip: skipping });
  return nodeTest.test(name, options, fn);
}
export const it = test;

function hook(register: (fn: HookFn, options?: HookOptions) => void) {
  return (fn: HookFn, options?: HookOptions): void => {
    if (skipping === undefined) register(fn, options);
  };
}
export const before = hook(nodeTest.before);
export const after = hook(nodeTest.after);
export const beforeEach = hook(nodeTest.beforeEach);
export const afterEach = hook(nodeTest.afterEach);
