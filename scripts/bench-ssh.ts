// npm run bench:ssh [-- --runs N]
// The client's orchestration overhead against the same steps typed by hand with ssh,
// on one loopback sshd in the same run: a trivial command (multiplexed and not), and a
// 1 MB upload. The client adds its remote wrapper (process-group watcher, stdin kept
// open for cancellation) and the atomic upload script; this prints what they cost.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildSshArgs, SshTarget } from '../client/src/remote/ssh';
import { startSshd, sshdUnavailable } from '../testing/sshd';
import { median, quantile } from './lib/stats';

function argValue(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

/** ssh as a user would run it: argv, stdin from a buffer, wait for exit. */
function handSsh(args: string[], remote: string, input?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [...args, remote], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ssh exit ${code}: ${err}`))));
    child.stdin.end(input);
  });
}

async function times(runs: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn(); // warm: the multiplexed master, the page cache
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const why = sshdUnavailable();
  if (why) {
    console.error(`bench:ssh: ${why}`);
    process.exit(2);
  }
  const runs = argValue('--runs', 30);
  const sshd = await startSshd();
  const control = fs.mkdtempSync(path.join(os.tmpdir(), 'klp-bench-ctl-'));
  fs.chmodSync(control, 0o700);
  try {
    const muxCfg = sshd.target({ controlDir: control });
    const plainCfg = sshd.target();
    const mux = new SshTarget(muxCfg);
    const plain = new SshTarget(plainCfg);
    const muxArgs = buildSshArgs(muxCfg);
    const plainArgs = buildSshArgs(plainCfg);
    const payload = crypto.randomBytes(1 << 20);
    const remoteFile = `/tmp/klp-bench-ssh-${process.pid}`;

    const rows: [string, number[], number[]][] = [
      ['true, multiplexed', await times(runs, () => handSsh(muxArgs, 'true')), await times(runs, () => mux.runChecked(['true']))],
      ['true, new connection', await times(runs, () => handSsh(plainArgs, 'true')), await times(runs, () => plain.runChecked(['true']))],
      [
        'upload 1 MB, multiplexed',
        await times(runs, () => handSsh(muxArgs, `cat > ${remoteFile}`, payload)),
        await times(runs, () => mux.upload(payload, remoteFile)),
      ],
    ];
    await mux.runChecked(['rm', '-f', remoteFile]);
    await mux.closeMaster();
    console.log(`bench:ssh: loopback sshd, ${runs} runs each, medians (p90) in ms`);
    console.log('step                          by hand           client            overhead');
    for (const [name, hand, client] of rows) {
      const p90 = (xs: number[]) => quantile(xs, 0.9);
      console.log(
        `${name.padEnd(29)} ${median(hand).toFixed(1).padStart(6)} (${p90(hand).toFixed(1).padStart(6)})   ` +
          `${median(client).toFixed(1).padStart(6)} (${p90(client).toFixed(1).padStart(6)})   ` +
          `${median(client) >= median(hand) ? '+' : ''}${(median(client) - median(hand)).toFixed(1)} ms, ratio ${(median(client) / median(hand)).toFixed(2)}`,
      );
    }
  } finally {
    await sshd.stop();
    fs.rmSync(control, { recursive: true, force: true });
  }
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
