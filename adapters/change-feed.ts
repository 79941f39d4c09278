// Tells every instance that a durable record changed, so in-process caches of PostgreSQL rows (clients,
// resources) can be dropped at once instead of expiring. One instance: an in-process emitter. Several: Redis
// pub/sub on the Redis they already share.
import { EventEmitter } from 'node:events';
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-connection.ts';

export interface ChangeFeed {
  /** Announces to the other instances that `key` under `topic` changed (this instance handles itself). */
  publish(topic: string, key: string): Promise<void>;
  /** `onChange(key)` for each change another instance announces; `onReset()` when announcements may have been missed. */
  subscribe(topic: string, onChange: (key: string) => void, onReset: () => void): void;
  close(): Promise<void>;
}

/** A single instance has nobody else to tell. */
export class LocalChangeFeed implements ChangeFeed {
  async publish(): Promise<void> {}
  subscribe(): void {}
  async close(): Promise<void> {}
}

export class RedisChangeFeed implements ChangeFeed {
  readonly #publisher: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #prefix: string;
  readonly #events = new EventEmitter();
  readonly #origin = `${process.pid}:${Math.random().toString(36).slice(2)}`;
  readonly #subscriptions: Promise<unknown>[] = [];

  constructor(redis: RedisClient, prefix: string) {
    this.#publisher = redis;
    this.#prefix = prefix;
    // A connection in subscriber mode can do nothing else, so it is a connection of its own (on a Cluster, a
    // client of its own, whose subscription ioredis keeps on one node: Redis Cluster sends PUBLISH to every node).
    this.#subscriber = redis.duplicate();
    this.#subscriber.on('message', (channel: string, message: string) => {
      const separator = message.indexOf(' ');
      if (message.slice(0, separator) === this.#origin) return;
      this.#events.emit(`change:${channel}`, message.slice(separator + 1));
    });
    // After a reconnect, announcements sent while we were away are lost: every cache starts over. A Cluster
    // moves its subscription to another node by itself when the node it used goes, and says so only as a
    // change of topology (a node added or removed): that counts as a reconnect too.
    let connectedOnce = false;
    const reset = () => { if (connectedOnce) this.#events.emit('reset'); };
    this.#subscriber.on('ready', () => {
      reset();
      connectedOnce = true;
    });
    if (this.#subscriber instanceof Cluster) {
      this.#subscriber.on('+node', reset);
      this.#subscriber.on('-node', reset);
    }
  }

  #channel(topic: string): string {
    return `${this.#prefix}changes:${topic}`;
  }

  async publish(topic: string, key: string): Promise<void> {
    await this.#publisher.publish(this.#channel(topic), `${this.#origin} ${key}`);
  }

  subscribe(topic: string, onChange: (key: string) => void, onReset: () => void): void {
    const channel = this.#channel(topic);
    this.#events.on(`change:${channel}`, onChange);
    this.#events.on('reset', onReset);
    this.#subscriptions.push(this.#subscriber.subscribe(channel));
  }

  /** Resolves once every subscription is active (so a change published right after is not missed). */
  async ready(): Promise<void> {
    await Promise.all(this.#subscriptions);
  }

  async close(): Promise<void> {
    await this.#subscriber.quit();
  }
}
