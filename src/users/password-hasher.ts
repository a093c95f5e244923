import { Injectable } from '@nestjs/common';
import { hash, verify } from '@node-rs/argon2';

/**
 * OWASP's argon2id baseline, and the minimum of docs/reference.md "Identity": m=19456 KiB, t=2,
 * p=1.
 */
const ARGON2_OPTIONS = {
  // Algorithm.Argon2id; the package exports a const enum, which isolatedModules cannot read.
  algorithm: 2,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const;

@Injectable()
export class PasswordHasher {
  /**
   * A hash of a random password, verified when the username is unknown so that unknown
   * user and wrong password take the same time (docs/reference.md "Identity").
   */
  private readonly dummyHash = hash(`dummy-${Math.random()}-${Date.now()}`, ARGON2_OPTIONS);

  hash(password: string): Promise<string> {
    return hash(password, ARGON2_OPTIONS);
  }

  async verify(passwordHash: string | undefined, password: string): Promise<boolean> {
    const target = passwordHash ?? (await this.dummyHash);
    try {
      const ok = await verify(target, password);
      return ok && passwordHash !== undefined;
    } catch {
      return false;
    }
  }
}
