import { Module } from '@nestjs/common';
import { TeamsModule } from '../teams/teams.module';
import { UsageModule } from '../usage/usage.module';
import { ChatCompletionsController } from './chat-completions.controller';
import { ChatLimitsService } from './chat-limits.service';
import { ChatController } from './chat.controller';
import { ChatService } from './chat.service';
import { OpenAIClientService } from './openai-client.service';

/**
 * The OpenAI proxy (docs/reference.md "Chat"): REST and OpenAI-compatible routes, limits,
 * streaming.
 */
@Module({
  imports: [UsageModule, TeamsModule],
  controllers: [ChatController, ChatCompletionsController],
  providers: [OpenAIClientService, ChatService, ChatLimitsService],
  // The Responses and embeddings routes reuse the upstream client and the limits.
  exports: [OpenAIClientService, ChatLimitsService],
})
export class ChatModule {}
