import { ApiProperty } from '../../http/openapi-decorators';

export class MeDto {
  @ApiProperty({ example: '6f1c2f8e-5b7a-4d8e-9a51-2f0c7e9b1a10' })
  id!: string;
  @ApiProperty({ example: 'alice' })
  username!: string;
  @ApiProperty({ example: ['user'] })
  roles!: string[];
  @ApiProperty({ enum: ['jwt', 'cookie', 'api_key', 'external'], example: 'jwt' })
  authMethod!: string;
}
