import { ApiProperty } from '../../http/openapi-decorators';
import { IsString, MaxLength } from '../../common/class-validator';
import { NoControlCharacters } from '../../common/no-control-characters.validator';

export class SessionLoginDto {
  @ApiProperty({ example: 'alice' })
  @IsString()
  @NoControlCharacters()
  @MaxLength(64)
  username!: string;

  @ApiProperty({ example: 'correct horse battery staple', format: 'password' })
  @IsString()
  @NoControlCharacters()
  @MaxLength(1024)
  password!: string;
}

export class SessionUserDto {
  @ApiProperty() id!: string;
  @ApiProperty() username!: string;
  @ApiProperty({ example: ['user'] }) roles!: string[];
}

export class SessionDto {
  @ApiProperty({ type: SessionUserDto }) user!: SessionUserDto;
  @ApiProperty({
    description:
      'Send it back in X-CSRF-Token on every unsafe request (also in the kw_csrf cookie)',
  })
  csrfToken!: string;
}
