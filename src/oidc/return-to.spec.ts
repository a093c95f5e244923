import { safeReturnTo } from './return-to';

describe(safeReturnTo.name, () => {
  it('keeps a same-origin path with its query and fragment', () => {
    expect(safeReturnTo('/docs')).toBe('/docs');
    expect(safeReturnTo('/?tab=keys#new')).toBe('/?tab=keys#new');
  });

  it.each([
    ['//evil.example/x'],
    ['/\\evil.example'],
    ['https://evil.example/'],
    ['javascript:alert(1)'],
    ['evil.example'],
    ['/\t/evil.example'],
    ['/\n/evil.example'],
    ['/x\u0000y'],
    ['/a b'],
    ['/a\\b'],
    [''],
    [undefined],
    [['/a', '/b']],
    ['/' + 'a'.repeat(3000)],
  ])('turns %j into /', (value) => {
    expect(safeReturnTo(value)).toBe('/');
  });
});
