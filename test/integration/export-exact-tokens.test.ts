/**
 * Through the whole export (the CLI process, the simulated tenant, Azurite): a Graph page with line breaks and
 * indentation, whose users hold tokens JSON.parse + JSON.stringify would change, is stored with each user's
 * tokens exactly as sent — whitespace between tokens removed, nothing else — in json and ndjson; and a page
 * whose `value` holds something that is not a user fails the run with GraphProtocolError, writing nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertFailsCleanly, download, runExport, startWorld, workingEnv, type World } from '../helpers/environment.js';

let world: World;
before(async () => {
  world = await startWorld({ userCount: 3 });
});
after(async () => world?.close());

/** Each user as stored: one line, the tokens as sent. */
const USERS = [
  String.raw`{"id":"00000000-0000-0000-0000-000000000001","a":-0,"b":12345678901234567890123,"c":1e400,"d":-1E-400,"e":0.10}`,
  String.raw`{"id":"00000000-0000-0000-0000-000000000002","displayName":"Zo\u00eb \"Z\" \/ O'Brien","businessPhones":[],"n":[1.0,2e0]}`,
];

/** The same users as Graph might send them pretty-printed (CRLF, tabs, spaces, a trailing newline). */
function prettyPage(): string {
  const pretty = (user: string): string =>
    user.replace(/^\{/, '{\r\n\t\t').replace(/,"/g, ' ,\r\n\t\t"').replace(/":/g, '" :\t').replace(/\}$/, '\r\n\t}');
  const context = `${world.sim.env()['GRAPH_ENDPOINT']}/v1.0/$metadata#users`;
  return `{\r\n\t"@odata.context" : ${JSON.stringify(context)},\r\n\t"value" : [\r\n\t${USERS.map(pretty).join(',\r\n\t')}\r\n\t]\r\n}\r\n`;
}

/** Graph's page content type (the sim's, as Graph sends it). */
const ODATA_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

for (const format of ['json', 'ndjson'] as const) {
  test(`${format}: a pretty-printed page's users are stored with every token as Graph sent it`, async () => {
    const env = workingEnv(world, 'certificate-pfx', { EXPORT_FORMAT: format });
    world.sim.addFault({
      target: 'graph',
      page: 0,
      times: 1,
      fault: { kind: 'status', status: 200, contentType: ODATA_JSON, body: prettyPage() },
    });
    const result = await runExport(env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.summary?.['userCount'], USERS.length);
    const stored = (await download(world.container(env['EXPORT_CONTAINER']!), String(result.summary?.['blobName']))).toString('utf8');
    assert.equal(stored, format === 'json' ? `[\n${USERS.join(',\n')}\n]\n` : USERS.map((u) => `${u}\n`).join(''));
  });
}

test('a page whose value holds a non-object fails the run with GraphProtocolError and writes nothing', async () => {
  const env = workingEnv(world);
  const body = `{"value":[${USERS[0]},"not a user"]}\n`;
  const result = await assertFailsCleanly(
    world,
    env,
    () =>
      world.sim.addFault({
        target: 'graph',
        page: 0,
        times: Infinity,
        fault: { kind: 'status', status: 200, contentType: ODATA_JSON, body },
      }),
    /page 0 of the listing\) with a page that has an element of 'value' that is not an object, so not a user: element 1 .* is a string/,
  );
  assert.match(result.stderr, /GraphProtocolError/);
});
