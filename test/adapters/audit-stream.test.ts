// The Redis audit stream against real Redis and PostgreSQL: a durable event reaches the table once however many
// instances relay the stream, an append Redis refuses is committed to PostgreSQL directly, and an event neither can
// take is refused to the caller (the token endpoint then answers 503 and destroys the token).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, type AuditEvent } from '../../adapters/audit-log.ts';
import { RedisAuditStream } from '../../adapters/audit-stream.ts';
import { redisFaultOptions } from '../../adapters/dependency-faults.ts';
import { openTestDatabase, type TestDatabase } from '../support/databases.ts';
import { freePort } from '../support/own-services.ts';
import { connectTestRedis, dropRedisPrefix, uniqueRedisPrefix } from '../support/services.ts';

const quiet = () => undefined;
const event = (requestId: string): AuditEvent => ({ event: 'token.issued', outcome: 'success', clientId: 'agent_stream', requestId });

describe('RedisAuditStream', () => {
  let database: TestDatabase;
  let redis: Redis;
  const prefix = uniqueRedisPrefix('audit-stream');
  beforeAll(async () => {
    database = await openTestDatabase('postgres', 'audit_stream');
    redis = connectTestRedis();
  });
  afterAll(async () => {
    await dropRedisPrefix(redis, prefix);
    redis.disconnect();
    await database?.dispose();
  });

  const rows = async (requestId: string) => (await database.db.selectFrom('audit_events').select('request_id').where('request_id', 'like', `${requestId}%`).execute()).length;

  it('stores each durable event once while two instances relay the stream', async () => {
    const streams = [0, 1].map(() => new RedisAuditStream(redis, new AuditLog(database.db), { prefix, log: quiet, pollMs: 5 }));
    await Promise.all(Array.from({ length: 200 }, (_, i) => streams[i % 2].recordDurably(event(`twice-${i}`))));
    // Both relay passes, and a flush on each, may read the same entries: the event id keeps each row single.
    await Promise.all(streams.map((stream) => stream.close()));
    expect(await rows('twice-')).toBe(200);
    expect(await redis.xlen(`${prefix}audit:stream`)).toBe(0);
  });

  it('commits to PostgreSQL directly when Redis refuses the append', async () => {
    const down = new Redis({ host: '127.0.0.1', port: await freePort(), lazyConnect: true, ...redisFaultOptions(200) });
    down.on('error', quiet);
    const local = new AuditLog(database.db);
    const stream = new RedisAuditStream(down, local, { prefix, log: quiet });
    await stream.recordDurably(event('fallback-1'));
    expect(await rows('fallback-1')).toBe(1);
    await local.close();
    down.disconnect();
  });

  it('refuses the event when neither Redis nor PostgreSQL can take it', async () => {
    const down = new Redis({ host: '127.0.0.1', port: await freePort(), lazyConnect: true, ...redisFaultOptions(200) });
    down.on('error', quiet);
    const closed = await openTestDatabase('postgres', 'audit_stream_closed');
    const local = new AuditLog(closed.db, { log: quiet });
    const stream = new RedisAuditStream(down, local, { prefix, log: quiet });
    await closed.dispose();
    await expect(stream.recordDurably(event('nowhere-1'))).rejects.toThrow();
    down.disconnect();
  });
});
