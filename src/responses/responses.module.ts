import { Module } from '@nestjs/common';
import { ChatModule } from '../chat/chat.module';
import { UsageModule } from '../usage/usage.module';
import { ResponseOwnersRepository } from './response-owners.repository';
import { ResponsesController } from './responses.controller';
import { ResponsesService } from './responses.service';

/** `/v1/responses`: the Responses API on chat's upstream client, limits and budgets. */
@Module({
  imports: [ChatModule, UsageModule],
  controllers: [ResponsesController],
  providers: [ResponsesService, ResponseOwnersRepository],
})
export class ResponsesModule {}
