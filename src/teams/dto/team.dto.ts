import { ApiProperty, ApiPropertyOptional } from '../../http/openapi-decorators';
import {
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
  MinLength,
} from '../../common/class-validator';
import { TEAM_ROLES, type TeamRole } from '../../database/schema';
import { PolicyLimitsDto, PolicyLimitsViewDto } from '../../policy/policy-limits.dto';

export class CreateTeamDto extends PolicyLimitsDto {
  @ApiProperty({ example: 'data', minLength: 1, maxLength: 100 })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @Matches(/^[^\p{Cc}]+$/u, { message: 'name must not contain control characters' })
  name!: string;

  @ApiPropertyOptional({
    default: false,
    description: "Opt-in: prompt and completion text of this team's calls in the request log",
  })
  @IsOptional()
  @IsBoolean()
  logContent?: boolean;
}

export class UpdateTeamDto extends PolicyLimitsDto {
  @ApiPropertyOptional({ example: 'data', minLength: 1, maxLength: 100 })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @Matches(/^[^\p{Cc}]+$/u, { message: 'name must not contain control characters' })
  name?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  logContent?: boolean;
}

export class TeamDto extends PolicyLimitsViewDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() logContent!: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class MyTeamDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ['member', 'team_admin', 'admin'] }) role!: TeamRole | 'admin';
}

export class PutMemberDto {
  @ApiProperty({ enum: TEAM_ROLES })
  @IsIn(TEAM_ROLES)
  role!: TeamRole;
}

/** A member to add by id or by username: exactly one of the two. */
export class AddMemberDto extends PutMemberDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'The user to add (or username)' })
  @IsOptional()
  @IsUUID()
  userId?: string;

  @ApiPropertyOptional({
    example: 'bob',
    pattern: '^[A-Za-z0-9_.@-]{3,64}$',
    description: 'The user to add, by name in any case (or userId)',
  })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_.@-]{3,64}$/, {
    message: 'username must be 3–64 characters of A-Z a-z 0-9 _ . @ -',
  })
  username?: string;
}

export class TeamMemberDto {
  @ApiProperty() userId!: string;
  @ApiProperty() username!: string;
  @ApiProperty({ enum: TEAM_ROLES }) role!: TeamRole;
  @ApiProperty({ format: 'date-time' }) addedAt!: string;
}
