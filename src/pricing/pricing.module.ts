import { Global, Module } from '@nestjs/common';
import { PricingService } from './pricing.service';

/** The price table, for budgets, the request log and usage reports alike. */
@Global()
@Module({ providers: [PricingService], exports: [PricingService] })
export class PricingModule {}
