import { Global, Module } from '@nestjs/common';
import { CookieService } from './cookie.service';
import { CsrfService } from './csrf.service';

@Global()
@Module({ providers: [CookieService, CsrfService], exports: [CookieService, CsrfService] })
export class CookieModule {}
