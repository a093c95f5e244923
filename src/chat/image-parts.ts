import type { ChatMessage, ImagePart } from './dto/chat-completion-request.schema';

/** An image part of the request and where it sits, for error messages (`param`). */
export interface ImagePartRef {
  /** `messages[2].content[1]` */
  readonly param: string;
  readonly part: ImagePart;
}

/**
 * Every `image_url` part of the (schema-checked) messages, in order. Their policy (count,
 * URL, reservation) is decided in `image-policy.ts`.
 */
export function imageParts(messages: readonly ChatMessage[]): ImagePartRef[] {
  const found: ImagePartRef[] = [];
  messages.forEach((message, index) => {
    if (message.role !== 'user' || typeof message.content === 'string') return;
    message.content.forEach((part, partIndex) => {
      if (part.type === 'image_url') {
        found.push({ param: `messages[${index}].content[${partIndex}]`, part });
      }
    });
  });
  return found;
}
