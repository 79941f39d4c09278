// The delegation policy as a pure function of the token's claims (RFC 8693 §4.1 act chains).
import { describe, expect, it } from 'vitest';
import type { AccessTokenClaims } from '../../packages/verifier/src/access-token-claims.ts';
import { actorChain, checkDelegation } from '../../packages/verifier/src/delegation-policy.ts';
import { InvalidToken } from '../../packages/verifier/src/errors.ts';

const claims = (act?: AccessTokenClaims['act'], sub = 'alice'): AccessTokenClaims => ({ sub, client_id: 'c', aud: ['rs'], scope: [], exp: 0, ...(act ? { act } : {}) });
const threeHops = claims({ sub: 'C', act: { sub: 'B', act: { sub: 'A' } } });

describe('delegation policy', () => {
  it('lists the chain current actor first', () => {
    expect(actorChain(threeHops.act).map((actor) => actor.sub)).toEqual(['C', 'B', 'A']);
    expect(actorChain(undefined)).toEqual([]);
  });

  it('maxDepth counts actors; 0 accepts only undelegated tokens', () => {
    checkDelegation(threeHops, { maxDepth: 3 });
    expect(() => checkDelegation(threeHops, { maxDepth: 2 })).toThrow(InvalidToken);
    checkDelegation(claims(), { maxDepth: 0 });
    expect(() => checkDelegation(claims({ sub: 'A' }), { maxDepth: 0 })).toThrow('at most 0');
  });

  it('allowedActors matches the current actor only; undelegated tokens have none to match', () => {
    checkDelegation(threeHops, { allowedActors: ['C'] });
    expect(() => checkDelegation(threeHops, { allowedActors: ['A', 'B'] })).toThrow(InvalidToken);
    checkDelegation(claims(), { allowedActors: ['C'] });
  });

  it('humanRoot asks about the token\'s sub, with or without delegation', () => {
    const people = { humanRoot: (sub: string) => sub === 'alice' };
    checkDelegation(threeHops, people);
    expect(() => checkDelegation(claims({ sub: 'A' }, 'agent-7'), people)).toThrow('on behalf of a person');
    expect(() => checkDelegation(claims(undefined, 'agent-7'), people)).toThrow(InvalidToken);
  });
});
