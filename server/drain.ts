// Shutting down without failing a request. Node's `server.close()` closes idle keep-alive connections at once
// (since v19), so a client that sends on one at that moment gets `socket hang up` although nothing was wrong with
// its request. Draining instead: stop accepting connections, answer every request still arriving on an open one
// (in flight or new) with `Connection: close` so its client opens the next connection elsewhere, give idle
// connections a grace period for that last request, then close what is still idle.
import { Server as NetServer } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export interface Drain {
  /** Resolves once every connection has ended. */
  (graceMs: number): Promise<void>;
}

export function drainable(server: Server): Drain {
  let draining = false;
  const inFlight = new Set<ServerResponse>();
  // Before the app's listener, so the header is set before the app writes anything.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) {
      res.setHeader('Connection', 'close');
      return;
    }
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  return async (graceMs) => {
    draining = true;
    for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
    // net.Server's close: stop accepting, without http.Server's closeIdleConnections.
    const ended = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
    const grace = setTimeout(() => server.closeIdleConnections(), graceMs);
    // A connection whose client never sends again is closed by the grace timer; one whose last response said
    // `Connection: close` ends by itself.
    await ended;
    clearTimeout(grace);
  };
}
