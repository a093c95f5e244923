import { DomainError } from '../common/domain-error';
import type { ImagePartRef } from './image-parts';
import {
  DEFAULT_IMAGE_TOKENS,
  imageTokenCost,
  imageUrlProblem,
  reserveImageTokens,
} from './image-policy';

const policy = { maxImages: 3, imageTokens: DEFAULT_IMAGE_TOKENS };
const image = (url: string, detail?: string) => ({
  type: 'image_url',
  image_url: { url, ...(detail ? { detail } : {}) },
});

describe('image policy', () => {
  it('reserves the worst case of the model, dated names included', () => {
    expect(imageTokenCost('gpt-4o-mini', DEFAULT_IMAGE_TOKENS).high).toBe(48_169);
    expect(imageTokenCost('gpt-4o-mini-2024-07-18', DEFAULT_IMAGE_TOKENS).high).toBe(48_169);
    expect(imageTokenCost('gpt-4o-2024-08-06', DEFAULT_IMAGE_TOKENS).high).toBe(1445);
    expect(imageTokenCost('gpt-4.1-nano', DEFAULT_IMAGE_TOKENS).high).toBe(3779);
  });

  it('gives an unknown model the largest cost in the table', () => {
    expect(imageTokenCost('llama-3.2-vision', DEFAULT_IMAGE_TOKENS).high).toBe(48_169);
    // A model that merely starts like a known one is unknown too.
    expect(imageTokenCost('gpt-4omega', DEFAULT_IMAGE_TOKENS).high).toBe(48_169);
    const table = { 'my-model': { high: 9, low: 1 }, other: { high: 70_000, low: 5 } };
    expect(imageTokenCost('unknown', table)).toEqual({ high: 70_000, low: 70_000 });
  });

  const ref = (index: number, url: string, detail?: string) =>
    ({
      param: `messages[${index}].content[0]`,
      part: image(url, detail),
    }) as unknown as ImagePartRef;

  it('sums image parts across messages, low detail at its own price', () => {
    const images = [
      ref(0, 'https://images.example.com/a.png'),
      ref(2, 'data:image/png;base64,iVBORw0KGgo=', 'low'),
    ];
    expect(reserveImageTokens(images, 'gpt-4o-mini', policy)).toBe(48_169 + 2833);
  });

  it('refuses more image parts than CHAT_MAX_IMAGES, naming the first one too many', () => {
    const images = Array.from({ length: 4 }, (_, i) => ref(i, 'https://a.example.com/x'));
    let error: unknown;
    try {
      reserveImageTokens(images, 'gpt-4o', policy);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).detail).toContain('At most 3 images');
  });

  it('names the refused URL as the OpenAI param', () => {
    let error: unknown;
    try {
      reserveImageTokens([ref(1, 'https://127.0.0.1/')], 'gpt-4o', policy);
    } catch (caught) {
      error = caught;
    }
    expect((error as DomainError).options.param).toBe('messages[1].content[0].image_url.url');
  });

  it.each([
    'https://images.example.com/cat.png',
    'https://cdn.openai.com/x.jpg?size=2',
    'https://8.8.8.8/a.png',
    'https://[2606:4700:4700::1111]/a.png',
    'data:image/jpeg;base64,/9j/4AAQ',
    'https://upload.wikimedia.org./x.png',
  ])('accepts %s', (url) => {
    expect(imageUrlProblem(url)).toBeUndefined();
  });

  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'https://169.254.169.254/latest/meta-data/',
    'https://127.0.0.1/',
    'https://localhost/x.png',
    'https://LOCALHOST./x.png',
    'https://foo.localhost/x.png',
    'https://10.0.0.1/',
    'https://192.168.1.10/',
    'https://172.16.5.4/',
    'https://100.64.0.1/',
    'https://0.0.0.0/',
    'https://2130706433/',
    'https://0177.0.0.1/',
    'https://0x7f.1/',
    'https://127.1/',
    'https://[::1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:7f00:1]/',
    'https://[64:ff9b::a9fe:a9fe]/',
    'https://[2002:a9fe:a9fe::1]/',
    'https://[fe80::1]/',
    'https://[fd00::1]/',
    'https://[2001:db8::1]/',
    'https://metadata/',
    'https://metadata.google.internal/computeMetadata/v1/',
    'https://printer.local/',
    'https://router.home.arpa/',
    'https://user:pass@images.example.com/x.png',
    'https://images.example.com:8443/x.png',
    'file:///etc/passwd',
    'ftp://images.example.com/x.png',
    'gopher://127.0.0.1:6379/_INFO',
    'javascript:alert(1)',
    'data:text/html;base64,PGgxPg==',
    'data:image/png,notbase64',
    'not a url',
    '',
  ])('refuses %s', (url) => {
    expect(imageUrlProblem(url)).toEqual(expect.any(String));
  });
});
