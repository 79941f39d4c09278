// Tells every instance that a durable record changed, so in-process caches of PostgreSQL rows (clients, agents,
// resources) can be dropped at once instead of expiring. One instance: nothing to tell. Several: Redis pub/sub
// on the Redis they already share.
//
// Pub/sub delivers only to connected subscribers, so an instance whose subscription is down misses changes.
// `live` says whether this instance is sure to hear of every change right now: caches serve from memory only
// while it is true, and start over whenever it changes, so an instance that loses Redis, or comes back to it,
// reads the database until it hears changes again (a suspension made meanwhile holds there before anything is
// issued).
import { EventEmitter } from 'node:events';
import { Cluster } from 'ioredis';
import { closeRedis, redisFailure } from './dependency-faults.ts';
import type { RedisClient } from './redis-connection.ts';

export interface ChangeFeed {
  /** True while every change published by any instance reaches this one. */
  readonly live: boolean;
  /**
   * Announces to the other instances that `key` under `topic` changed (this instance handles itself); throws
   * StorageUnavailable when it cannot, so the change can be abandoned.
   */
  publish(topic: string, key: string): Promise<void>;
  /** `onChange(key)` for each change another instance announces; `onReset()` when `live` changes. */
  subscribe(topic: string, onChange: (key: string) => void, onReset: () => void): void;
  close(): Promise<void>;
}

/** A single instance has nobody else to tell, and hears of its own changes directly. */
export class LocalChangeFeed implements ChangeFeed {
  readonly live = true;
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
  readonly #channels = new Set<string>();
  #live = false;
  // Counts connections, so a subscription confirmed on a connection that has since dropped does not count.
  #connection = 0;

  constructor(redis: RedisClient, prefix: string) {
    this.#publisher = redis;
    this.#prefix = prefix;
    // A connection in subscriber mode can do nothing else, so it is a connection of its own (on a Cluster, a
    // client of its own, whose subscription ioredis keeps on one node: Redis Cluster sends PUBLISH to every node).
    // It subscribes itself on every connection (not ioredis's resubscription, whose completion is not reported),
    // so `live` turns true only once Redis has confirmed every subscription.
    this.#subscriber = redis instanceof Cluster ? redis.duplicate() : redis.duplicate({ autoResubscribe: false });
    this.#subscriber.on('message', (channel: string, message: string) => {
      const separator = message.indexOf(' ');
      if (message.slice(0, separator) === this.#origin) return;
      this.#events.emit(`change:${channel}`, message.slice(separator + 1));
    });
    this.#subscriber.on('ready', () => this.#subscribeAll());
    this.#subscriber.on('close', () => {
      this.#connection += 1;
      this.#setLive(false);
    });
    // A Cluster moves its subscription to another node by itself when the node it used goes, and says so only as a
    // change of topology (a node added or removed): that counts as a new connection, confirmed anew.
    if (this.#subscriber instanceof Cluster) {
      const moved = () => {
        this.#connection += 1;
        this.#setLive(false);
        this.#subscribeAll();
      };
      this.#subscriber.on('+node', moved);
      this.#subscriber.on('-node', moved);
    }
    // Failed reconnection attempts; the outage is logged once, from the main connection (dependency-state.ts).
    this.#subscriber.on('error', () => undefined);
  }

  get live(): boolean {
    return this.#live;
  }

  #channel(topic: string): string {
    return `${this.#prefix}changes:${topic}`;
  }

  async publish(topic: string, key: string): Promise<void> {
    try {
      await this.#publisher.publish(this.#channel(topic), `${this.#origin} ${key}`);
    } catch (error) {
      throw redisFailure(error);
    }
  }

  subscribe(topic: string, onChange: (key: string) => void, onReset: () => void): void {
    const channel = this.#channel(topic);
    this.#events.on(`change:${channel}`, onChange);
    this.#events.on('reset', onReset);
    this.#channels.add(channel);
    if (this.#subscriber.status === 'ready') {
      this.#setLive(false);
      this.#subscribeAll();
    }
  }

  #subscribeAll(): void {
    const connection = (this.#connection += 1);
    const confirmed = this.#channels.size ? this.#subscriber.subscribe(...this.#channels) : Promise.resolve();
    confirmed.then(
      () => {
        if (connection === this.#connection) this.#setLive(true);
      },
      // The connection dropped before Redis answered; the next 'ready' subscribes again.
      () => undefined,
    );
  }

  #setLive(live: boolean): void {
    if (this.#live === live) return;
    this.#live = live;
    this.#events.emit('reset');
    if (live) this.#events.emit('live');
  }

  /** Resolves once every subscription is active (so a change published right after is heard). */
  async ready(): Promise<void> {
    if (!this.#live) await new Promise((resolve) => this.#events.once('live', resolve));
  }

  close(): Promise<void> {
    return closeRedis(this.#subscriber);
  }
}
