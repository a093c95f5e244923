import { ApiProperty } from '../http/openapi-decorators';

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
    example: '/api/v1/auth/oidc/end-session',
    description:
      "Where to send the browser so the identity provider's session ends too (a same-origin " +
      'route that redirects to the IdP), or null when the session was not a single sign-on or ' +
      'the IdP offers no logout',
  })
  redirectTo!: string | null;
}
