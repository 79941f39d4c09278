import { PGlite } from '@electric-sql/pglite';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const db = new PGlite(mkdtempSync(join(tmpdir(), 'pgl-')));
await db.waitReady;
await db.exec(`create table audit_events (id uuid primary key default gen_random_uuid(), at timestamptz not null, event text not null, client_id text, subject text, actor jsonb, outcome text not null, reason text, request_id text, source_ip text, details jsonb, org_id text, event_id text);
create index a1 on audit_events (client_id, at); create index a2 on audit_events(event, at); create index a3 on audit_events(at); create index a4 on audit_events(org_id, at); create unique index a5 on audit_events(event_id);`);
const row = (i: number) => JSON.stringify({ at: Date.now(), event: 'token.issued', client_id: 'agent_bench', subject: 'agent_bench', outcome: 'success', reason: null, request_id: `req-${i}`, source_ip: '127.0.0.1', org_id: 'default', actor: null, details: { grant_type: 'client_credentials', scope: 'read' } });
const SQL = `INSERT INTO audit_events (at, event, client_id, subject, actor, outcome, reason, request_id, source_ip, details, org_id, event_id)
      SELECT to_timestamp(at / 1000), event, client_id, subject, actor::jsonb, outcome, reason, request_id, source_ip, details::jsonb, org_id, event_id
      FROM json_to_recordset($1::json) AS row(at float8, event text, client_id text, subject text, actor json, outcome text, reason text, request_id text, source_ip text, details json, org_id text, event_id text)
      ON CONFLICT (event_id) DO NOTHING`;
async function time(label: string, n: number, batch: number, f: (rows: string) => Promise<unknown>) {
  let k = 0; const c = process.cpuUsage();
  for (let i = 0; i < n; i++) { const rows = `[${Array.from({ length: batch }, () => row(k++)).join(',')}]`; await f(rows); }
  const u = process.cpuUsage(c); console.log(label, 'batch', batch, ((u.user + u.system) / n).toFixed(0), 'µs/stmt', ((u.user + u.system) / n / batch).toFixed(0), 'µs/row');
}
await time('query', 800, 1, (rows) => db.query(SQL, [rows]));
await time('select 1', 800, 1, () => db.query('select 1'));
await time('select $1', 800, 1, (rows) => db.query('select $1::json', [rows]));
await db.exec('begin');
await time('in one txn', 1500, 1, (rows) => db.query(SQL, [rows]));
await db.exec('commit');
await time('simple insert values', 1500, 1, (rows) => db.query(`insert into audit_events (at, event, outcome, request_id) values (now(), 'x', 'success', $1)`, [rows.slice(0, 20)]));
const NOCONF = SQL.replace('ON CONFLICT (event_id) DO NOTHING', '');
await time('no on conflict', 800, 1, (rows) => db.query(NOCONF, [rows]));
const NOJSONB = SQL.replace('actor::jsonb', 'null').replace('details::jsonb', 'null');
await time('no jsonb casts', 800, 1, (rows) => db.query(NOJSONB, [rows]));
await time('query again', 800, 1, (rows) => db.query(SQL, [rows]));
await time('query batch 8', 200, 8, (rows) => db.query(SQL, [rows]));
await time('exec literal', 800, 1, (rows) => db.exec(SQL.replace('$1::json', `'${rows.replace(/'/g, "''")}'::json`)));
