import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peekArrivedBody } from '../../server/read-body.ts';

// A real HTTP server, so the request streams are Node's own: what the peek saw, and what a reader got afterwards.
describe('peekArrivedBody', () => {
  let server: Server;
  let url: string;
  let onRequest: (req: IncomingMessage) => Promise<{ peeked?: string; read: string }>;

  beforeAll(async () => {
    server = createServer(async (req, res) => res.end(JSON.stringify(await onRequest(req))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function readAll(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  }

  async function peekThenRead(req: IncomingMessage) {
    await Promise.resolve();
    const peeked = peekArrivedBody(req)?.toString();
    return { peeked, read: await readAll(req) };
  }

  it('returns a body that has arrived and leaves all of it for the next reader', async () => {
    onRequest = peekThenRead;
    const response = await fetch(url, { method: 'POST', body: 'token=abc&token_type_hint=access_token' });
    expect(await response.json()).toEqual({ peeked: 'token=abc&token_type_hint=access_token', read: 'token=abc&token_type_hint=access_token' });
  });

  it('gives up on a chunked body, which has no declared length to know it is complete', async () => {
    onRequest = peekThenRead;
    const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('token=abc')); c.close(); } });
    const response = await fetch(url, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(await response.json()).toEqual({ read: 'token=abc' });
  });

  it('gives up on a body that is still arriving, and the reader still gets all of it', async () => {
    onRequest = peekThenRead;
    const result = await new Promise<string>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { 'content-length': '12' } }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; }).on('end', () => resolve(text)).on('error', reject);
      });
      req.write('token=');
      setTimeout(() => req.end('abcdef'), 50);
    });
    expect(JSON.parse(result)).toEqual({ read: 'token=abcdef' });
  });

  it('gives up once someone has read from the stream', async () => {
    onRequest = async (req) => {
      await Promise.resolve();
      const first = req.read(3) as Buffer | null;
      const peeked = peekArrivedBody(req)?.toString();
      return { peeked, read: `${first ?? ''}${await readAll(req)}` };
    };
    const response = await fetch(url, { method: 'POST', body: 'token=abc' });
    expect(await response.json()).toEqual({ read: 'token=abc' });
  });
});
