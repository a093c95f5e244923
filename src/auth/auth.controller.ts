import { Body, Controller, Get, Header, HttpCode, Post, Req } from '@nestjs/common';
import {
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnprocessableEntityResponse,
} from '../http/openapi-decorators';
import type { FastifyRequest } from 'fastify';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/domain-error';
import { AUTH_PATH } from './auth-paths';
import { AnyScope, CurrentPrincipal, RequireScopes } from './auth.decorators';
import { MeDto } from './dto/me.dto';
import { PasswordChangeDto } from './dto/password-change.dto';
import { PasswordChangeService } from './password-change.service';
import type { Principal } from './principal';
import { SessionsService } from './sessions.service';

@ApiTags('auth')
@Controller(AUTH_PATH)
export class AuthController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
    private readonly passwords: PasswordChangeService,
  ) {}

  @Post('password')
  // A session's own account management: API keys and machine clients have no `keys` scope.
  @RequireScopes('keys')
  @HttpCode(204)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary: 'Change your own password (local users)',
    description:
      'Needs the current password, checked under the sign-in lockout rules (a wrong one counts as a failed sign-in). ' +
      'Every other session of the user ends; this one stays. API keys stay valid. A cookie session needs X-CSRF-Token.',
  })
  @ApiNoContentResponse()
  @ApiForbiddenResponse({
    description: 'Wrong current password, or not a local user with a session',
  })
  @ApiUnprocessableEntityResponse({ description: 'The new password fails the password policy' })
  @ApiTooManyRequestsResponse({ description: 'Locked out after failed attempts; see Retry-After' })
  async changePassword(
    @Body() body: PasswordChangeDto,
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    await this.passwords.change(principal, body.currentPassword, body.newPassword, request.ip);
  }

  @Get('me')
  @AnyScope()
  @ApiOperation({ summary: 'Who am I: the authenticated principal' })
  @ApiOkResponse({ type: MeDto })
  me(@CurrentPrincipal() principal: Principal): MeDto {
    return {
      id: principal.userId,
      username: principal.username,
      roles: [...principal.roles],
      authMethod: principal.authMethod,
    };
  }

  @Post('logout')
  @RequireScopes('keys')
  @HttpCode(204)
  @ApiOperation({ summary: 'End this session: its refresh token and access tokens stop working' })
  @ApiNoContentResponse()
  async logout(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    if (!principal.sessionId) {
      throw new DomainError(
        'validation_failed',
        'This credential has no session; revoke an API key with DELETE /api/v1/keys/:id.',
      );
    }
    await this.sessions.revoke(principal.sessionId, 'logout');
    await this.audit.record('logout', {
      actorId: principal.userId,
      subject: principal.sessionId,
      ip: request.ip,
    });
  }

  @Post('logout-all')
  // A chat-only key must not be able to end its owner's sessions.
  @RequireScopes('keys')
  @HttpCode(204)
  @ApiOperation({ summary: 'End every session of the user (API keys stay valid)' })
  @ApiNoContentResponse()
  async logoutAll(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    if (principal.authMethod === 'external') {
      throw new DomainError(
        'validation_failed',
        'Sessions of external issuers are managed by that issuer.',
      );
    }
    const count = await this.sessions.revokeAllForUser(principal.userId, 'logout_all');
    await this.audit.record('logout.all', {
      actorId: principal.userId,
      ip: request.ip,
      details: { sessions: count },
    });
  }
}
