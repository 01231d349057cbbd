// NextToken/MaxResults: a token names the offset and the query it belongs to; a token used with other filters, or
// made up, is InvalidNextToken, as AWS answers.
import { createHash } from 'node:crypto';
import { SsmError } from './wire.ts';

export function queryKey(query: unknown): string {
  return createHash('sha256').update(JSON.stringify(query)).digest('hex').slice(0, 16);
}

export function paginate<T>(items: readonly T[], maxResults: number, nextToken: string | undefined, query: unknown): { page: T[]; nextToken?: string } {
  const key = queryKey(query);
  let offset = 0;
  if (nextToken !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(nextToken, 'base64url').toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const o = parsed as { o?: unknown; k?: unknown } | undefined;
    if (!o || typeof o.o !== 'number' || !Number.isInteger(o.o) || o.o < 0 || o.k !== key) {
      throw new SsmError('InvalidNextToken', 'The specified token isn\'t valid.');
    }
    offset = o.o;
  }
  const page = items.slice(offset, offset + maxResults);
  const next = offset + maxResults;
  return next < items.length ? { page, nextToken: Buffer.from(JSON.stringify({ o: next, k: key })).toString('base64url') } : { page };
}
