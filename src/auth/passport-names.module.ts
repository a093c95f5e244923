import { randomUUID } from 'node:crypto';
import { Module } from '@nestjs/common';

export const PASSPORT_NAMES = Symbol('keyward.passportNames');

export interface PassportNames {
  readonly jwt: string;
  readonly apiKey: string;
}

/**
 * passport keeps one process-wide registry of strategies by name. Each application
 * instance registers its strategies under names of its own, so two instances in one
 * process (tests, embedding) never verify tokens with each other's keys.
 */
@Module({
  providers: [
    {
      provide: PASSPORT_NAMES,
      useFactory: (): PassportNames => {
        const id = randomUUID();
        return { jwt: `jwt:${id}`, apiKey: `api-key:${id}` };
      },
    },
  ],
  exports: [PASSPORT_NAMES],
})
export class PassportNamesModule {}
