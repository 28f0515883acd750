// dist/index-worker.js: an IndexPool worker. It takes changed files from the last
// one down, while the main thread takes them from the first, and stops at the first
// file the main thread already holds (it holds every file before that one too).

import { parentPort, workerData } from 'node:worker_threads';
import { createParser, ParseTimeout } from './parser';
import { DocumentTrees } from './documentTrees';
import { rootItems } from './slice';
import { toStoredIndex } from '../index/indexer';
import { FREE, WORKER, type IndexResult, type WorkerReply, type WorkerRequest } from './indexPool';

async function serve(): Promise<void> {
  const { jobs, claims } = workerData as WorkerRequest;
  const state = new Int32Array(claims);
  const parser = await createParser('wasm');
  // The same steps as the main thread's: a full parse of the pre-image, then an incremental one of the post-image.
  const trees = new DocumentTrees(parser, 1);
  for (let i = jobs.length - 1; i >= 0; i--) {
    if (Atomics.compareExchange(state, i, FREE, WORKER) !== FREE) break;
    const job = jobs[i];
    let result: IndexResult;
    try {
      const pre = toStoredIndex(trees.index('job', job.prePath, job.pre));
      // Each image's top-level items, for the main thread's index store.
      const items = rootItems(trees.entry('job')!.tree.rootNode);
      const post = toStoredIndex(trees.index('job', job.postPath, job.post));
      result = { pre, post, items, postItems: rootItems(trees.entry('job')!.tree.rootNode) };
    } catch (err) {
      if (!(err instanceof ParseTimeout)) throw err;
      result = { timeout: err.message };
    } finally {
      trees.drop('job');
    }
    parentPort!.postMessage({ job: i, result } satisfies WorkerReply);
  }
}

// An error ends this thread; the main thread indexes whatever this one held and did not send.
void serve().then(() => process.exit(0));
