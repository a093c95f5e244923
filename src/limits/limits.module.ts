import { Global, Module } from '@nestjs/common';
import { LimiterFactory } from './limiter.factory';

@Global()
@Module({ providers: [LimiterFactory], exports: [LimiterFactory] })
export class LimitsModule {}
