import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestLogQueryDto } from './dto/request-log.dto';
import type { SpendService } from './spend.service';

/** Whether the client asked for CSV (`Accept: text/csv`). */
function wantsCsv(request: FastifyRequest): boolean {
  return /(^|,)\s*text\/csv\b/i.test(request.headers.accept ?? '');
}

/** A page as JSON, or with `Accept: text/csv` every matching row as a streamed CSV download. */
export async function sendRequests(
  spend: SpendService,
  query: RequestLogQueryDto,
  request: FastifyRequest,
  reply: FastifyReply,
  teamId?: string,
): Promise<void> {
  if (!wantsCsv(request)) {
    await reply.send(await spend.requests(query, teamId));
    return;
  }
  const body = await spend.csv(query, teamId);
  await reply
    .header('Content-Type', 'text/csv; charset=utf-8')
    .header('Content-Disposition', 'attachment; filename="requests.csv"')
    .send(body);
}
