import { Module } from '@nestjs/common';
import { ChatModule } from '../chat/chat.module';
import { UsageModule } from '../usage/usage.module';
import { EmbeddingsController } from './embeddings.controller';
import { EmbeddingsService } from './embeddings.service';

/** `/v1/embeddings` on chat's upstream client, limits and budgets. */
@Module({
  imports: [ChatModule, UsageModule],
  controllers: [EmbeddingsController],
  providers: [EmbeddingsService],
})
export class EmbeddingsModule {}
