import { ApiProperty } from '@nestjs/swagger';

export class OidcConfigDto {
  @ApiProperty({ description: 'Whether single sign-on is configured (OIDC_ISSUER)' })
  enabled!: boolean;

  @ApiProperty({ example: 'Okta', description: 'OIDC_DISPLAY_NAME: "Sign in with <displayName>"' })
  displayName!: string;
}

export class OidcLogoutDto {
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      "The identity provider's end-session URL (RP-initiated logout) to send the browser to, " +
      'or null when the session was not a single sign-on or the IdP offers none',
  })
  endSessionUrl!: string | null;
}
