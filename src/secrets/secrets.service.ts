import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { KeywardConfig } from '../config/configuration';
import type { SecretVariable } from '../config/environment';
import type { ProvidedValues } from '../config/provider-secrets';
import { FileSecretSource } from '../config/file-secret-source';

export type SecretsListener = (changed: ReadonlySet<SecretVariable>) => void;

/**
 * The current values of the secrets that can change while Keyward runs: those from `X_FILE`
 * files and from the provider (AWS Secrets Manager). A feature that can take a new value
 * while running subscribes here (`onChange`) and never re-reads a source itself;
 * `refresh()` asks every source (files at once, AWS through SecretsRefreshService, which
 * throttles it). Starts from what start-up resolved; without files or a provider it stays
 * empty and never changes.
 */
@Injectable()
export class SecretsService {
  private values: ProvidedValues;
  private readonly files: FileSecretSource;
  private readonly listeners = new Map<SecretsListener, ReadonlySet<SecretVariable>>();
  private refresher?: () => Promise<ReadonlySet<SecretVariable>>;

  constructor(config: ConfigService<KeywardConfig, true>) {
    const secrets = config.get('secrets', { infer: true });
    this.values = { ...secrets.fromFiles.toObject(), ...secrets.provided.toObject() };
    this.files = new FileSecretSource(secrets.files);
  }

  get(name: SecretVariable): string | undefined {
    return this.values[name];
  }

  /** Every name with a current value, from files and the provider. */
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

  /**
   * Re-reads the secret files, then re-fetches from the provider if one is configured
   * (throttled there); the names that changed. Listeners have applied them on return.
   */
  async refresh(): Promise<ReadonlySet<SecretVariable>> {
    const changed = new Set(this.update(this.files.read()));
    if (this.refresher) for (const name of await this.refresher()) changed.add(name);
    return changed;
  }
}
