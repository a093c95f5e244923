import { ApiProperty, ApiPropertyOptional } from '../../http/openapi-decorators';
import { IsOptional, IsString, MaxLength } from '../../common/class-validator';
import { NoControlCharacters } from '../../common/no-control-characters.validator';

/** RFC 6749 §4.3 / §6 token request, as JSON or application/x-www-form-urlencoded. */
export class TokenRequestDto {
  @ApiProperty({
    enum: ['password', 'refresh_token', 'client_credentials'],
    example: 'password',
  })
  @IsString()
  @NoControlCharacters()
  @MaxLength(64)
  grant_type!: string;

  @ApiPropertyOptional({ example: 'alice' })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(64)
  username?: string;

  @ApiPropertyOptional({ example: 'correct horse battery staple', format: 'password' })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(1024)
  password?: string;

  @ApiPropertyOptional({ description: 'For grant_type=refresh_token' })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(512)
  refresh_token?: string;

  @ApiPropertyOptional({
    description:
      'client_credentials: space-separated subset of the client’s scopes (default: all of them). ' +
      'Other grants: accepted and ignored (scopes follow the user’s roles).',
  })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  scope?: string;

  @ApiPropertyOptional({
    description:
      'client_credentials with client_secret_post: the client id. Other grants: accepted and ignored (public clients, e.g. Swagger UI).',
  })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  client_id?: string;

  @ApiPropertyOptional({
    description:
      'client_credentials with client_secret_post (or use Authorization: Basic). Ignored by other grants.',
    format: 'password',
  })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  client_secret?: string;

  @ApiPropertyOptional({
    description:
      'RFC 8707: one of JWT_RESOURCES. The access token’s `aud` is then that service alone, and Keyward’s own routes refuse it. Any grant.',
    example: 'https://billing.corp.example',
  })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(512)
  resource?: string;
}

export class TokenResponseDto {
  @ApiProperty({ example: 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9...' })
  access_token!: string;
  @ApiProperty({ example: 'Bearer' })
  token_type!: 'Bearer';
  @ApiProperty({ example: 600 })
  expires_in!: number;
  @ApiPropertyOptional({ example: 'bq3s0k...', description: 'Absent for client_credentials' })
  refresh_token?: string;
  @ApiProperty({ example: 'chat usage keys' })
  scope!: string;
}

/** RFC 7009 §2.1 */
export class RevokeRequestDto {
  @ApiProperty({ description: 'A refresh token, an access token or a kw_ API key' })
  @IsString()
  @NoControlCharacters()
  @MaxLength(8192)
  token!: string;

  @ApiPropertyOptional({ enum: ['refresh_token', 'access_token'] })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(64)
  token_type_hint?: string;

  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  client_id?: string;
}

/** RFC 7662 §2.1; the caller authenticates as a machine client (Basic or in the body). */
export class IntrospectRequestDto {
  @ApiProperty({ description: 'The access token to check' })
  @IsString()
  @NoControlCharacters()
  @MaxLength(8192)
  token!: string;

  @ApiPropertyOptional({ enum: ['access_token', 'refresh_token'] })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(64)
  token_type_hint?: string;

  @ApiPropertyOptional({ description: 'client_secret_post' })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  client_id?: string;

  @ApiPropertyOptional({ description: 'client_secret_post', format: 'password' })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  client_secret?: string;
}

export class IntrospectResponseDto {
  @ApiProperty() active!: boolean;
  @ApiPropertyOptional() iss?: string;
  @ApiPropertyOptional({ description: 'User id, or the client id for client_credentials' })
  sub?: string;
  @ApiPropertyOptional({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
  })
  aud?: string | string[];
  @ApiPropertyOptional() exp?: number;
  @ApiPropertyOptional() iat?: number;
  @ApiPropertyOptional() jti?: string;
  @ApiPropertyOptional({ example: 'chat usage' }) scope?: string;
  @ApiPropertyOptional({ description: 'Only for client_credentials tokens' }) client_id?: string;
  @ApiPropertyOptional() username?: string;
  @ApiPropertyOptional({ example: 'Bearer' }) token_type?: 'Bearer';
}
