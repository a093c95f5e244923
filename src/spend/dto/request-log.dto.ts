import { ApiProperty, ApiPropertyOptional } from '../../http/openapi-decorators';
import { Type } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
} from '../../common/class-validator';
import { NoControlCharacters } from '../../common/no-control-characters.validator';

/** `status` values a call can end with besides an HTTP status. */
export const CALL_END_STATUSES = ['client_closed', 'upstream_error', 'upstream_timeout'] as const;

export class RequestLogFilterDto {
  @ApiPropertyOptional({ description: 'A user id (or `issuer#sub` for external principals)' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @NoControlCharacters()
  userId?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  keyId?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  teamId?: string;

  @ApiPropertyOptional({ example: 'gpt-4o-mini' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @NoControlCharacters()
  model?: string;

  @ApiPropertyOptional({
    description:
      'An HTTP status (`200`, `502`) or `client_closed`, `upstream_error`, `upstream_timeout`',
  })
  @IsOptional()
  @Matches(/^(?:[1-5]\d\d|client_closed|upstream_error|upstream_timeout)$/, {
    message: 'status must be an HTTP status or client_closed, upstream_error, upstream_timeout',
  })
  status?: string;

  @ApiPropertyOptional({ description: 'Calls that started at or after this instant (ISO 8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({ description: 'Calls that started before this instant (ISO 8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;
}

export class RequestLogQueryDto extends RequestLogFilterDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: "The previous page's `nextCursor`" })
  @IsOptional()
  @Matches(/^[1-9]\d{0,17}$/, { message: 'cursor must be a nextCursor from a previous page' })
  cursor?: string;
}

export class CallContentDto {
  @ApiProperty({ description: 'The prompt as sent (redacted)' }) prompt!: string;
  @ApiProperty({ description: 'The completion text (redacted)' }) completion!: string;
}

export class RequestRowDto {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'When the request arrived (ISO 8601)' }) time!: string;
  @ApiProperty({ description: 'The request id (X-Request-Id)' }) requestId!: string;
  @ApiProperty() userId!: string;
  @ApiPropertyOptional({ description: 'Absent for external principals' }) username?: string;
  @ApiProperty({ nullable: true, type: String }) keyId!: string | null;
  @ApiProperty({ nullable: true, type: String }) teamId!: string | null;
  @ApiProperty({ example: '/v1/chat/completions' }) route!: string;
  @ApiProperty() model!: string;
  @ApiProperty({ example: '200' }) status!: string;
  @ApiProperty() promptTokens!: number;
  @ApiProperty() cachedTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiProperty() reasoningTokens!: number;
  @ApiProperty() costUsd!: number;
  @ApiProperty() keywardMs!: number;
  @ApiProperty() upstreamMs!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'Streams only' })
  ttftMs!: number | null;
  @ApiProperty() stream!: boolean;
  @ApiPropertyOptional({ type: CallContentDto, description: 'Only when the team logs content' })
  content?: CallContentDto;
}

export class RequestLogPageDto {
  @ApiProperty({ type: [RequestRowDto], description: 'Newest first' }) requests!: RequestRowDto[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as `cursor` for the next page' })
  nextCursor!: string | null;
}

export const SPEND_GROUPS = ['team', 'user', 'model', 'key'] as const;
export type SpendGroup = (typeof SPEND_GROUPS)[number];
export const SPEND_BUCKETS = ['day', 'hour'] as const;
export type SpendBucket = (typeof SPEND_BUCKETS)[number];

export class SpendQueryDto {
  @ApiPropertyOptional({ enum: SPEND_GROUPS, default: 'team' })
  @IsOptional()
  @IsIn(SPEND_GROUPS)
  groupBy?: SpendGroup;

  @ApiPropertyOptional({ enum: SPEND_BUCKETS, default: 'day' })
  @IsOptional()
  @IsIn(SPEND_BUCKETS)
  bucket?: SpendBucket;

  @ApiPropertyOptional({
    description: 'Start (ISO 8601); default: 30 days (day buckets) or 24 hours (hour) before until',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({ description: 'End (ISO 8601, exclusive); default: now' })
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;
}

export class SpendPointDto {
  @ApiProperty({ description: 'Start of the bucket (ISO 8601, UTC)' }) t!: string;
  @ApiProperty() requests!: number;
  @ApiProperty() promptTokens!: number;
  @ApiProperty() cachedTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiProperty() reasoningTokens!: number;
  @ApiProperty() costUsd!: number;
}

export class SpendSeriesDto {
  @ApiProperty({ description: 'Team, user, key id or model; `none` for calls without one' })
  key!: string;
  @ApiProperty({ description: 'Team name, username, key name or model' }) label!: string;
  @ApiProperty({ type: [SpendPointDto] }) points!: SpendPointDto[];
}

export class SpendReportDto {
  @ApiProperty({ enum: SPEND_GROUPS }) groupBy!: SpendGroup;
  @ApiProperty({ enum: SPEND_BUCKETS }) bucket!: SpendBucket;
  @ApiProperty() since!: string;
  @ApiProperty() until!: string;
  @ApiProperty({ type: [SpendSeriesDto] }) series!: SpendSeriesDto[];
}
