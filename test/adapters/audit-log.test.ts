import { setTimeout as sleep } from 'node:timers/promises';
import { InsertQueryNode, RawNode, ValueNode, ValuesNode, sql, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuditLog, type AuditEvent, type AuditRecord } from '../../adapters/audit-log.ts';
import { InvalidCursorError } from '../../adapters/pagination.ts';
import { BACKENDS, openTestDatabase, type TestDatabase } from '../support/databases.ts';

/** Records how many rows each INSERT carried, to observe batching. */
class InsertSizes implements KyselyPlugin {
  readonly sizes: number[] = [];

  transformQuery({ node }: PluginTransformQueryArgs) {
    if (InsertQueryNode.is(node) && node.values && ValuesNode.is(node.values)) this.sizes.push(node.values.values.length);
    // Batches go out as one INSERT … SELECT FROM json_to_recordset(<the rows as one JSON array>): count its rows.
    if (RawNode.is(node) && node.sqlFragments[0].includes('INSERT INTO audit_events')) {
      const [rows] = node.parameters;
      if (ValueNode.is(rows) && typeof rows.value === 'string') this.sizes.push((JSON.parse(rows.value) as unknown[]).length);
    }
    return node;
  }

  async transformResult({ result }: PluginTransformResultArgs) {
    return result;
  }
}

describe.each(BACKENDS)('AuditLog on %s', (backend) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openTestDatabase(backend, 'audit_log');
  });
  afterAll(async () => {
    await database?.dispose();
  });

  const event = (name: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({ event: name, outcome: 'success', ...extra });

  async function stored(name: string) {
    return database.db.selectFrom('audit_events').selectAll().where('event', '=', name).orderBy('id').execute();
  }

  it('holds events until a batch fills, then writes the batch without waiting for the timer', async () => {
    const inserts = new InsertSizes();
    const audit = new AuditLog(database.db.withPlugin(inserts), { flushIntervalMs: 60_000, maxBatch: 3 });
    audit.record(event('batch.fill'));
    audit.record(event('batch.fill'));
    await sleep(100);
    expect(await stored('batch.fill')).toHaveLength(0);

    audit.record(event('batch.fill'));
    await vi.waitFor(async () => expect(await stored('batch.fill')).toHaveLength(3), { timeout: 5000, interval: 20 });
    expect(inserts.sizes).toEqual([3]);
    await audit.close();
  });

  it('writes in batches of at most maxBatch', async () => {
    const inserts = new InsertSizes();
    const audit = new AuditLog(database.db.withPlugin(inserts), { flushIntervalMs: 60_000, maxBatch: 3 });
    // Recorded synchronously, so the batch-full trigger has not run yet when flush() is called.
    for (let i = 0; i < 7; i += 1) audit.record(event('batch.sizes', { details: { i } }));
    await audit.flush();
    expect(inserts.sizes.reduce((sum, size) => sum + size, 0)).toBe(7);
    expect(Math.max(...inserts.sizes)).toBeLessThanOrEqual(3);
    expect((await stored('batch.sizes')).map((row) => row.details)).toEqual(Array.from({ length: 7 }, (_, i) => ({ i })));
    await audit.close();
  });

  it('writes a partial batch on the timer', async () => {
    const audit = new AuditLog(database.db, { flushIntervalMs: 50, maxBatch: 100 });
    audit.record(event('timer.flush'));
    await vi.waitFor(async () => expect(await stored('timer.flush')).toHaveLength(1), { timeout: 5000, interval: 20 });
    await audit.close();
  });

  it('writes every buffered event on close, and reports events recorded afterwards', async () => {
    const log = vi.fn();
    const audit = new AuditLog(database.db, { flushIntervalMs: 60_000, maxBatch: 100, log });
    for (let i = 0; i < 250; i += 1) audit.record(event('close.flush'));
    await audit.close();
    expect(await stored('close.flush')).toHaveLength(250);

    audit.record(event('close.flush'));
    expect(log).toHaveBeenCalledWith(expect.stringContaining('after the audit log was closed'));
    await audit.flush();
    expect(await stored('close.flush')).toHaveLength(250);
  });

  it('keeps events while the database refuses writes, logs each failure once, and writes them later', async () => {
    const log = vi.fn();
    const audit = new AuditLog(database.db, { flushIntervalMs: 50, maxBatch: 5, log });
    await sql`alter table audit_events rename to audit_events_offline`.execute(database.db);
    try {
      for (let i = 0; i < 20; i += 1) audit.record(event('outage', { details: { i } }));
      await vi.waitFor(() => expect(log.mock.calls.length).toBeGreaterThanOrEqual(2), { timeout: 5000, interval: 10 });
      for (let i = 20; i < 40; i += 1) audit.record(event('outage', { details: { i } }));
      await sleep(120);
      await expect(audit.flush()).rejects.toThrow();
    } finally {
      await sql`alter table audit_events_offline rename to audit_events`.execute(database.db);
    }
    const failures = log.mock.calls.map(([line]) => line as string);
    expect(failures.every((line) => /writing events failed .*events stay buffered/.test(line))).toBe(true);
    // Retries follow the timer, not every newly recorded event.
    expect(failures.length).toBeLessThan(20);

    await vi.waitFor(async () => expect(await stored('outage')).toHaveLength(40), { timeout: 5000, interval: 20 });
    expect((await stored('outage')).map((row) => row.details)).toEqual(Array.from({ length: 40 }, (_, i) => ({ i })));
    await audit.close();
  });

  it('drops only an event the database can never accept, and reports it', async () => {
    const log = vi.fn();
    const audit = new AuditLog(database.db, { flushIntervalMs: 60_000, maxBatch: 10, log });
    audit.record(event('poison', { reason: 'before' }));
    audit.record(event('poison', { reason: 'bad', outcome: 'maybe' as never }));
    audit.record(event('poison', { reason: 'after' }));
    await audit.flush();
    expect((await stored('poison')).map((row) => row.reason)).toEqual(['before', 'after']);
    expect(log).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledWith(expect.stringContaining('rejected an event'));
    await audit.close();
  });

  it('stores an event whose text holds NUL characters (PostgreSQL cannot), with them replaced', async () => {
    const audit = new AuditLog(database.db, { flushIntervalMs: 60_000 });
    audit.record(event('nul', { reason: 'resource "https://x/\u0000"', subject: 'a\u0000b', details: { note: 'a NUL \u0000 byte' } }));
    await audit.flush();
    const [row] = await stored('nul');
    expect(row).toMatchObject({ reason: 'resource "https://x/\uFFFD"', subject: 'a\uFFFDb', details: { note: 'a NUL \uFFFD byte' } });
    await audit.close();
  });

  it('stores events whose text holds lone UTF-16 surrogates in one batch, with them replaced', async () => {
    // A client controls some recorded text (an error description quoting its parameter). JSON escapes a lone
    // surrogate as a \u escape, which PostgreSQL refuses; unreplaced, one such event would force its whole batch to
    // be written row by row.
    const inserts = new InsertSizes();
    const log = vi.fn();
    const audit = new AuditLog(database.db.withPlugin(inserts), { flushIntervalMs: 60_000, log });
    audit.record(event('surrogate', { reason: 'before' }));
    audit.record(event('surrogate', { reason: 'scope "\uD800x"', subject: 'a\uDC00b', details: { note: 'lone \uDBFF' } }));
    await audit.flush();
    expect(inserts.sizes).toEqual([2]);
    const rows = await stored('surrogate');
    expect(rows.map((row) => row.reason)).toEqual(['before', 'scope "\uFFFDx"']);
    expect(rows[1]).toMatchObject({ subject: 'a\uFFFDb', details: { note: 'lone \uFFFD' } });
    expect(log).not.toHaveBeenCalled();
    await audit.close();
  });

  it('refuses to store secret-looking detail fields and says which it dropped', async () => {
    const log = vi.fn();
    const audit = new AuditLog(database.db, { log });
    audit.record(event('secrets', {
      actor: { sub: 'agent-1', client_secret: 'actor-secret-value' },
      details: {
        access_token: 'at-value', refresh_token: 'rt-value', client_secret: 'cs-value', password: 'pw-value',
        client_assertion: 'ca-value', code_verifier: 'cv-value', privateKey: 'pk-value', id_token_hint: 'ith-value',
        nested: { subject_token: 'st-value', jwk: { kty: 'EC', crv: 'P-256', x: 'x-value', y: 'y-value', d: 'd-value' } },
        token_type: 'Bearer', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', scope: 'read', grant_type: 'token-exchange',
      },
    }));
    await audit.close();

    const [row] = await stored('secrets');
    expect(row.details).toEqual({
      nested: { jwk: { kty: 'EC', crv: 'P-256', x: 'x-value', y: 'y-value' } },
      token_type: 'Bearer', subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', scope: 'read', grant_type: 'token-exchange',
    });
    expect(row.actor).toEqual({ sub: 'agent-1' });
    expect(JSON.stringify(row)).not.toMatch(/(at|rt|cs|pw|ca|cv|pk|ith|st|d)-value|actor-secret-value/);

    expect(log).toHaveBeenCalledTimes(1);
    const [line] = log.mock.calls[0] as [string];
    for (const key of ['access_token', 'client_secret', 'password', 'client_assertion', 'code_verifier', 'privateKey', 'subject_token', 'd']) {
      expect(line).toContain(key);
    }
    expect(line).not.toMatch(/-value/);
  });

  it('stores the recorded time to the millisecond, and details as JSON would write them', async () => {
    const audit = new AuditLog(database.db, { flushIntervalMs: 60_000 });
    const times = [new Date('2031-05-06T07:08:09.001Z'), new Date('1999-12-31T23:59:59.999Z'), new Date(Date.UTC(2026, 0, 1, 0, 0, 0, 7))];
    for (const at of times) audit.record(event('precise', { at, details: { when: at, list: ['a', 1, null], nested: { ok: true } } }));
    const before = Date.now();
    audit.record(event('precise'));
    await audit.close();
    const rows = await stored('precise');
    expect(rows.slice(0, 3).map((row) => row.at.toISOString())).toEqual(times.map((at) => at.toISOString()));
    expect(rows[0].details).toEqual({ when: '2031-05-06T07:08:09.001Z', list: ['a', 1, null], nested: { ok: true } });
    expect(rows[3].at.getTime()).toBeGreaterThanOrEqual(before);
    expect(rows[3].at.getTime()).toBeLessThanOrEqual(Date.now());
    expect(rows[3].details).toBeNull();
  });

  it('records an event given an invalid time at the time it is recorded', async () => {
    const audit = new AuditLog(database.db, { flushIntervalMs: 60_000 });
    const before = Date.now();
    expect(() => audit.record(event('invalid-time', { at: new Date(Number.NaN) }))).not.toThrow();
    await audit.close();
    const [row] = await stored('invalid-time');
    expect(row.at.getTime()).toBeGreaterThanOrEqual(before);
    expect(row.at.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('never throws from record, even for details that are not JSON', async () => {
    const log = vi.fn();
    const audit = new AuditLog(database.db, { log });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    expect(() => audit.record(event('not-json', { details: { big: 10n } }))).not.toThrow();
    expect(() => audit.record(event('not-json', { details: circular }))).not.toThrow();
    await audit.close();
    expect((await stored('not-json')).map((row) => row.details)).toEqual([null, null]);
    expect(log).toHaveBeenCalledTimes(2);
  });

  describe('query', () => {
    const t0 = new Date('2020-01-01T00:00:00.000Z');
    const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
    const window = { from: t0, to: at(3600) };

    beforeAll(async () => {
      const audit = new AuditLog(database.db);
      audit.record(event('token.issued', { at: at(0), clientId: 'q-a', subject: 'alice', requestId: 'r1' }));
      audit.record(event('token.issued', { at: at(1), clientId: 'q-b', sourceIp: '192.0.2.1' }));
      audit.record(event('token.revoked', { at: at(2), clientId: 'q-a', outcome: 'failure', reason: 'unknown token' }));
      audit.record(event('token.issued', { at: at(3), clientId: 'q-a', actor: { sub: 'agent-7' }, details: { scope: 'read' } }));
      audit.record(event('token.issued', { at: at(3), clientId: 'q-a', details: { scope: 'write' } }));
      await audit.close();
    });

    const audit = () => new AuditLog(database.db);
    const summary = (records: AuditRecord[]) => records.map((record) => `${record.event}@${(record.at.getTime() - t0.getTime()) / 1000}:${record.clientId}`);

    async function everyPage(limit: number, filter: { clientId?: string; event?: string } = {}) {
      const log = audit();
      const records: AuditRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await log.query({ ...window, ...filter, limit, cursor });
        expect(page.items.length).toBeLessThanOrEqual(limit);
        records.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      await log.close();
      return records;
    }

    it('returns full records, newest first', async () => {
      const log = audit();
      const page = await log.query({ ...window, limit: 10 });
      await log.close();
      expect(summary(page.items)).toEqual(['token.issued@3:q-a', 'token.issued@3:q-a', 'token.revoked@2:q-a', 'token.issued@1:q-b', 'token.issued@0:q-a']);
      expect(page.nextCursor).toBeNull();
      expect(page.items[0]).toEqual({
        id: expect.stringMatching(/^\d+$/), at: at(3), event: 'token.issued', clientId: 'q-a', subject: null, actor: null,
        outcome: 'success', reason: null, requestId: null, sourceIp: null, details: { scope: 'write' }, orgId: null,
      });
      expect(page.items[1]).toMatchObject({ actor: { sub: 'agent-7' }, details: { scope: 'read' } });
      expect(page.items[2]).toMatchObject({ outcome: 'failure', reason: 'unknown token' });
      expect(page.items[4]).toMatchObject({ subject: 'alice', requestId: 'r1' });
      expect(BigInt(page.items[0].id)).toBeGreaterThan(BigInt(page.items[1].id));
    });

    it('filters by client, event and time range', async () => {
      const log = audit();
      expect(summary((await log.query({ ...window, clientId: 'q-b', limit: 10 })).items)).toEqual(['token.issued@1:q-b']);
      expect(summary((await log.query({ ...window, event: 'token.revoked', limit: 10 })).items)).toEqual(['token.revoked@2:q-a']);
      expect(summary((await log.query({ ...window, clientId: 'q-a', event: 'token.issued', limit: 10 })).items)).toEqual([
        'token.issued@3:q-a', 'token.issued@3:q-a', 'token.issued@0:q-a',
      ]);
      // `from` is inclusive, `to` exclusive.
      expect(summary((await log.query({ from: at(1), to: at(3), limit: 10 })).items)).toEqual(['token.revoked@2:q-a', 'token.issued@1:q-b']);
      await log.close();
    });

    it('pages through everything exactly once, even between events with the same timestamp', async () => {
      const all = await everyPage(10);
      for (const limit of [1, 2, 3]) {
        expect((await everyPage(limit)).map((record) => record.id)).toEqual(all.map((record) => record.id));
      }
      expect((await everyPage(1, { clientId: 'q-a' })).map((record) => record.id)).toEqual(
        all.filter((record) => record.clientId === 'q-a').map((record) => record.id),
      );
    });

    it('rejects a cursor it did not issue', async () => {
      const log = audit();
      await expect(log.query({ limit: 1, cursor: 'garbage' })).rejects.toBeInstanceOf(InvalidCursorError);
      const forged = Buffer.from(JSON.stringify([0, "1) or (1=1"])).toString('base64url');
      await expect(log.query({ limit: 1, cursor: forged })).rejects.toBeInstanceOf(InvalidCursorError);
      await log.close();
    });
  });
});
