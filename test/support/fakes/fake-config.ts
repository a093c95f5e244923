import type { ConfigService } from '@nestjs/config';
import type { KeywardConfig } from '../../../src/config/configuration';

type Sections = { [K in keyof KeywardConfig]?: Partial<KeywardConfig[K]> };

/**
 * A ConfigService for unit specs: only the sections a class reads, typed as the real ones.
 * Reading a section the spec did not give throws, so a spec cannot run on a silent default.
 */
export function fakeConfig(sections: Sections): ConfigService<KeywardConfig, true> {
  return {
    get(key: keyof KeywardConfig) {
      const section = sections[key];
      if (section === undefined) throw new Error(`fakeConfig: no "${String(key)}" section given`);
      return section;
    },
  } as unknown as ConfigService<KeywardConfig, true>;
}

/** Cookie settings as production has them, with throwaway secrets (≥ 32 bytes each). */
export const COOKIE_SECTION = {
  secure: true,
  secrets: ['unit-spec-cookie-secret-0123456789abcdef'],
};
