import { describe, expect, it } from 'vitest';
import { AgentRevokedError, UnknownOwnerError } from '../../adapters/agent-store.ts';
import { ClientRevokedError, NoSecretError } from '../../adapters/client-store.ts';
import { DomainError } from '../../adapters/domain-error.ts';
import { DuplicateIdJagAudienceError } from '../../adapters/id-jag-audience-store.ts';
import { InvalidCursorError } from '../../adapters/pagination.ts';
import { DuplicateResourceError } from '../../adapters/resource-store.ts';
import { DuplicateRoleError, RoleCycleError, RoleInheritedError, UnknownInheritedRoleError } from '../../adapters/role-store.ts';
import { DuplicateUsernameError, UserOwnsAgentsError } from '../../adapters/user-store.ts';
import { domainErrorAnswers, httpErrorFor } from '../../server/admin-domain-errors.ts';
import { HttpError } from '../../server/http-error.ts';

// Every refusal a store raises, and the answer the admin API gives for it: status, error, field, description.
const table: [DomainError, number, string | undefined, string][] = [
  [new DuplicateUsernameError('olga'), 400, 'username', 'username: is already taken'],
  [new UserOwnsAgentsError('u1'), 409, undefined, 'the user owns agents or registered clients; delete them or give them another owner first'],
  [new UnknownOwnerError('u9'), 400, 'owner', 'owner: is not a user of this server'],
  [new AgentRevokedError('agent_x'), 400, 'status', 'status: the agent is revoked, which is permanent'],
  [new ClientRevokedError('c1'), 400, 'status', 'status: the client is revoked, which is permanent'],
  [new NoSecretError('c1'), 400, 'id', 'id: names a client that does not authenticate with a secret; update its keys through RFC 7592'],
  [new DuplicateResourceError('https://api.example'), 400, 'identifier', 'identifier: is already registered'],
  [new DuplicateIdJagAudienceError('https://as.example'), 400, 'issuer', 'issuer: is already registered'],
  [new InvalidCursorError(), 400, 'cursor', 'cursor: cursor is not one this server issued'],
  [new DuplicateRoleError('viewer'), 400, 'name', 'name: is already a role'],
  [new UnknownInheritedRoleError(['ghost']), 400, 'inherits', 'inherits: inherits "ghost", which is not a role'],
  [new RoleCycleError(['a', 'b', 'a']), 400, 'inherits', 'inherits: would make roles inherit themselves: a → b → a'],
  [new RoleInheritedError('viewer', ['editor']), 409, undefined, 'role "viewer" is inherited by "editor"; change those first'],
];

describe('store refusals as admin answers', () => {
  it.each(table)('%s → %i', (error, status, field, description) => {
    expect(error).toBeInstanceOf(DomainError);
    expect(error.code).toMatch(/^ERR_[A-Z_]+$/);
    expect(error.name).toBe(error.constructor.name);
    const answer = httpErrorFor(error);
    expect({ status: answer.status, error: answer.error, field: answer.field, description: answer.message }).toEqual({ status, error: 'invalid_request', field, description });
  });

  it('the middleware answers a DomainError and passes anything else on unchanged', async () => {
    const middleware = domainErrorAnswers();
    await expect(middleware({} as never, async () => { throw new DuplicateRoleError('viewer'); })).rejects.toBeInstanceOf(HttpError);
    const other = new Error('database down');
    await expect(middleware({} as never, async () => { throw other; })).rejects.toBe(other);
    await expect(middleware({} as never, async () => undefined)).resolves.toBeUndefined();
  });
});
