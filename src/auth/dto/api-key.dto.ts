import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '../../http/openapi-decorators';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsDateString,
  IsUUID,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from '../../common/class-validator';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../database/schema';
import { PolicyLimitsDto, PolicyLimitsViewDto } from '../../policy/policy-limits.dto';

/**
 * A key's name, the same rules at creation (required) and in an update (optional). The
 * validators are listed bottom-up (the order stacked decorators apply in), so their errors
 * come in the order they always had.
 */
function KeyName({ required }: { required: boolean }): PropertyDecorator {
  const doc = { example: 'laptop script', minLength: 1, maxLength: 100 };
  return applyDecorators(
    Matches(/^[^\p{Cc}]+$/u, { message: 'name must not contain control characters' }),
    MaxLength(100),
    MinLength(1),
    IsString(),
    ...(required ? [ApiProperty(doc)] : [IsOptional(), ApiPropertyOptional(doc)]),
  );
}

/** The client address ranges a key is accepted from, at creation and in an update. */
function AllowedCidrs(): PropertyDecorator {
  return applyDecorators(
    MaxLength(64, { each: true }),
    IsString({ each: true }),
    ArrayMaxSize(100),
    IsArray(),
    IsOptional(),
    ApiPropertyOptional({
      nullable: true,
      type: String,
      isArray: true,
      example: ['10.0.0.0/8', '2001:db8::/32'],
      description:
        'Client address ranges (IPv4/IPv6 CIDR or single addresses) the key is accepted from; other addresses get 403. Null: anywhere',
    }),
  );
}

export class CreateApiKeyDto extends PolicyLimitsDto {
  @KeyName({ required: true })
  name!: string;

  @ApiPropertyOptional({ enum: API_KEY_SCOPES, isArray: true, default: ['chat', 'usage'] })
  @IsOptional()
  @IsArray()
  @ArrayUnique()
  @IsIn(API_KEY_SCOPES, { each: true })
  scopes?: ApiKeyScope[];

  @ApiPropertyOptional({
    example: 90,
    minimum: 1,
    maximum: 3650,
    description: 'Unset: never expires',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3650)
  expiresInDays?: number;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'Exact expiry (instead of expiresInDays); must be in the future',
  })
  @IsOptional()
  @IsDateString({ strict: true })
  expiresAt?: string;

  @ApiPropertyOptional({
    format: 'uuid',
    description: "A team key: the caller must be an admin or that team's team_admin",
  })
  @IsOptional()
  @IsUUID()
  teamId?: string;

  @AllowedCidrs()
  allowedCidrs?: string[] | null;
}

/** The longest grace an old secret may keep after a rotation: a week. */
const MAX_ROTATION_GRACE_SECONDS = 7 * 86400;

export class RotateApiKeyDto {
  @ApiPropertyOptional({
    minimum: 0,
    maximum: MAX_ROTATION_GRACE_SECONDS,
    description: 'How long the old secret keeps working; unset or 0: refused at once',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_ROTATION_GRACE_SECONDS)
  graceSeconds?: number;
}

/**
 * A key's name and policy, validated exactly as at creation; absent fields stay as they are,
 * null removes a limit. Scopes, expiry and team are fixed at creation. Written out rather
 * than `PartialType(OmitType(CreateApiKeyDto, ...))`: those load class-validator's index
 * (src/common/class-validator.ts).
 */
export class UpdateApiKeyDto extends PolicyLimitsDto {
  @KeyName({ required: false })
  name?: string;

  @AllowedCidrs()
  allowedCidrs?: string[] | null;
}

export class AdminUpdateApiKeyDto extends UpdateApiKeyDto {
  @ApiPropertyOptional({ description: 'Disabled keys are refused until enabled again' })
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;
}

export class AdminKeysQueryDto {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  userId?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  teamId?: string;
}

export class KeySpendDto {
  @ApiProperty() todayTokens!: number;
  @ApiProperty() monthTokens!: number;
  @ApiProperty({ description: 'USD (UTC day)' }) todayUsd!: number;
  @ApiProperty({ description: 'USD (UTC calendar month)' }) monthUsd!: number;
}

export class ApiKeyDto extends PolicyLimitsViewDto {
  @ApiProperty({ example: '0b8f6a57-3f5e-4d7e-b1f4-1c5a0d9e2b77' })
  id!: string;
  @ApiProperty({ example: 'laptop script' })
  name!: string;
  @ApiProperty({ example: 'kw_Zq3x9Tb', description: 'First characters, to tell keys apart' })
  prefix!: string;
  @ApiProperty({ enum: API_KEY_SCOPES, isArray: true })
  scopes!: ApiKeyScope[];
  @ApiProperty({ nullable: true, type: String, format: 'uuid', description: 'Team key: its team' })
  teamId!: string | null;
  @ApiProperty({ nullable: true, type: String, isArray: true })
  allowedCidrs!: string[] | null;
  @ApiProperty()
  disabled!: boolean;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' })
  expiresAt!: string | null;
  @ApiProperty({ nullable: true, type: String, format: 'date-time' })
  lastUsedAt!: string | null;
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;
  @ApiProperty({ type: KeySpendDto })
  spend!: KeySpendDto;
}

export class AdminApiKeyDto extends ApiKeyDto {
  @ApiProperty() userId!: string;
  @ApiProperty() username!: string;
}

export class CreatedApiKeyDto extends ApiKeyDto {
  @ApiProperty({ example: 'kw_Zq3x9TbF2...', description: 'Shown once; store it now' })
  key!: string;
}
