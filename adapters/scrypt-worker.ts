// Runs scrypt in a worker thread of its own at the lowest CPU priority (nice 19), so on a small machine the
// derivation yields the CPU to the main thread and to signing instead of competing with them as an equal. On
// Linux a thread's niceness is its own (setpriority on the thread id); elsewhere the worker runs at normal
// priority and only the concurrency gate applies. One worker, fed one job at a time by the gate (scrypt-gate.ts).
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { scryptSync, type ScryptOptions } from 'node:crypto';

interface Job { id: number; password: string; salt: Uint8Array; length: number; options: ScryptOptions }
type Reply = { id: number; key: Uint8Array } | { id: number; error: string };

if (!isMainThread && parentPort) {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid)) setPriority(tid, 19);
  } catch { /* not Linux: normal priority */ }
  const port = parentPort;
  port.on('message', (job: Job) => {
    try {
      const key = scryptSync(job.password, job.salt, job.length, job.options);
      port.postMessage({ id: job.id, key } satisfies Reply);
    } catch (error) {
      port.postMessage({ id: job.id, error: (error as Error).message } satisfies Reply);
    }
  });
}

let worker: Worker | undefined;
let nextId = 0;
const pending = new Map<number, { resolve: (key: Buffer) => void; reject: (error: Error) => void }>();

function startWorker(): Worker {
  const started = new Worker(new URL(import.meta.url));
  started.on('message', (reply: Reply) => {
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (pending.size === 0) started.unref();
    if ('error' in reply) waiter?.reject(new Error(reply.error));
    else waiter?.resolve(Buffer.from(reply.key));
  });
  started.on('error', (error) => {
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
    worker = undefined;
  });
  started.on('exit', () => { if (worker === started) worker = undefined; });
  started.unref();
  return started;
}

/** scrypt in the low-priority worker; the caller bounds concurrency. */
export function scryptInWorker(password: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  worker ??= startWorker();
  const id = nextId++;
  const running = worker;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    running.ref();
    running.postMessage({ id, password, salt, length, options } satisfies Job);
  });
}
