import { ApiProperty, ApiPropertyOptional } from '../../http/openapi-decorators';
import { Type } from 'class-transformer';
import {
  ArrayMinSize,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  MaxLength,
  ValidateNested,
} from '../../common/class-validator';

export const SIMPLE_ROLES = ['system', 'user', 'assistant'] as const;

export class SimpleChatMessageDto {
  @ApiProperty({ enum: SIMPLE_ROLES, example: 'user' })
  @IsIn(SIMPLE_ROLES)
  role!: (typeof SIMPLE_ROLES)[number];

  @ApiProperty({ example: 'Say hello in French' })
  @IsString()
  content!: string;
}

/** `POST /api/v1/chat`: the plain REST form of a chat call. */
export class SimpleChatRequestDto {
  @ApiProperty({ type: [SimpleChatMessageDto] })
  @IsArray()
  @ArrayMinSize(1)
  @ValidateNested({ each: true })
  @Type(() => SimpleChatMessageDto)
  messages!: SimpleChatMessageDto[];

  @ApiPropertyOptional({ example: 'gpt-4o-mini', description: 'Default: the first of CHAT_MODELS' })
  @IsOptional()
  @IsString()
  @MaxLength(256)
  model?: string;
}

export class SimpleChatUsageDto {
  @ApiProperty() promptTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiProperty() totalTokens!: number;
}

export class SimpleChatResponseDto {
  @ApiProperty({ example: 'Bonjour !' }) response!: string;
  @ApiProperty({ example: 'gpt-4o-mini' }) model!: string;
  @ApiProperty({ type: SimpleChatUsageDto }) usage!: SimpleChatUsageDto;
}
