// Embedded storage belongs to one process: PGlite is a single-writer database, and two servers (or a server and an
// offline `npm run keys`) writing one directory lose each other's writes. The directory is locked for as long as a
// process has it open; a lock left by a process that died goes stale and is taken over.
import { join } from 'node:path';
import lockfile from 'proper-lockfile';

/** Another live process holds the data directory. */
export class DataDirInUse extends Error {}

// proper-lockfile refreshes the lock's mtime every UPDATE_MS and treats one older than STALE_MS as abandoned. A
// restart right after a crash waits (RETRIES × 1 s) for the dead process's lock to go stale instead of refusing.
const STALE_MS = 5_000;
const UPDATE_MS = 2_000;
const RETRIES = 6;

/** Locks `dataDir` (which must exist); resolves to the function that releases it. */
export async function lockDataDir(dataDir: string, log: (line: string) => void = (line) => console.error(line)): Promise<() => Promise<void>> {
  try {
    return await lockfile.lock(dataDir, {
      lockfilePath: join(dataDir, 'agentauth.lock'),
      realpath: false,
      stale: STALE_MS,
      update: UPDATE_MS,
      retries: { retries: RETRIES, minTimeout: 1_000, maxTimeout: 1_000, factor: 1 },
      onCompromised: (error) => log(`the lock on DATA_DIR ${dataDir} was lost (${error.message}); stop this process before another one uses the directory`),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    throw new DataDirInUse(`DATA_DIR ${dataDir} is in use by another agentauth process: embedded storage serves one process at a time (stop that one first, or set DATABASE_URL and REDIS_URL to run several instances)`);
  }
}
