import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Redis } from 'ioredis';
import type { KeywardConfig } from '../config/configuration';

/**
 * The one wrapper around Redis. Absent (`client` undefined) when `REDIS_URL` is unset:
 * shared state then lives in-process.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  readonly client?: Redis;
  readonly keyPrefix: string;
  private subscriber?: Redis;
  private readonly handlers = new Map<string, ((message: string) => void)[]>();

  constructor(config: ConfigService<KeywardConfig, true>) {
    const { redisUrl, redisKeyPrefix } = config.get('database', { infer: true });
    this.keyPrefix = redisKeyPrefix;
    if (redisUrl) {
      // Loaded only when configured: without REDIS_URL the driver's ~6 MB of heap stay out.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Redis } = require('ioredis') as typeof import('ioredis');
      this.client = new Redis(redisUrl, {
        lazyConnect: false,
        // Fail commands fast while disconnected instead of queueing them forever.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 2000,
        retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
        // How long an ended socket may take to close before ioredis destroys it. ioredis arms
        // that (ref'd) timer at every disconnect, also on a socket that is already closed
        // (Redis down: reconnecting), where nothing clears it: with the default 2 s it kept a
        // process that had shut down (an in-process test app) alive for 2 s. A live socket
        // closes in a round trip.
        disconnectTimeout: 200,
      });
      let reported = false;
      this.client.on('error', (error: Error) => {
        if (!reported) this.logger.warn(`Redis unavailable: ${error.message}`);
        reported = true;
      });
      this.client.on('ready', () => {
        if (reported) this.logger.log('Redis connection restored');
        reported = false;
      });
    }
  }

  /**
   * Delivers messages published on `channel` by any instance (this one included). A
   * subscriber needs its own connection; it is made on first use.
   */
  subscribe(channel: string, handler: (message: string) => void): void {
    if (!this.client) return;
    if (!this.subscriber) {
      this.subscriber = this.client.duplicate({ enableOfflineQueue: true });
      this.subscriber.on('error', () => undefined); // reported by the main connection
      this.subscriber.on('message', (name: string, message: string) => {
        for (const listener of this.handlers.get(name) ?? []) listener(message);
      });
    }
    const key = `${this.keyPrefix}${channel}`;
    const listeners = this.handlers.get(key) ?? [];
    if (listeners.length === 0) void this.subscriber.subscribe(key).catch(() => undefined);
    this.handlers.set(key, [...listeners, handler]);
  }

  /** Best effort: subscribers that miss a message catch up through their own polling. */
  async publish(channel: string, message: string): Promise<void> {
    if (!this.client) return;
    await this.client.publish(`${this.keyPrefix}${channel}`, message).catch(() => undefined);
  }

  get enabled(): boolean {
    return this.client !== undefined;
  }

  async ping(): Promise<void> {
    if (!this.client) return;
    const answer = await this.client.ping();
    if (answer !== 'PONG') throw new Error('unexpected PING answer');
  }

  async onApplicationShutdown(): Promise<void> {
    this.subscriber?.disconnect();
    if (this.client && this.client.status !== 'end') {
      await this.client.quit().catch(() => this.client?.disconnect());
    }
  }
}
