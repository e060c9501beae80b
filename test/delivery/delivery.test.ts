/**
 * Delivery adapters through real servers: SMTP (nodemailer → smtp-server in this process) and
 * SMS/voice (Twilio REST and the signed webhook → a local HTTP gateway at the protocol level).

 */
import assert from 'node:assert/strict';
import { SmtpSender } from '../../adapters/delivery/smtp.ts';
import { TwilioSender } from '../../adapters/delivery/twilio.ts';
import { WebhookSender, webhookSignature } from '../../adapters/delivery/webhook.ts';
import { DeliveryFailed } from '../../src/errors.ts';
import { codeIn, startSmtpServer, type TestSmtpServer } from '../support/smtp-server.ts';
import { digitsIn, startSmsGateway, type SmsGateway } from '../support/sms-gateway.ts';

const ACCOUNT_SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH_TOKEN = 'tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const WEBHOOK_SECRET = 'whsec_6b1d2c3e4f5a69788796a5b4c3d2e1f0';
const FROM_NUMBER = '+15005550006';
const PHONE = '+48601234567';

/** Awaits `promise`, asserts it rejects with DeliveryFailed, and returns the error. */
async function deliveryFailure(promise: Promise<unknown>): Promise<InstanceType<typeof DeliveryFailed>> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof DeliveryFailed, `expected DeliveryFailed, got ${String(e)}`);
    assert.equal(e.status, 502);
    assert.equal(e.id, 'delivery_failed');
    return e;
  }
  assert.fail('expected the send to reject with DeliveryFailed');
}

describe('delivery adapters', function () {
  this.timeout(10_000);

  describe('SmtpSender → SMTP test server', () => {
    let smtp: TestSmtpServer;
    before(async () => {
      smtp = await startSmtpServer();
    });
    after(async () => {
      await smtp?.stop();
    });
    beforeEach(() => smtp.clear());

    it('delivers subject, text, html, sender and recipient', async () => {
      const sender = new SmtpSender(smtp.url, 'rekey <no-reply@rekey.test>');
      await sender.send({
        channel: 'email',
        to: 'ann@example.com',
        subject: 'Your rekey code',
        text: 'Your code is 48213907. It expires in 10 minutes.',
        html: '<p>Your code is <b>48213907</b>.</p>',
      });
      const mail = await smtp.waitFor((m) => m.to.includes('ann@example.com'));
      assert.deepEqual(mail.to, ['ann@example.com']);
      assert.equal(mail.from, 'no-reply@rekey.test');
      assert.equal(mail.subject, 'Your rekey code');
      assert.match(mail.text, /Your code is 48213907\. It expires in 10 minutes\./);
      assert.match(mail.html ?? '', /<b>48213907<\/b>/);
      assert.match(mail.raw, /^Subject: Your rekey code$/m);
      assert.equal(codeIn(mail, 8), '48213907');
      assert.throws(() => codeIn(mail, 6), /no 6-digit code/);
      assert.equal(smtp.messages.length, 1);
    });

    it('refuses other channels without touching the network', async () => {
      const err = await deliveryFailure(new SmtpSender(smtp.url, 'no-reply@rekey.test').send({ channel: 'sms', to: PHONE, text: 'x' }));
      assert.match(err.message, /cannot deliver sms/);
      assert.equal(smtp.messages.length, 0);
    });

    it('a rejected recipient (550 on RCPT TO) gives DeliveryFailed and no mail', async () => {
      smtp.rejectRecipient(/@blocked\.example$/);
      const sender = new SmtpSender(smtp.url, 'no-reply@rekey.test');
      const err = await deliveryFailure(sender.send({ channel: 'email', to: 'bob@blocked.example', subject: 's', text: 'code 12345678' }));
      assert.match(err.message, /550/);
      assert.equal(smtp.messages.length, 0);
      // other recipients still get through
      await sender.send({ channel: 'email', to: 'bob@example.com', subject: 's', text: 't' });
      await smtp.waitFor((m) => m.to.includes('bob@example.com'));
    });

    it('a message refused at the end of DATA (554) gives DeliveryFailed', async () => {
      smtp.failNext('reject');
      const sender = new SmtpSender(smtp.url, 'no-reply@rekey.test');
      const err = await deliveryFailure(sender.send({ channel: 'email', to: 'cy@example.com', subject: 's', text: 't' }));
      assert.match(err.message, /554/);
      assert.equal(smtp.messages.length, 0);
      await sender.send({ channel: 'email', to: 'cy@example.com', subject: 's', text: 't' });
      assert.equal((await smtp.waitFor()).to[0], 'cy@example.com');
    });

    it('an SMTP server that is gone gives DeliveryFailed', async () => {
      const gone = await startSmtpServer();
      await gone.stop();
      const err = await deliveryFailure(new SmtpSender(gone.url, 'no-reply@rekey.test').send({ channel: 'email', to: 'd@example.com', subject: 's', text: 't' }));
      assert.match(err.message, /ECONNREFUSED/);
    });

    it('an SMTP server that never answers the end of DATA gives DeliveryFailed after the socket timeout', async () => {
      smtp.failNext('timeout');
      const sender = new SmtpSender(smtp.url, 'no-reply@rekey.test', 300);
      const started = Date.now();
      const err = await deliveryFailure(sender.send({ channel: 'email', to: 'e@example.com', subject: 's', text: 'code 12345678' }));
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 1500, `took ${took} ms`);
      assert.match(err.message, /timeout|ETIMEDOUT/i);
      assert.equal(smtp.messages.length, 0);
    });
  });

  describe('TwilioSender → SMS gateway (Twilio REST shape)', () => {
    let gw: SmsGateway;
    let twilio: TwilioSender;
    before(async () => {
      gw = await startSmsGateway({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, webhookSecret: WEBHOOK_SECRET });
      twilio = new TwilioSender({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM_NUMBER, apiBase: gw.twilioBase });
    });
    after(async () => {
      await gw?.stop();
    });
    beforeEach(() => gw.clear());

    it('sends an SMS as POST …/Messages.json with To, From, Body', async () => {
      await twilio.send({ channel: 'sms', to: PHONE, text: 'Your rekey code is 602913. It expires in 10 minutes.' });
      const m = await gw.waitFor((x) => x.to === PHONE);
      assert.equal(m.kind, 'twilio-sms');
      assert.equal(m.channel, 'sms');
      assert.equal(m.from, FROM_NUMBER);
      assert.deepEqual(m.fields, { To: PHONE, From: FROM_NUMBER, Body: 'Your rekey code is 602913. It expires in 10 minutes.' });
      assert.equal(m.text, 'Your rekey code is 602913. It expires in 10 minutes.');
      assert.deepEqual(Object.fromEntries(new URLSearchParams(m.raw)), m.fields);
      assert.match(m.id, /^SM[0-9a-f]{32}$/);
      assert.equal(digitsIn(m.text, 6), '602913');
      assert.deepEqual(gw.rejected, []);
    });

    it('places a call as POST …/Calls.json with To, From and TwiML saying the code slowly, twice', async () => {
      await twilio.send({ channel: 'voice', to: PHONE, text: 'Your rekey code is 602913. It expires in 10 minutes.' });
      const m = await gw.waitFor((x) => x.kind === 'twilio-voice');
      assert.equal(m.channel, 'voice');
      assert.deepEqual(Object.keys(m.fields).sort(), ['From', 'To', 'Twiml']);
      assert.equal(m.fields.To, PHONE);
      assert.equal(m.fields.From, FROM_NUMBER);
      const said = 'Your rekey code is 6, 0, 2, 9, 1, 3. It expires in 10 minutes.';
      assert.equal(m.fields.Twiml, `<Response><Say>${said}</Say><Pause length="1"/><Say>${said}</Say></Response>`);
      assert.equal(m.text, said);
      assert.match(m.id, /^CA[0-9a-f]{32}$/);
      assert.equal(digitsIn(m.text, 6), '602913');
    });

    it('escapes XML in the spoken text (the gateway parses the TwiML strictly)', async () => {
      await twilio.send({ channel: 'voice', to: PHONE, text: `Code <1234> for "Tom & Jerry's" app` });
      const m = await gw.waitFor((x) => x.kind === 'twilio-voice');
      assert.match(String(m.fields.Twiml), /<Say>Code &lt;1, 2, 3, 4&gt; for &quot;Tom &amp; Jerry&apos;s&quot; app<\/Say>/);
      assert.equal(m.text, `Code <1, 2, 3, 4> for "Tom & Jerry's" app`);
      assert.deepEqual(gw.rejected, []);
    });

    it('a wrong auth token: 401 → DeliveryFailed naming 401, without the token or the code', async () => {
      const wrong = 'tok_wrong_0000000000000000000000000';
      const sender = new TwilioSender({ accountSid: ACCOUNT_SID, authToken: wrong, from: FROM_NUMBER, apiBase: gw.twilioBase });
      const err = await deliveryFailure(sender.send({ channel: 'sms', to: PHONE, text: 'Your rekey code is 602913.' }));
      assert.match(err.message, /401/);
      assert.match(err.message, /20003/);
      assert.ok(!err.message.includes(wrong), err.message);
      assert.ok(!err.message.includes(AUTH_TOKEN), err.message);
      assert.ok(!err.message.includes('602913'), err.message);
      assert.equal(gw.received.length, 0);
      assert.deepEqual(gw.rejected.map((r) => [r.status, r.reason]), [[401, 'wrong Basic credentials']]);
    });

    it('a malformed request (To not E.164): Twilio-shaped 400 → DeliveryFailed', async () => {
      const err = await deliveryFailure(twilio.send({ channel: 'sms', to: '0601 234 567', text: 'code 602913' }));
      assert.match(err.message, /HTTP 400/);
      assert.match(err.message, /21211/);
      assert.ok(!err.message.includes('602913'), err.message);
      assert.equal(gw.received.length, 0);
    });

    it('a gateway 500 → DeliveryFailed naming 500', async () => {
      gw.failWith(500);
      const err = await deliveryFailure(twilio.send({ channel: 'sms', to: PHONE, text: 'code 602913' }));
      assert.match(err.message, /HTTP 500/);
      assert.ok(!err.message.includes('602913'), err.message);
      // only one failure was queued: the next send gets through
      await twilio.send({ channel: 'sms', to: PHONE, text: 'code 602913' });
      assert.equal(gw.received.length, 1);
    });

    it('a gateway that never answers → DeliveryFailed after timeoutMs', async () => {
      gw.failWith('hang');
      const sender = new TwilioSender({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM_NUMBER, apiBase: gw.twilioBase, timeoutMs: 300 });
      const started = Date.now();
      const err = await deliveryFailure(sender.send({ channel: 'voice', to: PHONE, text: 'code 602913' }));
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 1000, `took ${took} ms`);
      assert.match(err.message, /timeout/);
    });

    it('a provider that cannot be reached → DeliveryFailed naming the network error', async () => {
      const down = await startSmsGateway({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, webhookSecret: WEBHOOK_SECRET });
      await down.stop();
      const sender = new TwilioSender({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM_NUMBER, apiBase: down.twilioBase });
      const err = await deliveryFailure(sender.send({ channel: 'sms', to: PHONE, text: 'code 602913' }));
      assert.match(err.message, /ECONNREFUSED/);
      assert.ok(!err.message.includes(AUTH_TOKEN));
    });

    it('refuses the email channel', async () => {
      await deliveryFailure(twilio.send({ channel: 'email', to: 'a@example.com', text: 'x' }));
      assert.equal(gw.received.length + gw.rejected.length, 0);
    });

    it('the gateway holds requests to Twilio’s shape', async () => {
      const auth = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;
      const url = `${gw.twilioBase}/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
      const form = 'application/x-www-form-urlencoded';
      const cases: [RequestInit & { url?: string }, number, number][] = [
        [{ method: 'POST', headers: { Authorization: auth, 'Content-Type': form }, body: `To=${encodeURIComponent(PHONE)}&From=x` }, 400, 21602],
        [{ method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ To: PHONE, From: 'x', Body: 'b' }) }, 400, 20001],
        [{ method: 'POST', headers: { 'Content-Type': form }, body: `To=${encodeURIComponent(PHONE)}&From=x&Body=b` }, 401, 20003],
        [{ method: 'GET', headers: { Authorization: auth } }, 405, 20004],
        [{ url: `${gw.twilioBase}/2010-04-01/Accounts/ACother/Messages.json`, method: 'POST', headers: { Authorization: auth, 'Content-Type': form }, body: 'To=%2B48601234567&From=x&Body=b' }, 404, 20404],
        [{ url: `${gw.twilioBase}/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`, method: 'POST', headers: { Authorization: auth, 'Content-Type': form }, body: new URLSearchParams({ To: PHONE, From: 'x', Twiml: '<Response><Say>a & b</Say></Response>' }).toString() }, 400, 12100],
      ];
      for (const [init, status, code] of cases) {
        const res = await fetch(init.url ?? url, init);
        const body = (await res.json()) as Record<string, unknown>;
        assert.equal(res.status, status, JSON.stringify(body));
        assert.deepEqual(Object.keys(body).sort(), ['code', 'message', 'more_info', 'status']);
        assert.equal(body.code, code);
        assert.equal(body.status, status);
      }
      assert.equal(gw.received.length, 0);
      assert.equal(gw.rejected.length, cases.length);
    });
  });

  describe('WebhookSender → SMS gateway (signed JSON)', () => {
    let gw: SmsGateway;
    before(async () => {
      gw = await startSmsGateway({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, webhookSecret: WEBHOOK_SECRET });
    });
    after(async () => {
      await gw?.stop();
    });
    beforeEach(() => gw.clear());

    it('delivers SMS and voice with a signature the gateway verifies', async () => {
      const sender = new WebhookSender({ url: gw.webhookUrl, secret: WEBHOOK_SECRET });
      const before = Math.floor(Date.now() / 1000);
      await sender.send({ channel: 'sms', to: PHONE, text: 'Your rekey code is 731550.' });
      await sender.send({ channel: 'voice', to: '+442071838750', text: 'Your rekey code is 118204.' });
      const sms = await gw.waitFor((m) => m.channel === 'sms');
      const call = await gw.waitFor((m) => m.channel === 'voice');
      assert.equal(sms.kind, 'webhook');
      assert.deepEqual(Object.keys(sms.fields).sort(), ['channel', 'id', 'text', 'timestamp', 'to']);
      assert.equal(sms.fields.channel, 'sms');
      assert.equal(sms.to, PHONE);
      assert.equal(sms.text, 'Your rekey code is 731550.');
      assert.match(sms.id, /^[0-9a-f]{32}$/);
      const ts = sms.fields.timestamp as number;
      assert.ok(Number.isInteger(ts) && ts >= before && ts <= Math.floor(Date.now() / 1000) + 1);
      assert.equal(digitsIn(sms.text, 6), '731550');
      assert.equal(call.to, '+442071838750');
      assert.equal(digitsIn(call.text, 6), '118204');
      assert.notEqual(call.id, sms.id);
      assert.deepEqual(gw.rejected, []);
    });

    it('a wrong secret: 401 → DeliveryFailed naming 401, without the secret or the code', async () => {
      const sender = new WebhookSender({ url: gw.webhookUrl, secret: 'not-the-secret' });
      const err = await deliveryFailure(sender.send({ channel: 'sms', to: PHONE, text: 'Your rekey code is 731550.' }));
      assert.match(err.message, /401/);
      assert.ok(!err.message.includes('not-the-secret') && !err.message.includes('731550'), err.message);
      assert.equal(gw.received.length, 0);
      assert.equal(gw.rejected[0]?.reason, 'signature mismatch');
    });

    it('a timestamp older than 5 minutes is refused (401)', async () => {
      const sender = new WebhookSender({ url: gw.webhookUrl, secret: WEBHOOK_SECRET, clock: () => Date.now() - 301_000 });
      const err = await deliveryFailure(sender.send({ channel: 'sms', to: PHONE, text: 'code 731550' }));
      assert.match(err.message, /401/);
      assert.match(gw.rejected[0]?.reason ?? '', /outside the 300 s window/);
    });

    it('a gateway 503 or one that never answers → DeliveryFailed', async () => {
      const sender = new WebhookSender({ url: gw.webhookUrl, secret: WEBHOOK_SECRET, timeoutMs: 300 });
      gw.failWith(503);
      assert.match((await deliveryFailure(sender.send({ channel: 'sms', to: PHONE, text: 'code 731550' }))).message, /HTTP 503/);
      gw.failWith('hang');
      const started = Date.now();
      const err = await deliveryFailure(sender.send({ channel: 'sms', to: PHONE, text: 'code 731550' }));
      assert.ok(Date.now() - started < 1000);
      assert.match(err.message, /timeout/);
      assert.ok(!err.message.includes('731550'));
    });

    it('the gateway refuses a tampered body and a replayed request', async () => {
      const t = Math.floor(Date.now() / 1000);
      const raw = JSON.stringify({ channel: 'sms', to: PHONE, text: 'code 111111', id: 'abc', timestamp: t });
      const post = (body: string, sig: string) =>
        fetch(gw.webhookUrl, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Rekey-Timestamp': String(t), 'X-Rekey-Signature': sig }, body });
      const signature = webhookSignature(WEBHOOK_SECRET, t, raw);
      assert.equal((await post(raw.replace('111111', '222222'), signature)).status, 401);
      assert.equal((await post(raw, signature)).status, 200);
      assert.equal((await post(raw, signature)).status, 409);
      assert.deepEqual(gw.received.map((m) => m.text), ['code 111111']);
    });
  });

  describe('test helpers', () => {
    it('digitsIn finds a code typed plainly or spelled out for voice, and only exact lengths', () => {
      assert.equal(digitsIn('code 602913, valid 10 min', 6), '602913');
      assert.equal(digitsIn('Your code is 6, 0, 2, 9, 1, 3. It expires in 10 minutes.', 6), '602913');
      assert.throws(() => digitsIn('code 6029134', 6));
    });

    it('codeIn falls back to the HTML when a mail has no text', () => {
      assert.equal(codeIn({ text: '', html: '<p>code <b>12345678</b></p>' }), '12345678');
    });
  });
});
