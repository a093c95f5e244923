import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';
import { NoControlCharacters } from '../../common/no-control-characters.validator';

/** RFC 6749 §4.3 / §6 token request, as JSON or application/x-www-form-urlencoded. */
export class TokenRequestDto {
  @ApiProperty({ enum: ['password', 'refresh_token'], example: 'password' })
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

  @ApiPropertyOptional({ description: 'Accepted and ignored: scopes follow the user’s roles' })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  scope?: string;

  @ApiPropertyOptional({ description: 'Accepted and ignored (public clients, e.g. Swagger UI)' })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  client_id?: string;

  @ApiPropertyOptional({ description: 'Accepted and ignored' })
  @IsOptional()
  @IsString()
  @NoControlCharacters()
  @MaxLength(256)
  client_secret?: string;
}

export class TokenResponseDto {
  @ApiProperty({ example: 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ii4uLiJ9...' })
  access_token!: string;
  @ApiProperty({ example: 'Bearer' })
  token_type!: 'Bearer';
  @ApiProperty({ example: 600 })
  expires_in!: number;
  @ApiProperty({ example: 'bq3s0k...' })
  refresh_token!: string;
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
