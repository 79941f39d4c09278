// One contract for every oidc-provider storage adapter of ours (and any backend added later).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

export interface AdapterUnderTest {
  /** An adapter factory; calling setup twice must give two "instances" sharing one store where the backend is shared. */
  factory: (name: string) => Adapter;
  teardown(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let counter = 0;
const newId = (label: string) => `${label}-${Date.now()}-${(counter += 1)}-${Math.random().toString(36).slice(2)}`;

export function describeAdapterContract(label: string, setup: () => Promise<AdapterUnderTest>): void {
  describe(`${label}: the oidc-provider adapter contract`, () => {
    let subject: AdapterUnderTest;
    const adapter = (name: string) => subject.factory(name);
    beforeAll(async () => { subject = await setup(); });
    afterAll(() => subject?.teardown());

    it('round-trips a payload, restoring jti, keeping numbers numbers', async () => {
      const id = newId('at');
      const payload = { jti: id, kind: 'AccessToken', iat: 1, exp: Math.floor(Date.now() / 1000) + 60, scope: 'a b', extra: { act: { sub: 'x' } } } as AdapterPayload;
      await adapter('AccessToken').upsert(id, payload, 60);
      expect(await adapter('AccessToken').find(id)).toEqual(payload);
      expect(await adapter('AccessToken').find(newId('unknown'))).toBeUndefined();
      expect(await adapter('RefreshToken').find(id)).toBeUndefined(); // models do not see each other's records
    });

    it('expires records after expiresIn + clockTolerance and keeps records without expiry', async () => {
      const short = newId('short');
      const forever = newId('forever');
      await adapter('Interaction').upsert(short, { jti: short, kind: 'Interaction' } as AdapterPayload, 1);
      await adapter('Client').upsert(forever, { client_id: forever } as AdapterPayload);
      expect(await adapter('Interaction').find(short)).toBeDefined();
      await sleep(1300);
      expect(await adapter('Interaction').find(short)).toBeUndefined();
      expect(await adapter('Client').find(forever)).toMatchObject({ client_id: forever });
    });

    it('finds sessions by uid and device codes by user code', async () => {
      const sessionId = newId('sess');
      await adapter('Session').upsert(sessionId, { jti: sessionId, kind: 'Session', uid: `uid-${sessionId}` } as AdapterPayload, 60);
      expect(await adapter('Session').findByUid(`uid-${sessionId}`)).toMatchObject({ jti: sessionId });
      expect(await adapter('Session').findByUid('no-such-uid')).toBeUndefined();
      const deviceCode = newId('dc');
      await adapter('DeviceCode').upsert(deviceCode, { jti: deviceCode, kind: 'DeviceCode', userCode: `UC-${deviceCode}` } as AdapterPayload, 60);
      expect(await adapter('DeviceCode').findByUserCode(`UC-${deviceCode}`)).toMatchObject({ jti: deviceCode });
    });

    it('destroys a record', async () => {
      const id = newId('destroy');
      await adapter('AccessToken').upsert(id, { jti: id } as AdapterPayload, 60);
      await adapter('AccessToken').destroy(id);
      expect(await adapter('AccessToken').find(id)).toBeUndefined();
    });

    it('consumes once: the second consume fails with invalid_grant and find shows `consumed`', async () => {
      const id = newId('code');
      await adapter('AuthorizationCode').upsert(id, { jti: id, kind: 'AuthorizationCode' } as AdapterPayload, 60);
      await adapter('AuthorizationCode').consume(id);
      expect((await adapter('AuthorizationCode').find(id))?.consumed).toBeTruthy();
      await expect(adapter('AuthorizationCode').consume(id)).rejects.toBeInstanceOf(errors.InvalidGrant);
    });

    it.each(['AuthorizationCode', 'RefreshToken', 'PushedAuthorizationRequest'])('lets exactly one of 20 concurrent consumes of a %s win', async (model) => {
      const id = newId('race');
      await adapter(model).upsert(id, { jti: id, kind: model } as AdapterPayload, 60);
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => adapter(model).consume(id)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const result of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
        expect(result.reason).toBeInstanceOf(errors.InvalidGrant);
        expect(result.reason.error_description).toMatch(/already used/);
      }
    });

    it('lets a one-time artifact that vanished before its use fail (its grant was revoked meanwhile)', async () => {
      const id = newId('gone');
      await adapter('RefreshToken').upsert(id, { jti: id, kind: 'RefreshToken' } as AdapterPayload, 60);
      await adapter('RefreshToken').destroy(id);
      await expect(adapter('RefreshToken').consume(id)).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'refresh token is no longer valid' });
    });

    it('ends the whole grant when a concurrent consume loses', async () => {
      const grantId = newId('grant');
      const refreshToken = newId('rt');
      const earlierToken = newId('at');
      const otherGrantToken = newId('at');
      await adapter('Grant').upsert(grantId, { jti: grantId, kind: 'Grant', clientId: 'c' } as AdapterPayload, 600);
      await adapter('AccessToken').upsert(earlierToken, { jti: earlierToken, grantId } as AdapterPayload, 60);
      await adapter('RefreshToken').upsert(refreshToken, { jti: refreshToken, kind: 'RefreshToken', grantId } as AdapterPayload, 600);
      await adapter('AccessToken').upsert(otherGrantToken, { jti: otherGrantToken, grantId: newId('grant') } as AdapterPayload, 60);
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => adapter('RefreshToken').consume(refreshToken)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      // Whatever the winner issues after its consume names the grant, and oidc-provider refuses tokens whose grant
      // is gone (refresh, introspection, userinfo), so the Grant record going is what ends the winner's tokens.
      expect(await adapter('Grant').find(grantId)).toBeUndefined();
      expect(await adapter('AccessToken').find(earlierToken)).toBeUndefined();
      expect(await adapter('RefreshToken').find(refreshToken)).toBeUndefined();
      expect(await adapter('AccessToken').find(otherGrantToken)).toBeDefined();
    });

    it('claims a replay id atomically on read: 1 of 20 concurrent reads sees it unseen, every later one a DPoP replay', async () => {
      const id = newId('proof');
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => adapter('ReplayDetection').find(id)));
      const fresh = results.filter((r) => r.status === 'fulfilled');
      expect(fresh).toHaveLength(1);
      expect((fresh[0] as PromiseFulfilledResult<unknown>).value).toBeUndefined();
      for (const result of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
        expect(result.reason).toBeInstanceOf(errors.InvalidDpopProof);
      }
      // oidc-provider then saves the winner's claim with the proof's own lifetime.
      await adapter('ReplayDetection').upsert(id, { jti: id, iss: 'c' } as AdapterPayload, 300);
      await expect(adapter('ReplayDetection').find(id)).rejects.toBeInstanceOf(errors.InvalidDpopProof);
    });

    it('revokes by grant: the grant tokens go, other grants and interactions stay', async () => {
      const grantId = newId('grant');
      const otherGrant = newId('grant');
      const ids = { at: newId('at'), rt: newId('rt'), code: newId('code'), other: newId('at'), interaction: newId('int') };
      await adapter('AccessToken').upsert(ids.at, { jti: ids.at, grantId } as AdapterPayload, 60);
      await adapter('RefreshToken').upsert(ids.rt, { jti: ids.rt, grantId } as AdapterPayload, 600);
      await adapter('AuthorizationCode').upsert(ids.code, { jti: ids.code, grantId } as AdapterPayload, 60);
      await adapter('AccessToken').upsert(ids.other, { jti: ids.other, grantId: otherGrant } as AdapterPayload, 60);
      await adapter('Interaction').upsert(ids.interaction, { jti: ids.interaction, grantId } as AdapterPayload, 60);
      for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) await adapter(model).revokeByGrantId(grantId);
      expect(await adapter('AccessToken').find(ids.at)).toBeUndefined();
      expect(await adapter('RefreshToken').find(ids.rt)).toBeUndefined();
      expect(await adapter('AuthorizationCode').find(ids.code)).toBeUndefined();
      expect(await adapter('AccessToken').find(ids.other)).toBeDefined();
      expect(await adapter('Interaction').find(ids.interaction)).toBeDefined();
      await adapter('AccessToken').revokeByGrantId(grantId); // idempotent
    });
  });
}
