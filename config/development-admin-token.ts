// Without ADMIN_TOKEN (development only: production requires it), the generated admin token is kept in DATA_DIR, so a
// restart over the same data keeps accepting the token the operator already copied. Owner-only file mode: it is a
// credential.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const FILE = 'admin-token';

/** The token kept in `dataDir`, or `generated` once it has been kept there. */
export async function keptDevelopmentAdminToken(dataDir: string, generated: string): Promise<string> {
  const path = join(dataDir, FILE);
  await mkdir(dataDir, { recursive: true });
  try {
    await writeFile(path, `${generated}\n`, { mode: 0o600, flag: 'wx' });
    return generated;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const kept = (await readFile(path, 'utf8')).trim();
  if (kept.length < 32) throw new Error(`${path} does not hold an admin token; delete it to have a new one generated`);
  return kept;
}
