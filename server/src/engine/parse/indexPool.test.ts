// IndexPool: a worker thread indexes changed files exactly as the main thread would,
// each file is indexed once, and a worker that dies leaves its files to the main thread.
// The worker is dist/index-worker.js: `node esbuild.mjs` first (npm test does).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IndexPool, type IndexJob, type IndexResult } from './indexPool';
import { fromStoredIndex } from '../index/indexer';
import { summary } from '../../../../testing/indexSummary';
import { createParser } from './parser';
import { DocumentTrees } from './documentTrees';
import { rootItems } from './slice';
import { tempDir } from '../../../../testing/tempDir';

const script = path.join(__dirname, '..', '..', '..', '..', 'dist', 'index-worker.js');

function job(i: number): IndexJob {
  const pre = `#include <linux/kernel.h>\n\nstatic int counter_${i};\n\nstatic inline int helper_${i}(int x)\n{\n\treturn x + ${i};\n}\n\nint caller_${i}(void)\n{\n\tcounter_${i}++;\n\treturn helper_${i}(counter_${i});\n}\n`;
  const post = pre.replace(`return x + ${i};`, `pr_info("%d\\n", x);\n\treturn x + ${i} + 1;`);
  return { prePath: `drivers/demo/f${i}.c`, postPath: `drivers/demo/f${i}.c`, pre, post };
}

test('a worker indexes pre- and post-images exactly as this thread does, and sends the top-level items for the store', async () => {
  assert.ok(fs.existsSync(script), `${script} is built by node esbuild.mjs`);
  const jobs = Array.from({ length: 6 }, (_, i) => job(i));
  const pool = IndexPool.start(jobs, { minBytes: 0, script });
  assert.ok(pool, 'a pool for 6 jobs with no size floor');
  try {
    // Leave every job to the worker: wait for it to claim them all (it takes them from the last).
    const deadline = Date.now() + 30_000;
    const fromWorker = new Map<number, IndexResult | null>();
    for (let i = jobs.length - 1; i >= 0; i--) {
      while (Date.now() < deadline && pool.claimedByWorker(i) === false) await new Promise((r) => setTimeout(r, 5));
      assert.equal(pool.claim(i), false, `job ${i} was the worker's`);
      fromWorker.set(i, await pool.result(i));
    }
    const trees = new DocumentTrees(await createParser('wasm'), 1);
    for (let i = 0; i < jobs.length; i++) {
      const pre = trees.index('k', jobs[i].prePath, jobs[i].pre);
      // Each image's top-level items come along, for the index store.
      const items = rootItems(trees.entry('k')!.tree.rootNode);
      const post = trees.index('k', jobs[i].postPath, jobs[i].post);
      const postItems = rootItems(trees.entry('k')!.tree.rootNode);
      trees.drop('k');
      const got = fromWorker.get(i);
      assert.ok(got && !('timeout' in got), `job ${i}: indexed`);
      // The worker sends plain data; the index made from it here must say all the same things, body facts included.
      assert.deepEqual(summary(fromStoredIndex(got.pre, jobs[i].prePath, jobs[i].pre)), summary(pre), `job ${i}: pre-image`);
      assert.deepEqual(summary(fromStoredIndex(got.post, jobs[i].postPath, jobs[i].post)), summary(post), `job ${i}: post-image`);
      assert.deepEqual({ items: got.items, postItems: got.postItems }, { items, postItems }, `job ${i}: top-level items`);
    }
  } finally {
    pool.close();
  }
});

test("a job this thread claimed first is not the worker's; a worker that dies without answering hands its job back", async () => {
  const dir = tempDir('klp-pool-');
  // A worker that claims the last job and exits without a word.
  const dying = path.join(dir, 'dying-worker.js');
  fs.writeFileSync(
    dying,
    `const { workerData } = require('node:worker_threads');
     const s = new Int32Array(workerData.claims);
     Atomics.compareExchange(s, s.length - 1, 0, 2);
     process.exit(0);`,
  );
  const jobs = [job(0), job(1)];
  const pool = IndexPool.start(jobs, { minBytes: 0, script: dying });
  assert.ok(pool);
  try {
    assert.equal(pool.claim(0), true, 'nobody had job 0');
    assert.equal(pool.claim(0), false, 'a job is claimed once');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && pool.claimedByWorker(1) === false) await new Promise((r) => setTimeout(r, 5));
    assert.equal(pool.claim(1), false);
    const late = new Promise((r) => setTimeout(() => r('still waiting after 30 s'), 30_000).unref());
    assert.equal(await Promise.race([pool.result(1), late]), null, 'no result: the caller indexes job 1 itself');
  } finally {
    pool.close();
  }
});

test('no pool for little work or one job', () => {
  assert.equal(IndexPool.start([job(0), job(1)], { script }), null, 'two small files: below the size floor');
  assert.equal(IndexPool.start([job(0)], { minBytes: 0, script }), null, 'one file: nothing to share');
});
