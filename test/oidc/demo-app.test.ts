/** The development quickstart: the demo relying party signs in at rekey and shows the claims. */
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser, formAction } from '../support/browser.ts';
import { DEMO_USERS } from '../../src/demo-users.ts';

describe('development mode: demo app and dev outbox', () => {
  let t: TestApp;

  before(async () => {
    t = await startTestApp({ DEMO: 'true' });
  });
  after(() => t.close());

  it('seeds the demo users and signs one in at the demo app over OIDC, showing the ID token claims', async () => {
    const alice = DEMO_USERS[0];
    const browser = new Browser(t.url);
    const home = await browser.open('/');
    assert.equal(home.status, 200);
    assert.match(home.text, /Sign in with rekey/);
    assert.match(home.text, new RegExp(`<code>${alice.login}</code> / <code>${alice.password}</code>`));

    const signin = await browser.open('/demo/login');
    assert.equal(signin.status, 200);
    assert.match(signin.text, /Sign in to continue to rekey demo app/);
    const back = await browser.submit(signin, formAction(signin.text, '/password'), { identifier: alice.login, password: alice.password });
    assert.equal(back.status, 200, back.text.slice(0, 400));
    assert.match(back.text, /Demo app: signed in/);
    assert.match(back.text, /alice@example\.com/);
    assert.match(back.text, /<th scope="row">amr<\/th><td><code>\[&quot;pwd&quot;\]<\/code>/);

    const out = await browser.open('/demo/logout');
    assert.match(out.text, /Do you want to sign out of rekey\?/);
  });

  it('shows messages in the dev outbox', async () => {
    await t.services.sender.send({ channel: 'email', to: 'alice@example.com', subject: 'Hello from the outbox', text: 'Your code is 12345678' });
    const page = await new Browser(t.url).open('/dev/outbox');
    assert.equal(page.status, 200);
    assert.match(page.text, /Hello from the outbox/);
    assert.match(page.text, /alice@example\.com/);
    assert.match(page.text, /Your code is 12345678/);
  });

  it('keeps the demo app and the outbox out of a deployment without them', async () => {
    const plain = await startTestApp({ DEMO: 'false', DEV_OUTBOX: 'false' });
    try {
      const b = new Browser(plain.url);
      assert.equal((await b.get('/')).status, 404);
      assert.equal((await b.get('/dev/outbox')).status, 404);
      assert.equal(await plain.services.accounts.findByIdentifier('alice'), undefined, 'no demo users');
    } finally {
      await plain.close();
    }
  });
});
