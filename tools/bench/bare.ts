/**
 * The floor the product's CPU cost is compared with: a bare `JSON.parse` of each page and a
 * `JSON.stringify` of its users, nothing else (no HTTP, TLS, hashing, upload). The pages are the ones the
 * simulated tenant serves (same generator, seed, `$select` and page size; a same-length context and
 * nextLink), built here untimed, one at a time, so that only the JSON work is on the clock.
 *
 * Two floors, since the export receives bytes and stores bytes:
 *   - strings: JSON.parse(string) + JSON.stringify(users) → string;
 *   - bytes:   the same, from the UTF-8 body bytes (toString) to UTF-8 bytes (Buffer.from).
 *
 *   node dist/tools/bench/bare.js --users N [--seed S] [--select a,b,c]
 *
 * Prints one line of JSON: { pages, users, bytes, parseMs, stringifyMs, decodeMs, encodeMs }.
 */
import { parseArgs } from 'node:util';
import { PAGE_SIZE } from '../../src/graph.js';
import { generateUser, PRODUCT_DEFAULT_SELECT, projectUser } from '../../stand-ins/sim-tenant/users.js';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '200000' },
    seed: { type: 'string', default: '1' },
    select: { type: 'string', default: PRODUCT_DEFAULT_SELECT.join(',') },
  },
});
const userCount = Number(values.users);
const seed = Number(values.seed);
const select = values.select.split(',');

const context = JSON.stringify(`https://localhost:40000/v1.0/$metadata#users(${select.join(',')})`);
// A nextLink as long as the sim's (its skiptoken is ~130 characters of base64url).
const nextLink = JSON.stringify(
  `https://localhost:40000/v1.0/users?$top=${PAGE_SIZE}&$select=${encodeURIComponent(select.join(','))}&$skiptoken=${'x'.repeat(130)}`,
);

let parseNs = 0n;
let stringifyNs = 0n;
let decodeNs = 0n;
let encodeNs = 0n;
let bytes = 0;
let pages = 0;
let sink = 0;
for (let start = 0; start < userCount; start += PAGE_SIZE) {
  const items: string[] = [];
  for (let i = start; i < Math.min(start + PAGE_SIZE, userCount); i += 1)
    items.push(JSON.stringify(projectUser(generateUser(seed, i), select)));
  const body = `{"@odata.context":${context}${start + PAGE_SIZE < userCount ? `,"@odata.nextLink":${nextLink}` : ''},"value":[${items.join(',')}]}`;
  const raw = Buffer.from(body);
  bytes += raw.length;
  pages += 1;
  const t0 = process.hrtime.bigint();
  const decoded = raw.toString('utf8');
  const t1 = process.hrtime.bigint();
  const page = JSON.parse(decoded) as { value: unknown[] };
  const t2 = process.hrtime.bigint();
  const text = JSON.stringify(page.value);
  const t3 = process.hrtime.bigint();
  const encoded = Buffer.from(text, 'utf8');
  const t4 = process.hrtime.bigint();
  decodeNs += t1 - t0;
  parseNs += t2 - t1;
  stringifyNs += t3 - t2;
  encodeNs += t4 - t3;
  sink += encoded.length;
}
if (sink < 0) process.stderr.write('unreachable\n');
const ms = (ns: bigint): number => Number(ns) / 1e6;
process.stdout.write(
  `${JSON.stringify({ pages, users: userCount, bytes, parseMs: ms(parseNs), stringifyMs: ms(stringifyNs), decodeMs: ms(decodeNs), encodeMs: ms(encodeNs) })}\n`,
);
