/**
 * CLIENTS_FILE as an operator writes it: both accepted file shapes become the metadata
 * oidc-provider serves, and every mistake stops start-up with one message naming
 * CLIENTS_FILE and the path of the bad field.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClientsFile, parseClients, registry } from '../../src/provider/clients.ts';
import { configError } from '../support/config-error.ts';

const SECRET = 'portal-secret-0123456789-abcdefghijkl';

const portal = {
  client_id: 'portal',
  client_secret: SECRET,
  name: 'Staff Portal',
  redirect_uris: ['https://portal.example.com/callback'],
  first_party: true,
  post_logout_redirect_uris: ['https://portal.example.com/bye'],
  backchannel_logout_uri: 'https://portal.example.com/backchannel',
};
const spa = {
  client_id: 'wiki-spa',
  public: true,
  redirect_uris: ['https://wiki.example.com/cb', 'http://localhost:5173/cb'],
  grant_types: ['authorization_code'],
};

describe('CLIENTS_FILE', function () {
  let dir: string;
  let n = 0;
  const file = (content: unknown): string => {
    const path = join(dir, `clients-${++n}.json`);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return path;
  };

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'rekey-clients-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('a valid file', function () {
    it('in array form becomes the client metadata oidc-provider serves', function () {
      const { metadata, firstParty } = registry(loadClientsFile(file([portal, spa])));
      assert.equal(metadata.length, 2);
      const [p, s] = metadata;
      assert.deepEqual(p, {
        client_id: 'portal',
        client_secret: SECRET,
        client_name: 'Staff Portal',
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: ['https://portal.example.com/callback'],
        post_logout_redirect_uris: ['https://portal.example.com/bye'],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        backchannel_logout_uri: 'https://portal.example.com/backchannel',
        backchannel_logout_session_required: true,
      });
      assert.equal(s!.token_endpoint_auth_method, 'none', 'a public client authenticates with PKCE only');
      assert.equal(s!.client_secret, undefined);
      assert.deepEqual(s!.grant_types, ['authorization_code']);
      assert.deepEqual(s!.redirect_uris, spa.redirect_uris);
      assert.deepEqual([...firstParty], ['portal'], 'only first_party clients skip consent');
    });

    it('in {"clients": [...]} form gives the same result', function () {
      const fromArray = registry(loadClientsFile(file([portal, spa])));
      const fromObject = registry(loadClientsFile(file({ clients: [portal, spa] })));
      assert.deepEqual(fromObject.metadata, fromArray.metadata);
      assert.deepEqual([...fromObject.firstParty], [...fromArray.firstParty]);
    });

    it('may list no clients, and an unset CLIENTS_FILE means none', function () {
      assert.deepEqual(loadClientsFile(file([])), []);
      assert.deepEqual(loadClientsFile(file({ clients: [] })), []);
      assert.deepEqual(loadClientsFile(undefined), []);
    });

    it('defaults: confidential, not first party, both grants, no logout URIs', function () {
      const [c] = parseClients([{ client_id: 'x', client_secret: SECRET, redirect_uris: ['https://x.example/cb'] }], 'f.json');
      assert.equal(c!.public, false);
      assert.equal(c!.first_party, false);
      assert.deepEqual(c!.grant_types, ['authorization_code', 'refresh_token']);
      assert.deepEqual(c!.post_logout_redirect_uris, []);
    });
  });

  describe('a malformed file stops start-up naming CLIENTS_FILE and the bad field', function () {
    const cases: [string, unknown, string[]][] = [
      ['missing redirect_uris', [{ ...spa, redirect_uris: undefined }], ['at 0.redirect_uris']],
      ['empty redirect_uris', [{ ...spa, redirect_uris: [] }], ['at 0.redirect_uris', 'at least one redirect URI']],
      ['a redirect URI that is not a URL', { clients: [portal, { ...spa, redirect_uris: ['https://wiki.example.com/cb', 'not a url'] }] }, ['at clients.1.redirect_uris.1']],
      ['a backchannel logout URI that is not http(s)', [{ ...portal, backchannel_logout_uri: 'ftp://portal.example.com/x' }], ['at 0.backchannel_logout_uri', 'http(s)']],
      ['a client secret shorter than 32 characters', [portal, { ...portal, client_id: 'other', client_secret: 'short' }], ['at 1.client_secret', 'at least 32 characters']],
      ['a public client with a secret', [{ ...spa, client_secret: SECRET }], ['at 0.client_secret', 'public client has no client_secret']],
      ['a confidential client without a secret', [{ ...portal, client_secret: undefined }], ['at 0.client_secret', 'needs client_secret', '"public": true']],
      ['a client_id with a space', [{ ...spa, client_id: 'wiki spa' }], ['at 0.client_id']],
      ['an unknown grant type', [{ ...portal, grant_types: ['implicit'] }], ['at 0.grant_types.0']],
      ['an unknown field (a typo)', [{ ...portal, redirect_uri: 'https://portal.example.com/cb' }], ['at 0.redirect_uri', 'redirect_uri']],
      ['an unknown top-level field', { clients: [portal], client: [] }, ['at client']],
      ['a list that is not a list', { clients: 'portal' }, ['at clients']],
      ['a file that is neither list nor object', '"portal"', ['(top level)']],
      ['a duplicate client_id', [portal, { ...spa, client_id: 'portal' }], ['client_id "portal" appears twice']],
    ];
    for (const [what, content, parts] of cases) {
      it(what, function () {
        const path = file(content);
        const message = configError(() => loadClientsFile(path));
        assert.ok(message.startsWith(`CLIENTS_FILE=${path} `), message);
        for (const part of parts) assert.ok(message.includes(part), `expected ${JSON.stringify(message)} to include ${JSON.stringify(part)}`);
      });
    }

    it('never echoes a client secret', function () {
      const message = configError(() => loadClientsFile(file([{ ...portal, client_secret: 'tiny-secret' }])));
      assert.ok(!message.includes('tiny-secret'), message);
    });

    it('text that is not JSON', function () {
      const path = file('[{ "client_id": "portal", }]');
      const message = configError(() => loadClientsFile(path));
      assert.ok(message.startsWith(`CLIENTS_FILE=${path} `), message);
      assert.match(message, /not valid JSON/);
    });

    it('a missing file', function () {
      const path = join(dir, 'does-not-exist.json');
      const message = configError(() => loadClientsFile(path));
      assert.ok(message.startsWith(`CLIENTS_FILE=${path}`), message);
      assert.match(message, /cannot read/);
    });
  });
});
