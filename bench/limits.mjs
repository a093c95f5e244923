/**
 * The two "limits" Keyward is measured against (issue 7), each run as its own process:
 *
 *   node bench/limits.mjs bare  <port>
 *   node bench/limits.mjs proxy <port> <upstream origin> <upstream key>
 *
 * `bare`: Fastify with one JSON route shaped like Keyward's `/api/v1/auth/me` answer, no
 * auth, no logging: the most a Node HTTP server does for a small JSON response.
 * `proxy`: Fastify + an undici keep-alive pool relaying `POST /v1/chat/completions` to
 * the upstream with the server key, body streamed back as is (JSON or SSE): the most a
 * Node gateway can do without any checks. Both are deliberately minimal.
 */
import Fastify from 'fastify';
import { Pool } from 'undici';

const [mode, portArg, upstream, upstreamKey] = process.argv.slice(2);
const port = Number(portArg);

const app = Fastify({ logger: false });
app.get('/health/live', async () => ({ status: 'ok' }));

if (mode === 'bare') {
  const me = {
    id: '0b5f7f8e-5d0a-4a4f-9f54-0d1f5c3a2b10',
    username: 'bench',
    roles: ['admin'],
    authMethod: 'jwt',
  };
  app.get('/api/v1/auth/me', async () => me);
} else if (mode === 'proxy') {
  const pool = new Pool(upstream, { connections: 256, keepAliveTimeout: 30_000 });
  const headers = {
    'content-type': 'application/json',
    authorization: `Bearer ${upstreamKey}`,
  };
  app.post('/v1/chat/completions', async (request, reply) => {
    const response = await pool.request({
      method: 'POST',
      path: '/v1/chat/completions',
      headers,
      body: JSON.stringify(request.body),
    });
    reply.code(response.statusCode);
    const type = response.headers['content-type'];
    if (typeof type === 'string') reply.header('content-type', type);
    return reply.send(response.body);
  });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}

await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`ready ${mode} ${port}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
