// /admin/keys: signing-key rotation through the running server, the same three steps as `npm run keys` (rotate →
// promote → prune). On embedded storage this is the way to rotate while the server runs: the database belongs to
// the process. Instances read their keys at start, so each step takes effect at every instance after a restart.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Database } from '../../adapters/database.ts';
import {
  SIGNING_ALGS, listSigningKeys, promoteSigningKeys, pruneSigningKeys, rotateSigningKeys, type SigningKeySummary,
} from '../../keys/signing-keys.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

const rotation = z.strictObject({ algs: z.array(z.enum(SIGNING_ALGS)).min(1).optional() });
// Default: a day, longer than any token signed by default lives (as `npm run keys -- prune`).
const pruning = z.strictObject({ retired_for_seconds: z.number().int().min(0).max(10 * 365 * 86_400).default(86_400) });

const keyJson = (key: SigningKeySummary) => ({
  kid: key.kid, alg: key.alg, status: key.status, created_at: key.createdAt, promoted_at: key.promotedAt, retired_at: key.retiredAt,
});

/** These steps take an optional body: none at all means the defaults. */
function optionalJson(ctx: Context): Promise<unknown> {
  return ctx.get('content-type') || ctx.request.length ? readJson(ctx) : Promise.resolve({});
}

export function adminKeyRoutes(db: Database): Router {
  const router = new Router({ prefix: '/admin/keys' });

  router.get('/', async (ctx) => {
    ctx.body = { items: (await listSigningKeys(db)).map(keyJson) };
  });

  router.post('/rotate', async (ctx) => {
    const { algs } = parseInput(rotation, await optionalJson(ctx));
    ctx.body = { published: await rotateSigningKeys(db, algs), restart_required: true };
  });

  router.post('/promote', async (ctx) => {
    ctx.body = { promoted: await promoteSigningKeys(db), restart_required: true };
  });

  router.post('/prune', async (ctx) => {
    const { retired_for_seconds: after } = parseInput(pruning, await optionalJson(ctx));
    ctx.body = { deleted: await pruneSigningKeys(db, after), restart_required: true };
  });

  return router;
}
