import { PGlite } from '@electric-sql/pglite';
const db = await PGlite.create('/tmp/m17/d-sb16');
const t = performance.now();
await db.query('select pg_sleep(1)');
console.log('slept', performance.now() - t);
