import { Injectable } from '@nestjs/common';
import {
  type IRateLimiterOptions,
  RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
} from 'rate-limiter-flexible';
import { RedisService } from '../redis/redis.service';

/**
 * Makes rate-limiter-flexible counters: in-process by default, in Redis (shared by every
 * instance) when REDIS_URL is set. A Redis limiter falls back to an in-memory one while
 * Redis is unreachable, so a Redis outage never opens the gates completely.
 */
@Injectable()
export class LimiterFactory {
  constructor(private readonly redis: RedisService) {}

  create(options: IRateLimiterOptions & { keyPrefix: string }): RateLimiterAbstract {
    const memory = new RateLimiterMemory(options);
    if (!this.redis.client) return memory;
    return new RateLimiterRedis({
      ...options,
      keyPrefix: `${this.redis.keyPrefix}${options.keyPrefix}`,
      storeClient: this.redis.client,
      insuranceLimiter: memory,
    });
  }
}
