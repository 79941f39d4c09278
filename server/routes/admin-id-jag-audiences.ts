// /admin/id-jag-audiences: the authorization servers this server, as an enterprise IdP, issues ID-JAGs for
// (grants/id-jag-issuance.ts). A token exchange naming any other audience, or a resource or client it does not
// list, is refused with invalid_target.
import Router from '@koa/router';
import { z } from 'zod';
import type { IdJagAudience, IdJagAudienceStore } from '../../adapters/id-jag-audience-store.ts';
import { isLoopbackUrl } from '../client-policy.ts';
import { InvalidField, NotFound } from '../http-error.ts';
import { readJson } from '../read-body.ts';
import { parseInput } from '../validation.ts';

const httpsUrl = (what: string) => z.string().max(2048).refine((value) => {
  try {
    const url = new URL(value);
    return !url.hash && (url.protocol === 'https:' || isLoopbackUrl(url));
  } catch {
    return false;
  }
}, `must be ${what}: an absolute https URL (or http on loopback) without a fragment`);

const scope = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'must be a scope token (RFC 6749 §3.3)').max(256);
const clientId = z.string().min(1).max(512);
const audience = z.strictObject({
  name: z.string().min(1).max(256).nullable().default(null),
  resources: z.array(httpsUrl('a resource identifier')).min(1, 'must name at least one resource').max(100),
  clients: z.record(clientId, clientId).refine((value) => Object.keys(value).length > 0, 'must map at least one of our client_ids to its client_id there').refine((value) => Object.keys(value).length <= 1000, 'must map at most 1000 clients'),
  scopes: z.array(scope).max(500).optional(),
});
const createAudience = audience.extend({ issuer: httpsUrl('the authorization server\'s issuer') });
const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50), cursor: z.string().max(2048).optional() });

export function adminIdJagAudienceRoutes(audiences: IdJagAudienceStore, issuer: string): Router {
  const router = new Router({ prefix: '/admin/id-jag-audiences' });

  router.post('/', async (ctx) => {
    const input = parseInput(createAudience, await readJson(ctx));
    // An IdP never mints ID-JAGs for itself (draft §4.4: it would redeem its own).
    if (input.issuer === issuer) throw new InvalidField('issuer', 'is this server\'s own issuer');
    ctx.body = view(await audiences.create({ ...input, scopes: input.scopes }));
    ctx.status = 201;
  });

  router.get('/', async (ctx) => {
    const page = await audiences.list(parseInput(listQuery, ctx.query));
    ctx.body = { items: page.items.map(view), next_cursor: page.nextCursor };
  });

  router.get('/:issuer', async (ctx) => {
    const found = await audiences.get(ctx.params.issuer);
    if (!found) throw new NotFound('ID-JAG audience');
    ctx.body = view(found);
  });

  router.put('/:issuer', async (ctx) => {
    const input = parseInput(audience, await readJson(ctx));
    const replaced = await audiences.replace({ ...input, scopes: input.scopes, issuer: ctx.params.issuer });
    if (!replaced) throw new NotFound('ID-JAG audience');
    ctx.body = view(replaced);
  });

  router.delete('/:issuer', async (ctx) => {
    if (!(await audiences.delete(ctx.params.issuer))) throw new NotFound('ID-JAG audience');
    ctx.status = 204;
  });

  return router;
}

function view(found: IdJagAudience) {
  return {
    issuer: found.issuer,
    name: found.name,
    resources: found.resources,
    clients: found.clients,
    ...(found.scopes ? { scopes: found.scopes } : {}),
    created_at: found.createdAt,
    updated_at: found.updatedAt,
  };
}
