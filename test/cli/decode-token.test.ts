import { describe, expect, it } from 'vitest';
import { CliError } from '../../cli/cli-error.ts';
import { decodeCommand } from '../../cli/commands/decode.ts';
import { decodeToken, formatDecodedToken, NotAJwtError } from '../../cli/decode-token.ts';

// Unsigned on purpose: decoding never looks at the signature.
function jwt(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'ES256', typ: 'at+jwt', kid: 'k1' }): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(claims)}.c2lnbmF0dXJl`;
}

const delegated = jwt({
  iss: 'https://as.example.test',
  sub: 'user-123',
  exp: 1_700_000_000,
  act: { sub: 'agent_C', act: { sub: 'agent_B', act: { sub: 'agent_A' } } },
});

describe('decodeToken', () => {
  it('lists the act chain newest actor first, each without its nested act', () => {
    expect(decodeToken(delegated).act_chain).toEqual([{ sub: 'agent_C' }, { sub: 'agent_B' }, { sub: 'agent_A' }]);
  });

  it('draws the act chain as a tree under the sub', () => {
    const text = formatDecodedToken(decodeToken(delegated));
    expect(text).toContain([
      'sub: user-123',
      'act chain (newest actor first):',
      '└─ agent_C',
      '   └─ agent_B',
      '      └─ agent_A',
    ].join('\n'));
    expect(text).not.toMatch(/^\s+act\s/m); // the raw claim is not printed a second time
  });

  it('prints header and claims, timestamps with their date', () => {
    const text = formatDecodedToken(decodeToken(delegated));
    expect(text).toMatch(/^header:\n {2}alg {2}ES256\n {2}typ {2}at\+jwt\n {2}kid {2}k1\nclaims:/);
    expect(text).toContain('exp  1700000000 (2023-11-14T22:13:20.000Z)');
  });

  it('names actors by sub and shows their other members', () => {
    const text = formatDecodedToken(decodeToken(jwt({ sub: 'u', act: { sub: 'agent_B', iss: 'https://other.test', act: { client_id: 'c' } } })));
    expect(text).toContain('└─ agent_B (iss: https://other.test)\n   └─ (no sub) (client_id: c)');
  });

  it('says when nobody acts for the sub', () => {
    const decoded = decodeToken(jwt({ sub: 'agent_A', client_id: 'agent_A' }));
    expect(decoded.act_chain).toEqual([]);
    expect(formatDecodedToken(decoded)).toContain('act chain: none');
  });

  it('marks may_act and a DPoP binding', () => {
    const text = formatDecodedToken(decodeToken(jwt({ sub: 'user-123', may_act: { sub: 'agent_X' }, cnf: { jkt: 'thumb' } })));
    expect(text).toMatch(/^may_act: agent_X \(may act on behalf of the sub/m);
    expect(text).toMatch(/^cnf\.jkt: thumb \(DPoP-bound/m);
  });

  it('refuses an opaque token with a clear error', () => {
    expect(() => decodeToken('m2Zx8c-opaque_Token')).toThrow(NotAJwtError);
    expect(() => decodeToken('m2Zx8c-opaque_Token')).toThrow(/opaque token/);
    expect(() => decodeToken('a.b.c.d.e')).toThrow(/encrypted JWT/);
    expect(() => decodeToken('not.a.jwt')).toThrow(/not a readable JWT/);
    try {
      decodeToken('opaque');
    } catch (error) {
      expect(error).toBeInstanceOf(CliError); // printed as one line, not a stack
    }
  });
});

describe('agentauth decode', () => {
  const context = (stdin = '') => ({ env: {}, readStdin: async () => stdin });

  it('answers --json with exactly header, claims and act_chain', async () => {
    const { json } = await decodeCommand.run([delegated], context());
    expect(Object.keys(json as object)).toEqual(['header', 'claims', 'act_chain']);
    expect(JSON.parse(JSON.stringify(json))).toEqual({
      header: { alg: 'ES256', typ: 'at+jwt', kid: 'k1' },
      claims: { iss: 'https://as.example.test', sub: 'user-123', exp: 1_700_000_000, act: { sub: 'agent_C', act: { sub: 'agent_B', act: { sub: 'agent_A' } } } },
      act_chain: [{ sub: 'agent_C' }, { sub: 'agent_B' }, { sub: 'agent_A' }],
    });
  });

  it('reads the token from stdin for "-"', async () => {
    const { json } = await decodeCommand.run(['-'], context(`${delegated}\n`));
    expect((json as { claims: { sub: string } }).claims.sub).toBe('user-123');
  });

  it('reads stdin without an argument too, and needs at most one token', async () => {
    const { json } = await decodeCommand.run([], context(`${delegated}\n`));
    expect((json as { claims: { sub: string } }).claims.sub).toBe('user-123');
    await expect(decodeCommand.run([], context(''))).rejects.toThrow(/no token on stdin/);
    await expect(decodeCommand.run(['a', 'b'], context())).rejects.toThrow(/unexpected argument/);
  });
});
