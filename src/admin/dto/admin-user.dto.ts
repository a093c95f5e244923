import { ApiProperty, ApiPropertyOptional } from '../../http/openapi-decorators';
import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from '../../common/class-validator';
import { ROLES, type Role } from '../../database/schema';

export class CreateUserDto {
  @ApiProperty({ example: 'bob', pattern: '^[A-Za-z0-9_.@-]{3,64}$' })
  @IsString()
  @Matches(/^[A-Za-z0-9_.@-]{3,64}$/, {
    message: 'username must be 3–64 characters of A-Z a-z 0-9 _ . @ -',
  })
  username!: string;

  @ApiProperty({
    example: 'a long unusual passphrase',
    minLength: 12,
    maxLength: 128,
    format: 'password',
  })
  @IsString()
  @MaxLength(1024)
  password!: string;

  @ApiPropertyOptional({ enum: ROLES, isArray: true, default: ['user'] })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(ROLES, { each: true })
  roles?: Role[];
}

export class UpdateUserDto {
  @ApiPropertyOptional({ enum: ROLES, isArray: true })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(ROLES, { each: true })
  roles?: Role[];

  @ApiPropertyOptional({ description: 'Disabling ends every session of the user' })
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;

  @ApiPropertyOptional({
    format: 'password',
    description: 'Changing it ends every session of the user',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  password?: string;

  @ApiPropertyOptional({
    nullable: true,
    type: Number,
    example: 120,
    description: 'Requests per minute; null: CHAT_RPM',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  chatRpm?: number | null;

  @ApiPropertyOptional({
    nullable: true,
    type: Number,
    example: 500000,
    description: 'Tokens per day; null: CHAT_DAILY_TOKENS',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  chatDailyTokens?: number | null;
}

export class AdminUserDto {
  @ApiProperty() id!: string;
  @ApiProperty() username!: string;
  @ApiProperty({ enum: ROLES, isArray: true }) roles!: Role[];
  @ApiProperty() disabled!: boolean;
  @ApiProperty({ nullable: true, type: Number }) chatRpm!: number | null;
  @ApiProperty({ nullable: true, type: Number }) chatDailyTokens!: number | null;
  @ApiProperty({
    description:
      'The service user of a machine client (/api/v1/admin/clients): its limits and usage are the client’s',
  })
  machine!: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export const MACHINE_FILTERS = ['exclude', 'include', 'only'] as const;

export class AdminUsersQueryDto {
  @ApiPropertyOptional({
    enum: MACHINE_FILTERS,
    default: 'exclude',
    description:
      'Service users of machine clients (`machine: true`): left out by default, listed with the people (`include`), or alone (`only`)',
  })
  @IsOptional()
  @IsIn(MACHINE_FILTERS)
  machine?: (typeof MACHINE_FILTERS)[number];
}

export class AuditQueryDto {
  @ApiPropertyOptional({ default: 100, minimum: 1, maximum: 1000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: 'Rows with an id below this (paging backwards)' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  before?: number;

  @ApiPropertyOptional({ example: 'login.failed' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  event?: string;
}
