#!/usr/bin/env node
// Signing-key rotation for operators: `npm run keys -- <list|rotate|promote|prune>`.
// Uses DATABASE_URL (or the embedded database under DATA_DIR) exactly as the server does.
import { parseArgs } from 'node:util';
import { openDatabase } from '../adapters/database.ts';
import { ConfigurationError, loadSettings } from '../config/settings.ts';
import {
  SIGNING_ALGS, isSigningAlg, listSigningKeys, promoteSigningKeys, pruneSigningKeys, rotateSigningKeys,
} from './signing-keys.ts';

const usage = `usage: npm run keys -- <command>
  list                       show every key with its status
  rotate [--alg RS256,...]   create and publish a next key per algorithm (restart every instance afterwards)
  promote                    next keys start signing; active keys retire (restart every instance afterwards)
  prune [--after SECONDS]    delete keys retired longer ago than SECONDS (default 86400: a day, longer than any
                             signed token lives by default)`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { alg: { type: 'string' }, after: { type: 'string' } },
  });
  const command = positionals[0];
  if (!command || !['list', 'rotate', 'promote', 'prune'].includes(command)) {
    console.error(usage);
    return 2;
  }
  const settings = loadSettings();
  const database = await openDatabase({ url: settings.databaseUrl, dataDir: settings.dataDir });
  try {
    switch (command) {
      case 'list':
        console.table(await listSigningKeys(database.db));
        break;
      case 'rotate': {
        const algs = values.alg ? values.alg.split(',') : [...SIGNING_ALGS];
        const unknown = algs.filter((alg) => !isSigningAlg(alg));
        if (unknown.length) throw new Error(`unknown algorithm ${unknown.join(', ')}; choose from ${SIGNING_ALGS.join(', ')}`);
        const kids = await rotateSigningKeys(database.db, algs.filter(isSigningAlg));
        console.log(`published next keys ${kids.join(', ')}; restart every instance, then run "promote"`);
        break;
      }
      case 'promote': {
        const kids = await promoteSigningKeys(database.db);
        console.log(kids.length ? `now signing with ${kids.join(', ')}; restart every instance` : 'no next keys to promote');
        break;
      }
      case 'prune': {
        const after = values.after ? Number(values.after) : 86_400;
        if (!Number.isInteger(after) || after < 0) throw new Error('--after must be a whole number of seconds');
        const kids = await pruneSigningKeys(database.db, after);
        console.log(kids.length ? `deleted ${kids.join(', ')}; restart every instance` : 'nothing to prune');
        break;
      }
    }
    return 0;
  } finally {
    await database.close();
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(error instanceof ConfigurationError ? `Invalid configuration: ${error.message}` : `keys: ${(error as Error).message}`);
  process.exit(1);
});
