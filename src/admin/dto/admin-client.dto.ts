import { ApiProperty } from '../../http/openapi-decorators';
import {
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsString,
  Matches,
  MaxLength,
} from '../../common/class-validator';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../database/schema';

export class CreateClientDto {
  @ApiProperty({ example: 'billing-service', maxLength: 100 })
  @IsString()
  @MaxLength(100)
  @Matches(/^[\p{L}\p{N} _.:@-]+$/u, {
    message: 'name may hold letters, digits, spaces and _ . : @ -',
  })
  name!: string;

  @ApiProperty({ enum: API_KEY_SCOPES, isArray: true, example: ['chat'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayUnique()
  @IsIn(API_KEY_SCOPES, { each: true })
  scopes!: ApiKeyScope[];
}

export class UpdateClientDto {
  @ApiProperty({ description: 'Disabling ends the client’s live tokens at once' })
  @IsBoolean()
  disabled!: boolean;
}

export class AdminClientDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({
    format: 'uuid',
    description: 'The OAuth2 client_id (the same value as id), and the `sub` of its tokens',
  })
  clientId!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: API_KEY_SCOPES, isArray: true }) scopes!: ApiKeyScope[];
  @ApiProperty() disabled!: boolean;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) secretRotatedAt!:
    string | null;
}

export class AdminClientWithSecretDto extends AdminClientDto {
  @ApiProperty({
    example: 'kwcs_...',
    description: 'Shown only in this response; stored as a hash',
  })
  clientSecret!: string;
}
