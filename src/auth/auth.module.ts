import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { TeamsModule } from '../teams/teams.module';
import { UsageModule } from '../usage/usage.module';
import { UsersModule } from '../users/users.module';
import { AdminKeysController } from './admin-keys.controller';
import { TeamKeysController } from './team-keys.controller';
import { AccessTokenService } from './access-token.service';
import { ApiKeyStrategy } from './api-key.strategy';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysRepository } from './api-keys.repository';
import { ApiKeysService } from './api-keys.service';
import { AuthController } from './auth.controller';
import { AuthenticationGuard } from './authentication.guard';
import { CredentialReader } from './credential-reader';
import { IntrospectionService } from './introspection.service';
import { JwtStrategy } from './jwt.strategy';
import { MachineClientsRepository } from './machine-clients.repository';
import { MachineClientsService } from './machine-clients.service';
import { PasswordChangeService } from './password-change.service';
import { PassportAuthenticator } from './passport-authenticator';
import { PassportNamesModule } from './passport-names.module';
import { RequestAuthorizer } from './request-authorizer';
import { LoginThrottleService } from './login-throttle.service';
import { LoginService } from './login.service';
import { PublicAuthLimitService } from './public-auth-limit.service';
import { RevocationService } from './revocation.service';
import { SessionController } from './session.controller';
import { SessionCookies } from './session-cookies';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';
import { TokenController } from './token.controller';
import { TrustedIssuersService } from './trusted-issuers.service';
import { VerifiedTokenCache } from './verified-token-cache';
import { WellKnownController } from './well-known.controller';

@Module({
  imports: [
    UsersModule,
    TeamsModule,
    UsageModule,
    PassportNamesModule,
    PassportModule,
    JwtModule.register({}),
  ],
  controllers: [
    TokenController,
    AuthController,
    SessionController,
    ApiKeysController,
    TeamKeysController,
    AdminKeysController,
    WellKnownController,
  ],
  providers: [
    // Deny by default: every route needs a credential unless marked @Public().
    { provide: APP_GUARD, useClass: AuthenticationGuard },
    // The guard's decision, also asked by routes outside Nest's router (docs/runtime.md).
    RequestAuthorizer,
    AccessTokenService,
    SessionsRepository,
    SessionsService,
    SessionCookies,
    RevocationService,
    LoginService,
    LoginThrottleService,
    PublicAuthLimitService,
    ApiKeysRepository,
    ApiKeysService,
    TrustedIssuersService,
    VerifiedTokenCache,
    CredentialReader,
    PassportAuthenticator,
    JwtStrategy,
    ApiKeyStrategy,
    MachineClientsRepository,
    MachineClientsService,
    IntrospectionService,
    PasswordChangeService,
  ],
  exports: [
    SessionsService,
    SessionCookies,
    LoginService,
    AccessTokenService,
    PublicAuthLimitService,
    MachineClientsService,
  ],
})
export class AuthModule {}
