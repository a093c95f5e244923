import type { SecretVariable } from './environment';
import { readSecretFile } from './environment';
import type { ProvidedValues } from './provider-secrets';

/**
 * The `X_FILE` secrets (Docker and Kubernetes mount them as files, and rotate them in
 * place): re-read when SecretsService.refresh() is asked, with the same reading as at
 * start-up. A file that cannot be read, or reads empty, keeps its last value: a rotation
 * caught half-written must not take a key away from a running server.
 */
export class FileSecretSource {
  constructor(private readonly paths: Partial<Record<SecretVariable, string>>) {}

  read(): ProvidedValues {
    const values: ProvidedValues = {};
    for (const [name, path] of Object.entries(this.paths) as [SecretVariable, string][]) {
      try {
        const value = readSecretFile(path);
        if (value !== '') values[name] = value;
      } catch {
        // Unreadable right now: the last value stays (see above).
      }
    }
    return values;
  }
}
