import { getHeapSpaceStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { collectStartUpGarbage } from './start-up-garbage';

const newSpaceSize = () =>
  getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;

describe('collectStartUpGarbage', () => {
  it('gives back the young generation that allocation grew', () => {
    // From a young generation as small as V8 makes it (the test runner's may have grown),
    // objects that survive a few scavenges make V8 grow it, as module loading does.
    collectStartUpGarbage();
    const initial = newSpaceSize();
    const kept: number[][] = [];
    for (let i = 0; i < 5000 && newSpaceSize() <= initial; i += 1) {
      kept.push(new Array<number>(2000).fill(i));
      if (kept.length > 400) kept.shift();
    }
    const grown = newSpaceSize();
    expect(grown).toBeGreaterThan(initial);
    kept.length = 0;

    collectStartUpGarbage();
    expect(newSpaceSize()).toBeLessThan(grown);
  });

  it('leaves no gc function behind', () => {
    collectStartUpGarbage();
    expect('gc' in globalThis).toBe(false);
    expect(runInNewContext('typeof gc')).toBe('undefined');
  });
});
