import { ApiProperty } from '../../http/openapi-decorators';
import { IsString, MaxLength } from '../../common/class-validator';

export class PasswordChangeDto {
  @ApiProperty({ format: 'password' })
  @IsString()
  @MaxLength(1024)
  currentPassword!: string;

  @ApiProperty({
    format: 'password',
    minLength: 12,
    maxLength: 128,
    description: 'Password policy: 12–128 characters, not a common password',
  })
  @IsString()
  @MaxLength(1024)
  newPassword!: string;
}
