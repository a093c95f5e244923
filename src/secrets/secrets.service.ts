import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { KeywardConfig } from '../config/configuration';
import type { SecretVariable } from '../config/environment';
import type { ProvidedValues } from '../config/provider-secrets';

export type SecretsListener = (changed: ReadonlySet<SecretVariable>) => void;

/**
 * The current values of the provider-supplied secrets (AWS Secrets Manager), so a feature
 * that can take a new value while running subscribes here instead of re-reading sources.
 * Starts from what the provider gave at start-up; with `SECRETS_PROVIDER=env` it stays
 * empty and never changes.
 */
@Injectable()
export class SecretsService {
  private values: ProvidedValues;
  private readonly listeners = new Map<SecretsListener, ReadonlySet<SecretVariable>>();
  private refresher?: () => Promise<ReadonlySet<SecretVariable>>;

  constructor(config: ConfigService<KeywardConfig, true>) {
    this.values = config.get('secrets', { infer: true }).provided.toObject();
  }

  get(name: SecretVariable): string | undefined {
    return this.values[name];
  }

  names(): SecretVariable[] {
    return Object.keys(this.values) as SecretVariable[];
  }

  /**
   * Subscribes to changes of `names`: the listener gets the changed ones among them and
   * applies them. Subscribing is also how a name counts as applied without a restart.
   */
  onChange(names: readonly SecretVariable[], listener: SecretsListener): () => void {
    this.listeners.set(listener, new Set(names));
    return () => this.listeners.delete(listener);
  }

  /** True when a running feature takes a new value of `name` (else: restart to apply). */
  appliesLive(name: SecretVariable): boolean {
    return [...this.listeners.values()].some((names) => names.has(name));
  }

  /**
   * Replaces the values and tells the listeners; returns the names that changed. A name
   * missing from `next` keeps its last value: a secret pruned by mistake must not take
   * the upstream key away from a running server.
   */
  update(next: ProvidedValues): ReadonlySet<SecretVariable> {
    const changed = new Set<SecretVariable>();
    const merged: ProvidedValues = { ...this.values };
    for (const [name, value] of Object.entries(next) as [SecretVariable, string][]) {
      if (merged[name] !== value) {
        merged[name] = value;
        changed.add(name);
      }
    }
    this.values = merged;
    for (const [listener, names] of this.listeners) {
      const relevant = new Set([...changed].filter((name) => names.has(name)));
      if (relevant.size > 0) listener(relevant);
    }
    return changed;
  }

  /** Lets the refresh service offer an on-demand refresh (used after an upstream 401). */
  setRefresher(refresher: () => Promise<ReadonlySet<SecretVariable>>): void {
    this.refresher = refresher;
  }

  /** Re-fetches now if a provider is configured; the names that changed (none without one). */
  refresh(): Promise<ReadonlySet<SecretVariable>> {
    return this.refresher ? this.refresher() : Promise.resolve(new Set());
  }
}
