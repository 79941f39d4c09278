import { describe, expect, it } from 'vitest';
import { MalformedActClaimError, actorsOf, chainDepth, nestActor, parseActClaim } from '../../policy/act-chain.ts';

describe('act chains (RFC 8693 §4.1)', () => {
  it('puts the newest actor outermost', () => {
    const one = nestActor({ sub: 'agent_a' }, undefined);
    const two = nestActor({ sub: 'agent_b' }, one);
    const three = nestActor({ sub: 'agent_c', iss: 'https://idp' }, two);
    expect(three).toEqual({ sub: 'agent_c', iss: 'https://idp', act: { sub: 'agent_b', act: { sub: 'agent_a' } } });
    expect(actorsOf(three).map((actor) => actor.sub)).toEqual(['agent_c', 'agent_b', 'agent_a']);
    expect(chainDepth(three)).toBe(3);
    expect(chainDepth(undefined)).toBe(0);
  });

  it('keeps only identity claims when reading a chain', () => {
    expect(parseActClaim({ sub: 'b', exp: 1, aud: 'x', act: { sub: 'a', scope: 'all', iss: 'https://idp' } })).toEqual({ sub: 'b', act: { sub: 'a', iss: 'https://idp' } });
    expect(parseActClaim(undefined)).toBeUndefined();
  });

  it.each([
    ['a string', 'agent'],
    ['an array', [{ sub: 'a' }]],
    ['an actor without sub', { iss: 'x' }],
    ['a nested actor without sub', { sub: 'a', act: { iss: 'x' } }],
    ['null', null],
  ])('refuses %s', (_label, value) => {
    expect(() => parseActClaim(value)).toThrow(MalformedActClaimError);
  });

  it('refuses absurdly deep nesting without recursing forever', () => {
    let deep: Record<string, unknown> = { sub: 'root' };
    for (let i = 0; i < 100; i += 1) deep = { sub: `a${i}`, act: deep };
    expect(() => parseActClaim(deep)).toThrow('nested more than');
  });
});
