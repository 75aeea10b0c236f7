/**
 * The floor of one more hop on this machine: a relay that copies bytes between the client's connection
 * and one of its own to the upstream, with no HTTP parsing at all (`node:net`, one upstream connection per
 * client connection). What it adds is the kernel's loopback, the event loop's wake-ups and two copies;
 * any HTTP proxy in Node pays at least that.
 *
 *   node --import tsx bench/lib/tcp-relay.ts <upstream origin>
 *
 * Prints `listening on http://127.0.0.1:PORT` once ready (port 0: any free one).
 */
import { connect, createServer, type AddressInfo } from 'node:net';

const upstream = process.argv[2];
const match = upstream ? /^http:\/\/127\.0\.0\.1:(\d+)\/?$/.exec(upstream) : null;
if (!match) {
  process.stderr.write('usage: tcp-relay.ts <upstream origin, like http://127.0.0.1:8080>\n');
  process.exit(2);
}
const port = Number(match[1]);

const server = createServer({ noDelay: true }, (client) => {
  const up = connect({ host: '127.0.0.1', port, noDelay: true });
  client.pipe(up);
  up.pipe(client);
  client.on('error', () => up.destroy());
  up.on('error', () => client.destroy());
  client.on('close', () => up.destroy());
  up.on('close', () => client.destroy());
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
