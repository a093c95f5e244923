import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DomainError } from '../common/domain-error';
import type { KeywardConfig } from '../config/configuration';
import { UsersService } from './users.service';

/** `BOOTSTRAP_ADMIN_*`: creates the first admin on start when no user exists yet. */
@Injectable()
export class BootstrapAdminService implements OnApplicationBootstrap {
  private readonly logger = new Logger(BootstrapAdminService.name);

  constructor(
    private readonly users: UsersService,
    private readonly config: ConfigService<KeywardConfig, true>,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const admin = this.config.get('auth', { infer: true }).bootstrapAdmin;
    if (!admin || (await this.users.count()) > 0) return;
    try {
      const user = await this.users.create({ ...admin, roles: ['admin'] });
      this.logger.log(`Created bootstrap admin "${user.username}"`);
    } catch (error) {
      // Several instances starting together: another one created it first.
      if (error instanceof DomainError && error.code === 'conflict') return;
      throw error;
    }
  }
}
