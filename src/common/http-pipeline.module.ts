import { Global, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AllExceptionsFilter } from './all-exceptions.filter';
import { ErrorResponder } from './error-responder';
import { StrictValidationPipe } from './strict-validation.pipe';

/**
 * The global request pipeline as providers, so `Test.createTestingModule({ imports:
 * [AppModule] })` runs exactly what production runs. The auth guard joins it from AuthModule.
 */
@Global()
@Module({
  providers: [
    ErrorResponder,
    { provide: APP_PIPE, useClass: StrictValidationPipe },
    { provide: APP_FILTER, useClass: AllExceptionsFilter },
  ],
  exports: [ErrorResponder],
})
export class HttpPipelineModule {}
