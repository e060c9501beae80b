/**
 * Configuration as an operator meets it: defaults, one clear message per bad value (secret
 * values never echoed), refused combinations, production refusals, `.env` and `NAME_FILE`
 * secrets, the JWKS check, and the generated reference in docs/configuration.md.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, readEnvironment } from '../../src/config/load.ts';
import { settings, type Env, type SettingName } from '../../src/config/schema.ts';
import { configurationReference } from '../../src/config/reference.ts';
import { generateSigningKey, parseJwks, type Jwk } from '../../src/keys.ts';
import { configError } from '../support/config-error.ts';

const KEY_A = 'a'.repeat(32);
const KEY_B = 'b'.repeat(40);

function includesAll(message: string, ...parts: string[]): void {
  for (const part of parts) assert.ok(message.includes(part), `expected ${JSON.stringify(message)} to include ${JSON.stringify(part)}`);
}

describe('configuration', function () {
  let signingKey: Jwk;
  let otherKey: Jwk;
  let productionEnv: Env;

  before(function () {
    signingKey = generateSigningKey();
    otherKey = generateSigningKey();
    productionEnv = {
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.com',
      TRUST_PROXY_HOPS: '1',
      JWKS: JSON.stringify({ keys: [signingKey] }),
      COOKIE_KEYS: KEY_A,
      HMAC_KEYS: KEY_B,
      TOTP_KEYS: 'c'.repeat(32),
      // Phone methods need an SMS gateway in production; these tests are not about them.
      SSPR_METHODS: 'email,authenticator_app,recovery_codes',
    };
  });

  describe('security keys (WebAuthn)', function () {
    it('are off by default, and accepted in SSPR_METHODS and TWO_FACTOR_METHODS', function () {
      assert.ok(!parseConfig({}).SSPR_METHODS.includes('security_key'));
      const c = parseConfig({ SSPR_METHODS: 'email,security_key', TWO_FACTOR_METHODS: 'security_key' });
      assert.deepEqual(c.SSPR_METHODS, ['email', 'security_key']);
      assert.deepEqual(c.TWO_FACTOR_METHODS, ['security_key']);
    });

    it('refuse to start on an http ISSUER that is not the local machine (WebAuthn needs a secure context)', function () {
      const message = configError(() => parseConfig({ ISSUER: 'http://id.example.com', SSPR_METHODS: 'email,authenticator_app,security_key' }));
      includesAll(message, 'security_key', 'ISSUER=http://id.example.com', 'https');
      for (const ISSUER of ['http://localhost:3000', 'http://127.0.0.1:8080', 'https://id.example.com']) {
        assert.ok(parseConfig({ ISSUER, SSPR_METHODS: 'email,authenticator_app,security_key' }).SSPR_METHODS.includes('security_key'), ISSUER);
      }
    });
  });

  describe('defaults', function () {
    it('starts a development server on port 3000 with the documented defaults', function () {
      const c = parseConfig({});
      assert.equal(c.NODE_ENV, 'development');
      assert.equal(c.PORT, 3000);
      assert.equal(c.ISSUER, 'http://localhost:3000');
      assert.equal(c.DATA_DIR, './data');
      assert.equal(c.ARGON2_MEMORY_KIB, 19456);
      assert.equal(c.ARGON2_TIME_COST, 2);
      assert.equal(c.ARGON2_PARALLELISM, 1);
      assert.equal(c.PASSWORD_MIN_LENGTH, 8, 'a second factor for everyone (the default) allows 8 (NIST 800-63B)');
      assert.equal(parseConfig({ TWO_FACTOR: 'admins' }).PASSWORD_MIN_LENGTH, 15, 'password-only users need 15');
      assert.equal(c.PASSWORD_MAX_LENGTH, 256);
      assert.equal(c.TRUST_PROXY_HOPS, 0);
      assert.equal(c.LOG_LEVEL, 'info');
      assert.equal(c.REDIS_URL, undefined, 'SQLite unless a Redis URL is given');
      assert.equal(c.REDIS_CLUSTER_NODES, undefined);
      assert.equal(c.JWKS, undefined, 'development generates its keys');
      assert.equal(c.COOKIE_KEYS, undefined);
      assert.equal(c.HMAC_KEYS, undefined);
      assert.equal(c.DEV_OUTBOX, true);
      assert.equal(c.DEMO, true);
      assert.equal(c.MAIL_FROM, '"rekey" <no-reply@localhost>');
    });

    it('applies exactly the default the reference documents for every plain-valued setting', function () {
      const c = parseConfig({}) as Record<string, unknown>;
      let checked = 0;
      for (const name of Object.keys(settings) as SettingName[]) {
        const text = settings[name].defaultText;
        if (!/^[\w.:/-]+$/.test(text)) continue; // "(unset…)", "$PORT"-style and prose defaults
        assert.equal(String(c[name]), text, `${name}: the reference says the default is ${text}`);
        checked++;
      }
      assert.ok(checked >= 25, `only ${checked} settings checked`);
    });

    it('derives ISSUER from PORT and strips a trailing slash from an explicit ISSUER', function () {
      assert.equal(parseConfig({ PORT: '8080' }).ISSUER, 'http://localhost:8080');
      assert.equal(parseConfig({ ISSUER: 'https://id.example.com/' }).ISSUER, 'https://id.example.com');
      assert.equal(parseConfig({ ISSUER: 'https://example.com/idp' }).ISSUER, 'https://example.com/idp');
    });

    it('derives the mail sender from PRODUCT_NAME and the ISSUER host', function () {
      const c = parseConfig({ PRODUCT_NAME: 'Acme Accounts', ISSUER: 'https://id.acme.test' });
      assert.equal(c.MAIL_FROM, '"Acme Accounts" <no-reply@id.acme.test>');
    });

    it('treats an empty value (e.g. `PORT=` in .env) as unset', function () {
      const c = parseConfig({ PORT: '', DATA_DIR: '', DEV_OUTBOX: '', LOG_LEVEL: '' });
      assert.equal(c.PORT, 3000);
      assert.equal(c.DATA_DIR, './data');
      assert.equal(c.DEV_OUTBOX, true);
      assert.equal(c.LOG_LEVEL, 'info');
    });

    it('has per-mode defaults: test is silent without demo; production has neither outbox nor demo', function () {
      const t = parseConfig({ NODE_ENV: 'test' });
      assert.equal(t.LOG_LEVEL, 'silent');
      assert.equal(t.DEMO, false);
      assert.equal(t.DEV_OUTBOX, true);
      const p = parseConfig(productionEnv);
      assert.equal(p.DEV_OUTBOX, false);
      assert.equal(p.DEMO, false);
      assert.equal(p.LOG_LEVEL, 'info');
    });

    it('accepts the usual spellings of booleans and explicit overrides', function () {
      for (const yes of ['true', 'TRUE', '1', 'yes', 'on']) assert.equal(parseConfig({ DEV_OUTBOX: yes }).DEV_OUTBOX, true, yes);
      for (const no of ['false', '0', 'no', 'Off']) assert.equal(parseConfig({ DEV_OUTBOX: no }).DEV_OUTBOX, false, no);
      const c = parseConfig({ PORT: ' 0 ', TRUST_PROXY_HOPS: '2', COOKIE_KEYS: `${KEY_A}, ${KEY_B}`, REDIS_CLUSTER_NODES: 'r1:7000, r2:7001' });
      assert.equal(c.PORT, 0);
      assert.equal(c.TRUST_PROXY_HOPS, 2);
      assert.deepEqual(c.COOKIE_KEYS, [KEY_A, KEY_B], 'comma-separated, first one signs');
      assert.deepEqual(c.REDIS_CLUSTER_NODES, ['r1:7000', 'r2:7001']);
    });
  });

  describe('a bad value stops start-up with a message naming the variable, the value and what is allowed', function () {
    const cases: [SettingName, string][] = [
      ['PORT', 'abc'],
      ['PORT', '70000'],
      ['PORT', '3000.5'],
      ['ISSUER', 'ftp://x'],
      ['ISSUER', 'not a url'],
      ['ISSUER', 'https://id.example.com/?tenant=1'],
      ['NODE_ENV', 'staging'],
      ['TRUST_PROXY_HOPS', '-1'],
      ['DEV_OUTBOX', 'maybe'],
      ['DEMO', 'sure'],
      ['LOG_LEVEL', 'verbose'],
      ['ARGON2_MEMORY_KIB', '1024'],
      ['PASSWORD_MIN_LENGTH', '4'],
      ['HELPDESK_URL', 'javascript:alert(1)'],
      ['MAIL_FROM', 'not an address'],
      ['REDIS_CLUSTER_NODES', 'redis-1'],
      ['REDIS_KEY_PREFIX', 'has space'],
    ];
    for (const [name, value] of cases) {
      it(`${name}=${value}`, function () {
        const message = configError(() => parseConfig({ [name]: value }));
        includesAll(message, name, JSON.stringify(value), settings[name].allowed);
      });
    }

    it('REDIS_URL=http://… is refused without echoing the secret value', function () {
      const value = 'http://admin:hunter2-redis-password@cache.internal:6379';
      const message = configError(() => parseConfig({ REDIS_URL: value }));
      includesAll(message, 'REDIS_URL', '(secret value hidden)', settings.REDIS_URL.allowed);
      assert.ok(!message.includes('hunter2'), `the secret leaked: ${message}`);
      assert.ok(!message.includes('cache.internal'), `the secret leaked: ${message}`);
    });

    for (const name of ['COOKIE_KEYS', 'HMAC_KEYS'] as const) {
      it(`${name} with a key shorter than 32 characters is refused without echoing the keys`, function () {
        const message = configError(() => parseConfig({ [name]: `${KEY_A},tooShortSecret42` }));
        includesAll(message, name, '(secret value hidden)', settings[name].allowed);
        assert.ok(!message.includes('tooShortSecret42') && !message.includes(KEY_A), `the secret leaked: ${message}`);
      });
    }

    it('SMTP_URL with a password is refused without echoing it', function () {
      const message = configError(() => parseConfig({ SMTP_URL: 'http://mailer:s3cr3t-pw@mail.example.com' }));
      includesAll(message, 'SMTP_URL', '(secret value hidden)');
      assert.ok(!message.includes('s3cr3t-pw'), `the secret leaked: ${message}`);
    });

    it('shortens a very long bad value in the message', function () {
      const message = configError(() => parseConfig({ PRODUCT_NAME: 'x'.repeat(500) }));
      includesAll(message, 'PRODUCT_NAME', settings.PRODUCT_NAME.allowed);
      assert.ok(message.length < 250, `message is ${message.length} characters long`);
    });
  });

  describe('refused combinations', function () {
    it('REDIS_URL together with REDIS_CLUSTER_NODES', function () {
      const message = configError(() => parseConfig({ REDIS_URL: 'redis://cache:6379', REDIS_CLUSTER_NODES: 'r1:7000' }));
      includesAll(message, 'REDIS_URL', 'REDIS_CLUSTER_NODES');
      assert.ok(!message.includes('cache:6379'), 'the secret REDIS_URL value is not echoed');
    });

    it('PASSWORD_MIN_LENGTH above PASSWORD_MAX_LENGTH cannot be configured', function () {
      // The ranges meet at 64: equal is fine, anything crossing is refused naming the variable.
      const c = parseConfig({ PASSWORD_MIN_LENGTH: '64', PASSWORD_MAX_LENGTH: '64' });
      assert.equal(c.PASSWORD_MIN_LENGTH, 64);
      assert.equal(c.PASSWORD_MAX_LENGTH, 64);
      includesAll(configError(() => parseConfig({ PASSWORD_MIN_LENGTH: '64', PASSWORD_MAX_LENGTH: '63' })), 'PASSWORD_MAX_LENGTH', '"63"');
      includesAll(configError(() => parseConfig({ PASSWORD_MIN_LENGTH: '300', PASSWORD_MAX_LENGTH: '256' })), 'PASSWORD_MIN_LENGTH', '"300"');
    });

    it('SIGNIN_LOCKOUT_SECONDS larger than SIGNIN_LOCKOUT_MAX_SECONDS', function () {
      const message = configError(() => parseConfig({ SIGNIN_LOCKOUT_SECONDS: '7200', SIGNIN_LOCKOUT_MAX_SECONDS: '3600' }));
      includesAll(message, 'SIGNIN_LOCKOUT_SECONDS=7200', 'SIGNIN_LOCKOUT_MAX_SECONDS=3600');
    });
  });

  describe('production refuses unsafe settings', function () {
    const without = (env: Env, name: string): Env => Object.fromEntries(Object.entries(env).filter(([k]) => k !== name));

    it('a complete production config parses, with the dev outbox and the demo off', function () {
      const c = parseConfig(productionEnv);
      assert.equal(c.NODE_ENV, 'production');
      assert.equal(c.ISSUER, 'https://id.example.com');
      assert.equal(c.DEV_OUTBOX, false);
      assert.equal(c.DEMO, false);
      assert.deepEqual(c.COOKIE_KEYS, [KEY_A]);
      assert.deepEqual(c.HMAC_KEYS, [KEY_B]);
      assert.equal(parseJwks(c.JWKS!).keys[0]!.kid, signingKey.kid);
    });

    const refusals: [string, (env: Env) => Env, string[]][] = [
      ['JWKS is missing', (e) => without(e, 'JWKS'), ['JWKS', 'signing keys']],
      ['COOKIE_KEYS is missing', (e) => without(e, 'COOKIE_KEYS'), ['COOKIE_KEYS', 'cookie keys']],
      ['HMAC_KEYS is missing', (e) => without(e, 'HMAC_KEYS'), ['HMAC_KEYS']],
      ['the ISSUER is http', (e) => ({ ...e, ISSUER: 'http://id.example.com' }), ['ISSUER=http://id.example.com', 'https']],
      ['no proxy is trusted', (e) => without(e, 'TRUST_PROXY_HOPS'), ['TRUST_PROXY_HOPS=0', 'proxy']],
      ['DEV_OUTBOX=true', (e) => ({ ...e, DEV_OUTBOX: 'true' }), ['DEV_OUTBOX=true']],
      ['DEMO=true', (e) => ({ ...e, DEMO: 'true' }), ['DEMO=true']],
    ];
    for (const [what, change, parts] of refusals) {
      it(`when ${what}`, function () {
        includesAll(configError(() => parseConfig(change(productionEnv))), 'NODE_ENV=production', ...parts);
      });
    }

    it('says what is wrong in a different message for each refusal', function () {
      const messages = refusals.map(([, change]) => configError(() => parseConfig(change(productionEnv))));
      assert.equal(new Set(messages).size, refusals.length, messages.join('\n'));
    });

    it('does not start in production with nothing configured, and names JWKS first', function () {
      includesAll(configError(() => parseConfig({ NODE_ENV: 'production' })), 'NODE_ENV=production', 'JWKS');
    });
  });

  describe('.env and NAME_FILE secrets', function () {
    let dir: string;
    beforeEach(function () {
      dir = mkdtempSync(join(tmpdir(), 'rekey-config-'));
    });
    afterEach(function () {
      rmSync(dir, { recursive: true, force: true });
    });

    it('reads .env, but real environment variables win', function () {
      const dotenv = join(dir, '.env');
      writeFileSync(dotenv, 'PORT=4000\nPRODUCT_NAME="Acme Accounts"\n# comment\nDATA_DIR=/var/lib/rekey\n');
      const c = parseConfig(readEnvironment({ PORT: '5000' }, dotenv));
      assert.equal(c.PORT, 5000, 'the real variable wins over .env');
      assert.equal(c.ISSUER, 'http://localhost:5000');
      assert.equal(c.PRODUCT_NAME, 'Acme Accounts', 'taken from .env');
      assert.equal(c.DATA_DIR, '/var/lib/rekey');
    });

    it('a missing .env is fine', function () {
      assert.equal(parseConfig(readEnvironment({ PORT: '4001' }, join(dir, 'nothing-here.env'))).PORT, 4001);
    });

    it('a bad value from .env is reported like any other', function () {
      const dotenv = join(dir, '.env');
      writeFileSync(dotenv, 'TRUST_PROXY_HOPS=eleven\n');
      includesAll(configError(() => parseConfig(readEnvironment({}, dotenv))), 'TRUST_PROXY_HOPS', '"eleven"');
    });

    it('COOKIE_KEYS_FILE reads the keys from a file (trailing newline ignored)', function () {
      const file = join(dir, 'cookie-keys');
      writeFileSync(file, `${KEY_A},${KEY_B}\n`);
      const c = parseConfig(readEnvironment({ COOKIE_KEYS_FILE: file }));
      assert.deepEqual(c.COOKIE_KEYS, [KEY_A, KEY_B]);
    });

    it('JWKS_FILE named in .env reads the signing keys, and production accepts them', function () {
      const jwks = join(dir, 'jwks.json');
      writeFileSync(jwks, JSON.stringify({ keys: [signingKey] }));
      const dotenv = join(dir, '.env');
      writeFileSync(dotenv, `JWKS_FILE=${jwks}\n`);
      const env = { ...productionEnv };
      delete env.JWKS;
      const c = parseConfig(readEnvironment(env, dotenv));
      assert.equal(parseJwks(c.JWKS!).keys[0]!.kid, signingKey.kid);
    });

    it('a short key read from a file is refused without echoing it', function () {
      const file = join(dir, 'hmac-keys');
      writeFileSync(file, 'short-secret-from-file\n');
      const message = configError(() => parseConfig(readEnvironment({ HMAC_KEYS_FILE: file })));
      includesAll(message, 'HMAC_KEYS', '(secret value hidden)');
      assert.ok(!message.includes('short-secret-from-file'), `the secret leaked: ${message}`);
    });

    it('NAME and NAME_FILE both set is an error naming both', function () {
      const file = join(dir, 'cookie-keys');
      writeFileSync(file, KEY_A);
      const message = configError(() => readEnvironment({ COOKIE_KEYS: KEY_B, COOKIE_KEYS_FILE: file }));
      includesAll(message, 'COOKIE_KEYS', 'COOKIE_KEYS_FILE');
      assert.ok(!message.includes(KEY_A) && !message.includes(KEY_B), `the secret leaked: ${message}`);
    });

    it('NAME in .env and NAME_FILE in the environment is also an error', function () {
      const file = join(dir, 'hmac-keys');
      writeFileSync(file, KEY_A);
      const dotenv = join(dir, '.env');
      writeFileSync(dotenv, `HMAC_KEYS=${KEY_B}\n`);
      includesAll(configError(() => readEnvironment({ HMAC_KEYS_FILE: file }, dotenv)), 'HMAC_KEYS', 'HMAC_KEYS_FILE');
    });

    it('an unreadable NAME_FILE is an error naming the variable and the path', function () {
      const missing = join(dir, 'no-such-file');
      includesAll(configError(() => readEnvironment({ JWKS_FILE: missing })), 'JWKS_FILE', missing, 'cannot read');
      includesAll(configError(() => readEnvironment({ COOKIE_KEYS_FILE: dir })), 'COOKIE_KEYS_FILE', 'cannot read');
    });
  });

  describe('JWKS', function () {
    const check = (raw: string, ...parts: string[]): void => includesAll(configError(() => parseJwks(raw)), 'JWKS', ...parts);

    it('accepts a JWK Set of private keys and keeps their order (the first signs)', function () {
      const jwks = parseJwks(JSON.stringify({ keys: [signingKey, otherKey] }));
      assert.deepEqual(jwks.keys.map((k) => k.kid), [signingKey.kid, otherKey.kid]);
      assert.equal(typeof jwks.keys[0]!.d, 'string');
    });

    it('refuses text that is not JSON', function () {
      check('{keys: nope', 'not JSON');
    });

    it('refuses a set without keys', function () {
      check('{}', '"keys"');
      check('{"keys":[]}', '"keys"');
      check('[]', '"keys"');
    });

    it('refuses a key without kid', function () {
      const { kid: _kid, ...noKid } = signingKey;
      check(JSON.stringify({ keys: [noKid] }), 'kid');
    });

    it('refuses a duplicate kid, naming it', function () {
      check(JSON.stringify({ keys: [signingKey, { ...otherKey, kid: signingKey.kid }] }), signingKey.kid, 'twice');
    });

    it('refuses a public-only key, naming it', function () {
      const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicOnly } = otherKey;
      check(JSON.stringify({ keys: [signingKey, publicOnly] }), otherKey.kid, 'not a private key');
    });
  });

  describe('docs/configuration.md', function () {
    const docsUrl = new URL('../../docs/configuration.md', import.meta.url);

    it('is the current output of the schema (run `npm run docs:config` when this fails)', function () {
      const onDisk = readFileSync(docsUrl, 'utf8');
      assert.ok(
        onDisk === configurationReference(),
        'docs/configuration.md is stale: run `npm run docs:config` and commit the result',
      );
    });

    it('documents every setting, marking secret ones with their NAME_FILE', function () {
      const reference = configurationReference();
      for (const name of Object.keys(settings) as SettingName[]) {
        assert.ok(reference.includes(`| \`${name}\``), `${name} is missing from the reference`);
        if ((settings[name] as { secret?: boolean }).secret) {
          assert.ok(reference.includes(`\`${name}\` *secret* (\`${name}_FILE\`)`), `${name} is not marked secret`);
        }
      }
    });

    it('has one section per group, listing every setting of that group', function () {
      const reference = configurationReference();
      const headings = reference.split('\n').filter((l) => l.startsWith('## '));
      assert.equal(new Set(headings).size, headings.length, `a group appears twice: ${headings.join(', ')}`);
      const groups = new Set(Object.values(settings).map((s) => s.group));
      assert.deepEqual(new Set(headings.map((h) => h.slice(3))), groups);
    });
  });
});
