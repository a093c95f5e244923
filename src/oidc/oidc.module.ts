import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { TeamsModule } from '../teams/teams.module';
import { UsersModule } from '../users/users.module';
import { OidcClientService } from './oidc-client.service';
import { OidcController } from './oidc.controller';
import { OidcIdentitiesRepository } from './oidc-identities.repository';
import { OidcLoginService } from './oidc-login.service';
import { TeamGrants } from './team-grants';

/** Single sign-on with an OpenID Connect identity provider (docs/sso.md). */
@Module({
  imports: [AuthModule, UsersModule, TeamsModule],
  controllers: [OidcController],
  providers: [OidcClientService, OidcLoginService, OidcIdentitiesRepository, TeamGrants],
})
export class OidcModule {}
