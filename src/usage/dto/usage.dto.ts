import { ApiProperty, ApiPropertyOptional } from '../../http/openapi-decorators';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from '../../common/class-validator';

export class UsageQueryDto {
  @ApiPropertyOptional({
    minimum: 1,
    maximum: 366,
    default: 30,
    description: 'UTC days back, today included',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(366)
  days?: number;
}

export class AdminUsageQueryDto extends UsageQueryDto {
  @ApiPropertyOptional({
    description: 'Only this user (a user id, or `issuer#sub` for external principals)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  userId?: string;
}

export class UsageItemDto {
  @ApiPropertyOptional({ description: 'Admin view only' }) userId?: string;
  @ApiProperty({ example: '2026-11-22' }) day!: string;
  @ApiProperty({ example: 'gpt-4o-mini' }) model!: string;
  @ApiProperty() promptTokens!: number;
  @ApiProperty({ description: 'Of promptTokens, those served from the upstream prompt cache' })
  cachedTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiProperty({ description: 'Of completionTokens, the reasoning tokens' })
  reasoningTokens!: number;
  @ApiProperty() totalTokens!: number;
  @ApiProperty() requests!: number;
  @ApiProperty({ description: 'Cost in USD (price table; exact sum of nano-USD costs)' })
  costUsd!: number;
}

export class UsageTotalsDto {
  @ApiProperty() promptTokens!: number;
  @ApiProperty({ description: 'Of promptTokens, those served from the upstream prompt cache' })
  cachedTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiProperty({ description: 'Of completionTokens, the reasoning tokens' })
  reasoningTokens!: number;
  @ApiProperty() totalTokens!: number;
  @ApiProperty() requests!: number;
  @ApiProperty({ description: 'Cost in USD (price table; exact sum of nano-USD costs)' })
  costUsd!: number;
}

export class UsageLimitsDto {
  @ApiProperty({ description: 'Requests per minute' }) requestsPerMinute!: number;
  @ApiProperty({ description: 'Tokens per UTC day' }) dailyTokens!: number;
  @ApiProperty({ description: 'Tokens settled today (requests in flight not included)' })
  usedToday!: number;
}

export class UsageReportDto {
  @ApiProperty({ example: '2026-10-24', description: 'First UTC day covered' }) since!: string;
  @ApiProperty({ example: '2026-11-22', description: 'Last UTC day covered (today)' })
  until!: string;
  @ApiProperty({ type: [UsageItemDto], description: 'Newest day first' }) items!: UsageItemDto[];
  @ApiProperty({ type: UsageTotalsDto }) totals!: UsageTotalsDto;
  @ApiPropertyOptional({ type: UsageLimitsDto, description: 'Own view only' })
  limits?: UsageLimitsDto;
}
