import { dirname, join } from 'node:path';
import * as ts from 'typescript';
import type { z } from 'zod';
import {
  audioPartSchema,
  chatCompletionRequestSchema,
  customToolCallSchema,
  filePartSchema,
  functionToolCallSchema,
  imagePartSchema,
  MESSAGE_SCHEMAS,
  refusalPartSchema,
  textPartSchema,
} from './chat-completion-request.schema';

/**
 * The allowlist is the SDK's own request types: this reads the pinned `openai` package's
 * declarations with the TypeScript compiler and compares property names, so upgrading the
 * SDK to one with a new request field fails here until Keyward decides what to do with it.
 */
const declarations = join(
  dirname(require.resolve('openai')),
  'resources/chat/completions/completions.d.ts',
);
const program = ts.createProgram([declarations], { skipLibCheck: true, noEmit: true });
const checker = program.getTypeChecker();
const source = program.getSourceFile(declarations)!;

/** The declaration named by a dotted path (`Namespace.Interface`) in the SDK file. */
function findDeclaration(statements: ts.NodeArray<ts.Statement>, path: string[]): ts.Node {
  const [head, ...rest] = path;
  for (const statement of statements) {
    const named = statement as ts.Statement & { name?: ts.Identifier };
    if (named.name?.text !== head) continue;
    if (rest.length === 0 && !ts.isModuleDeclaration(statement)) return statement;
    if (ts.isModuleDeclaration(statement) && statement.body && ts.isModuleBlock(statement.body)) {
      if (rest.length > 0) return findDeclaration(statement.body.statements, rest);
    }
  }
  throw new Error(`${path.join('.')} is not declared by the openai SDK any more`);
}

/** Every property name of an SDK type (all members of a union). */
function sdkKeys(...names: string[]): string[] {
  const keys = new Set<string>();
  for (const name of names) {
    const type = checker.getTypeAtLocation(findDeclaration(source.statements, name.split('.')));
    const members = type.isUnion() ? type.types : [type];
    for (const member of members) {
      for (const property of checker.getPropertiesOfType(member)) keys.add(property.name);
    }
  }
  return [...keys].sort();
}

const ourKeys = (schema: z.ZodObject) => Object.keys(schema.shape).sort();

describe('chatCompletionRequestSchema against the openai SDK’s types', () => {
  it('knows exactly the request fields of ChatCompletionCreateParams', () => {
    const sdk = sdkKeys('ChatCompletionCreateParamsBase');
    expect(sdk.length).toBeGreaterThan(30); // the lookup really found the interface
    expect(ourKeys(chatCompletionRequestSchema)).toEqual(sdk);
  });

  it.each([
    ['developer', ['ChatCompletionDeveloperMessageParam']],
    ['system', ['ChatCompletionSystemMessageParam']],
    ['user', ['ChatCompletionUserMessageParam']],
    // What a client writes, and what the API (and the SDK's parse helpers) returned.
    ['assistant', ['ChatCompletionAssistantMessageParam', 'ParsedChatCompletionMessage']],
    ['tool', ['ChatCompletionToolMessageParam']],
    ['function', ['ChatCompletionFunctionMessageParam']],
  ] as const)('knows exactly the fields of a %s message', (role, names) => {
    expect(ourKeys(MESSAGE_SCHEMAS[role])).toEqual(sdkKeys(...names));
  });

  it.each([
    ['text', textPartSchema, 'ChatCompletionContentPartText'],
    ['image_url', imagePartSchema, 'ChatCompletionContentPartImage'],
    ['input_audio', audioPartSchema, 'ChatCompletionContentPartInputAudio'],
    ['file', filePartSchema, 'ChatCompletionContentPart.File'],
    ['refusal', refusalPartSchema, 'ChatCompletionContentPartRefusal'],
    ['function tool call', functionToolCallSchema, 'ChatCompletionMessageFunctionToolCall'],
    ['custom tool call', customToolCallSchema, 'ChatCompletionMessageCustomToolCall'],
  ] as const)('knows exactly the fields of a %s part', (_name, schema, sdk) => {
    expect(ourKeys(schema)).toEqual(sdkKeys(sdk));
  });

  it('knows every content part type the SDK defines for user messages', () => {
    const type = checker.getTypeAtLocation(
      findDeclaration(source.statements, ['ChatCompletionContentPart']),
    );
    const kinds = (type.isUnion() ? type.types : [type]).map((member) => {
      const typeProperty = checker.getPropertyOfType(member, 'type')!;
      return checker.typeToString(checker.getTypeOfSymbol(typeProperty)).replace(/"/g, '');
    });
    const ours = [textPartSchema, imagePartSchema, audioPartSchema, filePartSchema].map(
      (schema) => schema.shape.type.value,
    );
    expect(ours.sort()).toEqual(kinds.sort());
  });
});
