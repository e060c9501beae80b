import assert from 'node:assert/strict';
import { generateSigningKey } from '../../src/keys.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';

describe('signing key rotation', () => {
  let t: TestApp;
  const newest = { ...generateSigningKey(), kid: 'key-2026-11' };
  const previous = { ...generateSigningKey(), kid: 'key-2026-05' };

  before(async () => {
    t = await startTestApp({ JWKS: JSON.stringify({ keys: [newest, previous] }), COOKIE_KEYS: `${'c'.repeat(40)},${'d'.repeat(40)}` });
    await t.services.accounts.create({ login: 'lena', password: 'silver-pine-needles-fall' });
  });
  after(() => t.close());

  it('publishes every key, signs ID tokens with the first (newest) one', async () => {
    const jwks = (await new Browser(t.url).agent.get('/jwks')).body as { keys: { kid: string; d?: string }[] };
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), ['key-2026-05', 'key-2026-11']);
    assert.ok(jwks.keys.every((k) => k.d === undefined), 'no private parts are published');

    const rp = await RelyingParty.discover(t.url, t.redirectUri);
    const browser = new Browser(t.url);
    const flow = await rp.start();
    const page = await browser.open(flow.url.toString(), t.redirectUri);
    const done = await browser.submit(page, formAction(page.text, '/password'), { identifier: 'lena', password: 'silver-pine-needles-fall' }, t.redirectUri);
    const tokens = await rp.finish(flow, done.location!);
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { kid: string };
    assert.equal(header.kid, 'key-2026-11');
  });
});
