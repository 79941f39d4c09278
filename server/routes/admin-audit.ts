// /admin/audit: the audit trail, newest first, filtered by client (agent), organization, event type and time range.
// An organization's operator reads only its organization's events.
import Router from '@koa/router';
import { z } from 'zod';
import type { AuditLog, AuditRecord } from '../../adapters/audit-log.ts';
import { confinedOrganization } from '../admin-scope.ts';
import { InvalidField } from '../http-error.ts';
import { organizationId } from '../organization-id.ts';
import { parseInput } from '../validation.ts';

const instant = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time' }).transform((value) => new Date(value));
const auditQuery = z.object({
  client_id: z.string().max(2048).optional(),
  org_id: organizationId.optional(),
  event: z.string().max(128).optional(),
  from: instant.optional(),
  to: instant.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(512).optional(),
});

export function adminAuditRoutes(audit: AuditLog): Router {
  const router = new Router({ prefix: '/admin/audit' });

  router.get('/', async (ctx) => {
    const query = parseInput(auditQuery, ctx.query);
    // Events are buffered for a moment before they are written; an operator reading the trail sees them all.
    await audit.flush();
    const orgId = confinedOrganization(ctx, query.org_id);
    const page = await audit.query({ clientId: query.client_id, orgId, event: query.event, from: query.from, to: query.to, limit: query.limit, cursor: query.cursor });
    ctx.body = { items: page.items.map(auditJson), next_cursor: page.nextCursor };
  });

  return router;
}

function auditJson(record: AuditRecord) {
  return {
    id: record.id,
    at: record.at,
    event: record.event,
    client_id: record.clientId,
    subject: record.subject,
    actor: record.actor,
    outcome: record.outcome,
    reason: record.reason,
    request_id: record.requestId,
    source_ip: record.sourceIp,
    details: record.details,
    org_id: record.orgId,
  };
}
