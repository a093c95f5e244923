import type { ChatMessage, ImagePart } from './dto/chat-completion-request.schema';

/** An image part of the request and where it sits, for error messages (`param`). */
export interface ImagePartRef {
  /** `messages[2].content[1]` */
  readonly param: string;
  readonly part: ImagePart;
}

/** Every `image_url` part of the (schema-checked) messages, in order. */
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

/**
 * The one place the image policy of a chat request is decided, called by the sanitizer with
 * every image part once the schema has checked their shape (a non-empty `url`, a known
 * `detail`). Throws a `DomainError` naming the part to refuse the request. URL rules (which
 * schemes and hosts), the image count and per-image reservations belong here.
 */
export function checkImageParts(images: readonly ImagePartRef[]): void {
  // Shape checks live in the schema; no further policy yet.
  void images;
}
