import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL_DIR } from '../../scripts/local/local-stack';

/** Where the lock lives: one per checkout, which is one per deployed local stack. */
const LOCK_DIR = join(LOCAL_DIR, 'e2e-stack.lock');

function holderAlive(): boolean {
  try {
    const pid = Number(readFileSync(join(LOCK_DIR, 'pid'), 'utf8'));
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the e2e stack lock, waiting for another test file (process) that holds it. E2E files that put events with
 * current event times must not run at once: watermarks are per shard and shared, so one file's later events make
 * the other's records late. A lock left by a dead process is taken over.
 */
export async function acquireStackLock(timeoutMs = 15 * 60_000): Promise<void> {
  mkdirSync(LOCAL_DIR, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(join(LOCK_DIR, 'pid'), String(process.pid));
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    // A holder that died (or has not written its pid yet, briefly) is told apart by waiting one more round.
    if (!holderAlive()) {
      await new Promise((r) => setTimeout(r, 500));
      if (!holderAlive()) rmSync(LOCK_DIR, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the e2e stack lock ${LOCK_DIR}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Releases the lock if this process holds it. */
export function releaseStackLock(): void {
  try {
    if (Number(readFileSync(join(LOCK_DIR, 'pid'), 'utf8')) === process.pid) rmSync(LOCK_DIR, { recursive: true, force: true });
  } catch {
    // Not held.
  }
}
