// Both durable-database backends, for store tests that must behave the same on each: PostgreSQL (a fresh schema
// per call) and embedded PGlite (a fresh temporary data directory).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type OpenDatabase } from '../../adapters/database.ts';
import { createTestSchema } from './services.ts';

export const BACKENDS = ['postgres', 'embedded'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface TestDatabase extends OpenDatabase {
  /** Closes the database and deletes its schema or data directory. */
  dispose(): Promise<void>;
}

export async function openTestDatabase(backend: Backend, label: string): Promise<TestDatabase> {
  if (backend === 'postgres') {
    const schema = await createTestSchema(label);
    const database = await openDatabase({ url: schema.url, dataDir: join(tmpdir(), 'unused') });
    return {
      ...database,
      async dispose() {
        await database.close();
        await schema.drop();
      },
    };
  }
  const dataDir = await temporaryDirectory(label);
  const database = await openDatabase({ dataDir });
  return {
    ...database,
    async dispose() {
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function temporaryDirectory(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `agentauth-${label}-`));
}
