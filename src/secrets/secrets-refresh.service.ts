import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AuditService } from '../audit/audit.service';
import type { KeywardConfig } from '../config/configuration';
import type { SecretVariable } from '../config/environment';
import { mergeProviderSecrets } from '../config/provider-secrets';
import { AwsSecretSource, describeAwsError } from '../config/aws-secret-source';
import { SecretsService } from './secrets.service';

/**
 * Minimum gap between on-demand refreshes (after an upstream 401), so a bad key cannot
 * turn every chat request into a Secrets Manager call.
 */
const ON_DEMAND_MIN_INTERVAL_MS = 10_000;

/**
 * With `SECRETS_PROVIDER=aws`, re-fetches the secret every `SECRETS_REFRESH_SECONDS` and
 * hands the values to `SecretsService`: subscribers (the OpenAI client) use a rotated value
 * at once; any other change is logged by name as needing a restart (a rolling restart
 * picks it up). Changes are audited as `secrets.reloaded` with names, never values. A
 * failed refresh keeps the last good values and warns once until it recovers.
 */
@Injectable()
export class SecretsRefreshService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SecretsRefreshService.name);
  private readonly settings: KeywardConfig['secrets'];
  private readonly environmentNames: ReadonlySet<string>;
  private source?: AwsSecretSource;
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<ReadonlySet<SecretVariable>>;
  private lastAttemptAt = 0;
  private failing = false;
  /** Warnings about the secret's content, each said once rather than every refresh. */
  private readonly warned = new Set<string>();

  constructor(
    config: ConfigService<KeywardConfig, true>,
    private readonly secrets: SecretsService,
    private readonly audit: AuditService,
  ) {
    this.settings = config.get('secrets', { infer: true });
    this.environmentNames = new Set(this.settings.environmentNames);
  }

  onApplicationBootstrap(): void {
    if (this.settings.provider !== 'aws') return;
    this.source = new AwsSecretSource(this.settings);
    this.lastAttemptAt = Date.now();
    this.timer = setInterval(() => void this.refreshNow(), this.settings.refreshSeconds * 1000);
    // The timer alone must not keep the process (or a test run) alive.
    this.timer.unref();
    this.secrets.setRefresher(() => this.refreshIfStale());
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
    this.source?.destroy();
    this.source = undefined;
  }

  /**
   * Fetches and applies the secret now; resolves to the names that changed. Concurrent
   * calls share one fetch. Public so tests need not wait for the timer.
   */
  refreshNow(): Promise<ReadonlySet<SecretVariable>> {
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private refreshIfStale(): Promise<ReadonlySet<SecretVariable>> {
    if (this.inFlight) return this.inFlight;
    if (Date.now() - this.lastAttemptAt < ON_DEMAND_MIN_INTERVAL_MS) {
      return Promise.resolve(new Set());
    }
    return this.refreshNow();
  }

  private async refresh(): Promise<ReadonlySet<SecretVariable>> {
    const source = this.source;
    if (!source) return new Set();
    this.lastAttemptAt = Date.now();
    let document: Record<string, unknown>;
    try {
      document = await source.fetch();
    } catch (error) {
      if (!this.failing) {
        this.failing = true;
        this.logger.warn(
          `secrets refresh from AWS Secrets Manager failed (${describeAwsError(error)}); keeping the last good values`,
        );
      }
      return new Set();
    }
    if (this.failing) {
      this.failing = false;
      this.logger.log('secrets refresh from AWS Secrets Manager works again');
    }
    const merged = mergeProviderSecrets(document, this.environmentNames);
    for (const key of merged.unknown) {
      this.warnOnce(`the AWS secret has a key that is not a secret variable, ignored: ${key}`);
    }
    for (const name of merged.conflicts) {
      this.warnOnce(`${name} is in the AWS secret but set in the environment; ignored`);
    }
    for (const name of merged.invalid) {
      this.warnOnce(`${name} in the AWS secret is not a string; keeping the last value`);
    }
    // The provider's names only: the environment's own (files included) are not its to remove.
    for (const name of this.secrets.names()) {
      if (this.environmentNames.has(name)) continue;
      if (merged.values[name] === undefined && !merged.invalid.includes(name)) {
        this.warnOnce(`${name} was removed from the AWS secret; keeping the last value`);
      }
    }
    const changed = this.secrets.update(merged.values);
    if (changed.size > 0) await this.report([...changed].sort());
    return changed;
  }

  private async report(changed: SecretVariable[]): Promise<void> {
    const applied = changed.filter((name) => this.secrets.appliesLive(name));
    const restartRequired = changed.filter((name) => !this.secrets.appliesLive(name));
    if (applied.length > 0) {
      this.logger.log(
        `secrets reloaded from AWS Secrets Manager: ${applied.join(', ')} in use now`,
      );
    }
    for (const name of restartRequired) this.logger.warn(`${name} changed; restart to apply`);
    try {
      await this.audit.record('secrets.reloaded', {
        subject: 'aws',
        details: { changed, applied, restartRequired },
      });
    } catch (error) {
      this.logger.error(`audit write failed for secrets.reloaded: ${(error as Error).message}`);
    }
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.logger.warn(message);
  }
}
