import { Controller, Get } from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '../http/openapi-decorators';
import { HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { HealthCheckResult, HealthIndicatorFunction } from '@nestjs/terminus';
import { Public } from '../auth/public.decorator';
import { DomainError } from '../common/domain-error';
import { DatabaseService } from '../database/database.service';
import { RedisService } from '../redis/redis.service';

const CHECK_TIMEOUT_MS = 2000;

@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseService,
    private readonly redis: RedisService,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and serving' })
  @ApiOkResponse({ schema: { example: { status: 'ok' } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: the database (and Redis when configured) answer' })
  @ApiOkResponse({ schema: { example: { status: 'ok', info: { database: { status: 'up' } } } } })
  @ApiServiceUnavailableResponse({
    description: 'A dependency is down (problem+json with `checks`)',
  })
  async ready(): Promise<HealthCheckResult> {
    const checks: HealthIndicatorFunction[] = [
      () =>
        this.indicators
          .check('database')
          .attempt(() => this.database.ping())
          .withTimeout(CHECK_TIMEOUT_MS),
    ];
    if (this.redis.enabled) {
      checks.push(() =>
        this.indicators
          .check('redis')
          .attempt(() => this.redis.ping())
          .withTimeout(CHECK_TIMEOUT_MS),
      );
    }
    try {
      return await this.health.check(checks);
    } catch (error) {
      const body = (error as { getResponse?: () => HealthCheckResult }).getResponse?.();
      const down = Object.keys(body?.error ?? {});
      // Only names and up/down reach the client: no driver error text.
      const status = Object.fromEntries(
        Object.entries(body?.details ?? {}).map(([name, detail]) => [name, detail.status]),
      );
      throw new DomainError(
        'service_unavailable',
        `Not ready: ${down.join(', ') || 'unknown'} down.`,
        {
          extensions: { checks: status },
          retryAfterSeconds: 5,
        },
      );
    }
  }
}
