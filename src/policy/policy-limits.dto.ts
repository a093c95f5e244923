import { ApiProperty, ApiPropertyOptional } from '../http/openapi-decorators';
import {
  ArrayMaxSize,
  IsArray,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from '../common/class-validator';

/** The limit fields a key or a team takes (docs/policy.md); null: no limit of its own. */
export class PolicyLimitsDto {
  @ApiPropertyOptional({
    nullable: true,
    type: Number,
    example: 60,
    description: 'Requests per minute',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1_000_000)
  rpm?: number | null;

  @ApiPropertyOptional({
    nullable: true,
    type: Number,
    example: 500000,
    description: 'Tokens per UTC day',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1e15)
  dailyTokens?: number | null;

  @ApiPropertyOptional({
    nullable: true,
    type: Number,
    example: 10000000,
    description: 'Tokens per UTC calendar month',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1e15)
  monthlyTokens?: number | null;

  @ApiPropertyOptional({
    nullable: true,
    type: Number,
    example: 5,
    description: 'USD per UTC day (priced models only)',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 9 })
  @Min(0)
  @Max(1_000_000)
  dailyUsd?: number | null;

  @ApiPropertyOptional({
    nullable: true,
    type: Number,
    example: 100,
    description: 'USD per UTC calendar month (priced models only)',
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false, maxDecimalPlaces: 9 })
  @Min(0)
  @Max(1_000_000)
  monthlyUsd?: number | null;

  @ApiPropertyOptional({
    nullable: true,
    type: String,
    isArray: true,
    example: ['gpt-4o-mini'],
    description: "Model allowlist, intersected with the server's; null: every model",
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(200, { each: true })
  @Matches(/^[^\p{Cc}\s]+$/u, {
    each: true,
    message: 'models must not contain spaces or control characters',
  })
  models?: string[] | null;
}

/** The limit fields as the API shows them. */
export class PolicyLimitsViewDto {
  @ApiProperty({ nullable: true, type: Number }) rpm!: number | null;
  @ApiProperty({ nullable: true, type: Number }) dailyTokens!: number | null;
  @ApiProperty({ nullable: true, type: Number }) monthlyTokens!: number | null;
  @ApiProperty({ nullable: true, type: Number }) dailyUsd!: number | null;
  @ApiProperty({ nullable: true, type: Number }) monthlyUsd!: number | null;
  @ApiProperty({ nullable: true, type: String, isArray: true }) models!: string[] | null;
}
