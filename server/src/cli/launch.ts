// dist/livepatch-check.js: a small launcher. It sets the CLI's V8 flags, starts the
// tree-state `git diff-files` (the run's longest wait) before anything else, then loads
// the command (dist/livepatch-check-main.js, built from livepatch-check.ts) with a
// V8 code cache, so each run skips compiling the bundle (see codeCache.ts).

import * as path from 'node:path';
import * as v8 from 'node:v8';
import { loadWithCodeCache } from './codeCache';
import { startTreeState } from '../engine/tree/treeState';
import { treeArgument } from './treeArgument';

// Must match LAUNCH_V8_FLAGS in livepatch-check.ts (V8 refuses a code cache made under other flags).
const FLAGS = '--liftoff-only';
const MAIN = path.join(__dirname, 'livepatch-check-main.js');

if (require.main === module) {
  // For KLP_TIMINGS: how long node took to get here, and to load the bundle.
  const started = performance.now();
  v8.setFlagsFromString(FLAGS);
  const argv = process.argv.slice(2);
  const tree = treeArgument(argv);
  const treeState = tree ? startTreeState(tree) : null;
  const gitStarted = performance.now();
  const bundle = loadWithCodeCache(MAIN, module);
  const launch = { nodeMs: started, bundleMs: performance.now() - gitStarted, gitStartMs: gitStarted - started, treeState };
  bundle.exports.run(argv, () => bundle.saveCache(), launch);
} else {
  // Required as a library (main(), exitStatus()): the same exports.
  module.exports = loadWithCodeCache(MAIN, module).exports;
}
