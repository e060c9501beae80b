/** A relying party's back-channel logout endpoint (a real HTTP server) for tests. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClientEntry } from '../../src/provider/clients.ts';

/** A confidential first-party client of the test RP's callback that wants back-channel logout at `logoutUri`. */
export function backchannelClient(url: string, o: { id: string; secret: string; name: string; logoutUri: string }): ClientEntry {
  return {
    client_id: o.id,
    client_secret: o.secret,
    public: false,
    name: o.name,
    redirect_uris: [`${url}/test-rp/callback`],
    first_party: true,
    post_logout_redirect_uris: [],
    backchannel_logout_uri: o.logoutUri,
    grant_types: ['authorization_code', 'refresh_token'],
  };
}

/** A relying party's back-channel logout endpoint: records every POST body, answers `status`. */
export interface Receiver {
  url: string;
  received: { contentType: string; body: URLSearchParams }[];
  close(): Promise<void>;
}

export async function startReceiver(status: number): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/backchannel-logout') {
        received.push({ contentType: req.headers['content-type'] ?? '', body: new URLSearchParams(Buffer.concat(chunks).toString('utf8')) });
      }
      res.writeHead(status, { 'cache-control': 'no-store' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/backchannel-logout`,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
