/**
 * The self-service password reset policy and delivery settings: documented defaults, typed
 * values, one clear message per bad value (secrets never echoed), and the combinations that
 * stop start-up, each naming the variables that clash.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, readEnvironment, type Config } from '../../src/config/load.ts';
import { METHOD_KINDS, settings, type Env, type MethodKind, type SettingName } from '../../src/config/schema.ts';
import { configurationReference } from '../../src/config/reference.ts';
import { generateSigningKey } from '../../src/keys.ts';
import { configError } from '../support/config-error.ts';

const KEY_A = 'a'.repeat(32);
const KEY_B = 'b'.repeat(40);
const TOTP_KEY = 't'.repeat(32);
const SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TOKEN = 'twilio-auth-token-0123456789abcdef';
const WEBHOOK_SECRET = 'w'.repeat(32);

function includesAll(message: string, ...parts: string[]): void {
  for (const part of parts) assert.ok(message.includes(part), `expected ${JSON.stringify(message)} to include ${JSON.stringify(part)}`);
}

/** Compile-time check that a value has exactly type T (tsc fails on a mismatch). */
type Exactly<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function exactType<A, B>(_proof: Exactly<A, B>): void {}

describe('self-service password reset policy and delivery settings', function () {
  let productionEnv: Env;

  before(function () {
    productionEnv = {
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.com',
      TRUST_PROXY_HOPS: '1',
      JWKS: JSON.stringify({ keys: [generateSigningKey()] }),
      COOKIE_KEYS: KEY_A,
      HMAC_KEYS: KEY_B,
      TOTP_KEYS: TOTP_KEY,
      SMS_GATEWAY: 'twilio',
      TWILIO_ACCOUNT_SID: SID,
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_FROM: '+4915112345678',
      PHONE_COUNTRIES: 'DE,AT,CH',
    };
  });

  describe('defaults', function () {
    it('match the documented policy', function () {
      const c = parseConfig({});
      assert.equal(c.SSPR_SCOPE, 'all');
      assert.equal(c.SSPR_GROUPS, undefined);
      assert.deepEqual(c.SSPR_METHODS, ['email', 'mobile_phone', 'authenticator_app', 'recovery_codes']);
      assert.ok(!c.SSPR_METHODS.includes('security_questions'), 'security questions are off by default');
      assert.ok(!c.SSPR_METHODS.includes('office_phone'), 'office phone is off by default');
      assert.equal(c.SSPR_METHODS_REQUIRED, 1);
      assert.equal(c.SSPR_PROOFS_REQUIRED, 1);
      assert.equal(c.SSPR_REGISTER_AT_SIGNIN, true);
      assert.equal(c.SSPR_POSTPONE_LIMIT, 0);
      assert.equal(c.SSPR_RECONFIRM_DAYS, 180);
      assert.equal(c.SSPR_BOOTSTRAP, 'email');
      assert.equal(c.SSPR_QUESTIONS_REGISTER, 3);
      assert.equal(c.SSPR_QUESTIONS_ANSWER, 3);
      assert.deepEqual(c.SSPR_CUSTOM_QUESTIONS, []);
      assert.equal(c.TAP_TTL_HOURS, 8);
      assert.equal(c.INVITE_TTL_HOURS, 72);
      assert.equal(c.RECENT_PROOF_MINUTES, 10);
    });

    it('use the recommended code lengths, lifetimes and send throttles', function () {
      const c = parseConfig({});
      assert.equal(c.EMAIL_CODE_DIGITS, 8);
      assert.equal(c.PHONE_CODE_DIGITS, 6);
      assert.equal(c.CODE_TTL_SECONDS, 600);
      assert.equal(c.CODE_MAX_ATTEMPTS, 5);
      assert.equal(c.EMAIL_SEND_LIMIT, 10);
      assert.equal(c.EMAIL_SEND_WINDOW_SECONDS, 600);
      assert.equal(c.PHONE_SEND_LIMIT, 5);
      assert.equal(c.PHONE_SEND_WINDOW_SECONDS, 3600);
      assert.equal(c.SEND_BLOCK_SECONDS, 86400);
      // ASVS 6.5.5: an authenticator code lives one 30-second step, no more.
      assert.equal(c.TOTP_DRIFT_STEPS, 0);
    });

    it('send no SMS anywhere until countries and a gateway are configured; TOTP keys are generated elsewhere in development', function () {
      const c = parseConfig({});
      assert.deepEqual(c.PHONE_COUNTRIES, [], 'empty allowlist: phones refused');
      assert.equal(c.PHONE_DEFAULT_REGION, undefined);
      assert.equal(c.SMS_GATEWAY, 'none');
      assert.equal(c.TWILIO_ACCOUNT_SID, undefined);
      assert.equal(c.TWILIO_AUTH_TOKEN, undefined);
      assert.equal(c.TWILIO_FROM, undefined);
      assert.equal(c.TWILIO_API_BASE, 'https://api.twilio.com');
      assert.equal(c.SMS_WEBHOOK_URL, undefined);
      assert.equal(c.SMS_WEBHOOK_SECRET, undefined);
      assert.equal(c.GATEWAY_TIMEOUT_MS, 10000);
      assert.equal(c.TOTP_KEYS, undefined);
    });

    it('treat empty values (e.g. `SSPR_METHODS=` in .env) as unset', function () {
      const c = parseConfig({ SSPR_METHODS: ' ', SSPR_GROUPS: '', PHONE_COUNTRIES: '', SSPR_CUSTOM_QUESTIONS: '', TOTP_KEYS: '' });
      assert.deepEqual(c.SSPR_METHODS, ['email', 'mobile_phone', 'authenticator_app', 'recovery_codes']);
      assert.equal(c.SSPR_GROUPS, undefined);
      assert.deepEqual(c.PHONE_COUNTRIES, []);
      assert.deepEqual(c.SSPR_CUSTOM_QUESTIONS, []);
      assert.equal(c.TOTP_KEYS, undefined);
    });

    it('hands out a fresh default methods array each time', function () {
      const a = parseConfig({});
      const b = parseConfig({});
      assert.notEqual(a.SSPR_METHODS, b.SSPR_METHODS);
    });
  });

  describe('typed values', function () {
    it('parse into the declared types', function () {
      const c: Config = parseConfig({});
      exactType<typeof c.SSPR_SCOPE, 'none' | 'all' | 'groups'>(true);
      exactType<typeof c.SSPR_GROUPS, string[] | undefined>(true);
      exactType<typeof c.SSPR_METHODS, MethodKind[]>(true);
      exactType<typeof c.SSPR_METHODS_REQUIRED, 1 | 2>(true);
      exactType<typeof c.SSPR_PROOFS_REQUIRED, 1 | 2>(true);
      exactType<typeof c.SSPR_REGISTER_AT_SIGNIN, boolean>(true);
      exactType<typeof c.SSPR_POSTPONE_LIMIT, number>(true);
      exactType<typeof c.SSPR_BOOTSTRAP, 'email' | 'tap' | 'password'>(true);
      exactType<typeof c.SSPR_CUSTOM_QUESTIONS, string[]>(true);
      exactType<typeof c.PHONE_COUNTRIES, string[]>(true);
      exactType<typeof c.PHONE_DEFAULT_REGION, string | undefined>(true);
      exactType<typeof c.SMS_GATEWAY, 'none' | 'twilio' | 'webhook'>(true);
      exactType<typeof c.TWILIO_API_BASE, string>(true);
      exactType<typeof c.TOTP_KEYS, string[] | undefined>(true);
      exactType<typeof c.GATEWAY_TIMEOUT_MS, number>(true);
    });

    it('lists are split and trimmed; methods keep the given order', function () {
      const c = parseConfig({
        SSPR_METHODS: ' recovery_codes , security_questions,authenticator_app ',
        SSPR_SCOPE: 'groups',
        SSPR_GROUPS: 'staff, IT Admins ,students',
        SSPR_CUSTOM_QUESTIONS: ' What was the name of your first school? |In which city  did you meet your partner?',
        TOTP_KEYS: `${TOTP_KEY} , ${KEY_B}`,
      });
      assert.deepEqual(c.SSPR_METHODS, ['recovery_codes', 'security_questions', 'authenticator_app']);
      assert.deepEqual(c.SSPR_GROUPS, ['staff', 'IT Admins', 'students']);
      assert.deepEqual(c.SSPR_CUSTOM_QUESTIONS, [
        'What was the name of your first school?',
        'In which city did you meet your partner?',
      ]);
      assert.deepEqual(c.TOTP_KEYS, [TOTP_KEY, KEY_B], 'newest first');
    });

    it('country codes are upper-cased', function () {
      const c = parseConfig({ PHONE_COUNTRIES: 'de, at,Ch', PHONE_DEFAULT_REGION: 'de' });
      assert.deepEqual(c.PHONE_COUNTRIES, ['DE', 'AT', 'CH']);
      assert.equal(c.PHONE_DEFAULT_REGION, 'DE');
    });

    it('numbers and enums take every allowed value', function () {
      const c = parseConfig({
        SSPR_METHODS: 'email,mobile_phone,office_phone,authenticator_app,security_questions,recovery_codes,security_key',
        SSPR_METHODS_REQUIRED: '2',
        SSPR_PROOFS_REQUIRED: '2',
        SSPR_REGISTER_AT_SIGNIN: 'false',
        SSPR_POSTPONE_LIMIT: '10',
        SSPR_RECONFIRM_DAYS: '0',
        SSPR_BOOTSTRAP: 'tap',
        SSPR_QUESTIONS_REGISTER: '5',
        SSPR_QUESTIONS_ANSWER: '4',
        TAP_TTL_HOURS: '1',
        INVITE_TTL_HOURS: '720',
        RECENT_PROOF_MINUTES: '60',
        EMAIL_CODE_DIGITS: '10',
        PHONE_CODE_DIGITS: '8',
        CODE_TTL_SECONDS: '60',
        CODE_MAX_ATTEMPTS: '1',
        SEND_BLOCK_SECONDS: '604800',
        GATEWAY_TIMEOUT_MS: '1000',
        TOTP_DRIFT_STEPS: '1',
      });
      assert.deepEqual(c.SSPR_METHODS, [...METHOD_KINDS]);
      assert.equal(c.SSPR_METHODS_REQUIRED, 2);
      assert.equal(c.SSPR_PROOFS_REQUIRED, 2);
      assert.equal(c.SSPR_REGISTER_AT_SIGNIN, false);
      assert.equal(c.SSPR_POSTPONE_LIMIT, 10);
      assert.equal(c.SSPR_RECONFIRM_DAYS, 0);
      assert.equal(c.SSPR_BOOTSTRAP, 'tap');
      assert.equal(c.SSPR_QUESTIONS_REGISTER, 5);
      assert.equal(c.SSPR_QUESTIONS_ANSWER, 4);
      assert.equal(c.TAP_TTL_HOURS, 1);
      assert.equal(c.INVITE_TTL_HOURS, 720);
      assert.equal(c.RECENT_PROOF_MINUTES, 60);
      assert.equal(c.EMAIL_CODE_DIGITS, 10);
      assert.equal(c.PHONE_CODE_DIGITS, 8);
      assert.equal(c.CODE_TTL_SECONDS, 60);
      assert.equal(c.CODE_MAX_ATTEMPTS, 1);
      assert.equal(c.SEND_BLOCK_SECONDS, 604800);
      assert.equal(c.GATEWAY_TIMEOUT_MS, 1000);
      assert.equal(c.TOTP_DRIFT_STEPS, 1);
      assert.equal(parseConfig({ TOTP_DRIFT_STEPS: '0' }).TOTP_DRIFT_STEPS, 0);
      assert.equal(parseConfig({ SSPR_SCOPE: 'none' }).SSPR_SCOPE, 'none');
      assert.equal(parseConfig({ SSPR_BOOTSTRAP: 'password' }).SSPR_BOOTSTRAP, 'password');
    });

    it('gateway settings keep their values; a trailing slash of TWILIO_API_BASE is dropped', function () {
      const t = parseConfig({ SMS_GATEWAY: 'twilio', TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM: '+15005550006', TWILIO_API_BASE: 'http://127.0.0.1:4010/' });
      assert.equal(t.SMS_GATEWAY, 'twilio');
      assert.equal(t.TWILIO_ACCOUNT_SID, SID);
      assert.equal(t.TWILIO_AUTH_TOKEN, TOKEN);
      assert.equal(t.TWILIO_FROM, '+15005550006');
      assert.equal(t.TWILIO_API_BASE, 'http://127.0.0.1:4010', 'http is fine outside production (tests use a local server)');
      const w = parseConfig({ SMS_GATEWAY: 'webhook', SMS_WEBHOOK_URL: 'https://sms.internal/send', SMS_WEBHOOK_SECRET: WEBHOOK_SECRET });
      assert.equal(w.SMS_GATEWAY, 'webhook');
      assert.equal(w.SMS_WEBHOOK_URL, 'https://sms.internal/send');
      assert.equal(w.SMS_WEBHOOK_SECRET, WEBHOOK_SECRET);
    });

    it('TOTP_KEYS_FILE reads the keys from a file', function () {
      const dir = mkdtempSync(join(tmpdir(), 'rekey-policy-'));
      try {
        const file = join(dir, 'totp-keys');
        writeFileSync(file, `${TOTP_KEY},${KEY_B}\n`);
        assert.deepEqual(parseConfig(readEnvironment({ TOTP_KEYS_FILE: file })).TOTP_KEYS, [TOTP_KEY, KEY_B]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a bad value stops start-up with a message naming the variable, the value and what is allowed', function () {
    const cases: [SettingName, string][] = [
      ['SSPR_SCOPE', 'everyone'],
      ['SSPR_SCOPE', 'All'],
      ['SSPR_GROUPS', 'staff,,students'],
      ['SSPR_GROUPS', 'staff,staff'],
      ['SSPR_GROUPS', `staff,${'g'.repeat(257)}`],
      ['SSPR_METHODS', 'email,sms'],
      ['SSPR_METHODS', 'email,email'],
      ['SSPR_METHODS', 'email,'],
      ['SSPR_METHODS', ','],
      ['SSPR_METHODS', 'Email'],
      ['SSPR_METHODS_REQUIRED', '0'],
      ['SSPR_METHODS_REQUIRED', '3'],
      ['SSPR_PROOFS_REQUIRED', 'two'],
      ['SSPR_PROOFS_REQUIRED', '1.5'],
      ['SSPR_REGISTER_AT_SIGNIN', 'sometimes'],
      ['SSPR_POSTPONE_LIMIT', '11'],
      ['SSPR_POSTPONE_LIMIT', '-1'],
      ['SSPR_RECONFIRM_DAYS', '731'],
      ['SSPR_BOOTSTRAP', 'sms'],
      ['SSPR_QUESTIONS_REGISTER', '2'],
      ['SSPR_QUESTIONS_REGISTER', '6'],
      ['SSPR_QUESTIONS_ANSWER', '2'],
      ['SSPR_QUESTIONS_ANSWER', '6'],
      ['SSPR_CUSTOM_QUESTIONS', 'Too short'],
      ['SSPR_CUSTOM_QUESTIONS', `What is your favourite colour?|${'x'.repeat(201)}`],
      ['SSPR_CUSTOM_QUESTIONS', 'What is your favourite colour?|what is  your favourite colour?'],
      ['SSPR_CUSTOM_QUESTIONS', 'What is your favourite colour?|'],
      ['SSPR_CUSTOM_QUESTIONS', 'What is your favourite colour?|What is your favourite colour\uFF1F'],
      ['SSPR_CUSTOM_QUESTIONS', 'What is your\u0000 favourite colour?'],
      ['TAP_TTL_HOURS', '0'],
      ['TAP_TTL_HOURS', '9'],
      ['INVITE_TTL_HOURS', '721'],
      ['RECENT_PROOF_MINUTES', '0'],
      ['RECENT_PROOF_MINUTES', '61'],
      ['EMAIL_CODE_DIGITS', '5'],
      ['EMAIL_CODE_DIGITS', '11'],
      ['PHONE_CODE_DIGITS', '4'],
      ['CODE_TTL_SECONDS', '601'],
      ['CODE_TTL_SECONDS', '59'],
      ['CODE_MAX_ATTEMPTS', '0'],
      ['CODE_MAX_ATTEMPTS', '11'],
      ['TOTP_DRIFT_STEPS', '2'],
      ['TOTP_DRIFT_STEPS', '-1'],
      ['TOTP_DRIFT_STEPS', 'yes'],
      ['EMAIL_SEND_LIMIT', '0'],
      ['EMAIL_SEND_LIMIT', '101'],
      ['EMAIL_SEND_WINDOW_SECONDS', '59'],
      ['PHONE_SEND_LIMIT', '101'],
      ['PHONE_SEND_WINDOW_SECONDS', '86401'],
      ['SEND_BLOCK_SECONDS', '604801'],
      ['SEND_BLOCK_SECONDS', '1d'],
      ['PHONE_COUNTRIES', 'DE,GBR'],
      ['PHONE_COUNTRIES', 'DE,D1'],
      ['PHONE_COUNTRIES', 'DE,de'],
      ['PHONE_COUNTRIES', 'DE,,AT'],
      ['PHONE_COUNTRIES', '+49'],
      ['PHONE_DEFAULT_REGION', 'DEU'],
      ['PHONE_DEFAULT_REGION', '49'],
      ['SMS_GATEWAY', 'vonage'],
      ['TWILIO_ACCOUNT_SID', 'AC123'],
      ['TWILIO_ACCOUNT_SID', `SK${'0'.repeat(32)}`],
      ['TWILIO_ACCOUNT_SID', `AC${'g'.repeat(32)}`],
      ['TWILIO_FROM', '4915112345678'],
      ['TWILIO_FROM', '+49 151 12345678'],
      ['TWILIO_FROM', '+1234567'],
      ['TWILIO_FROM', `+${'1'.repeat(16)}`],
      ['TWILIO_API_BASE', 'ftp://api.twilio.com'],
      ['TWILIO_API_BASE', 'api.twilio.com'],
      ['TWILIO_API_BASE', 'https://api.twilio.com/?x=1'],
      ['GATEWAY_TIMEOUT_MS', '999'],
      ['GATEWAY_TIMEOUT_MS', '30001'],
    ];
    for (const [name, value] of cases) {
      it(`${name}=${JSON.stringify(value).slice(0, 60)}`, function () {
        const message = configError(() => parseConfig({ [name]: value }));
        const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
        includesAll(message, `${name}=`, shown, settings[name].allowed);
      });
    }

    const secrets: [SettingName, string, string[]][] = [
      ['TOTP_KEYS', `${TOTP_KEY},tooShortTotpKey`, ['tooShortTotpKey', TOTP_KEY]],
      ['TWILIO_AUTH_TOKEN', 'twilio token hunter2', ['twilio token', 'hunter2']],
      ['SMS_WEBHOOK_SECRET', 'short-webhook-secret', ['short-webhook-secret']],
      ['SMS_WEBHOOK_URL', 'ftp://user:webhook-pass@sms.internal/send?token=abc123', ['webhook-pass', 'sms.internal', 'abc123']],
    ];
    for (const [name, value, leaks] of secrets) {
      it(`${name} with a bad value is refused without echoing the secret`, function () {
        const message = configError(() => parseConfig({ [name]: value }));
        includesAll(message, name, '(secret value hidden)', settings[name].allowed);
        for (const leak of leaks) assert.ok(!message.includes(leak), `the secret leaked: ${message}`);
      });
    }

    it('the secret settings are marked secret, so they may come from NAME_FILE and are never echoed', function () {
      for (const name of ['TOTP_KEYS', 'TWILIO_AUTH_TOKEN', 'SMS_WEBHOOK_SECRET', 'SMS_WEBHOOK_URL'] as const) {
        assert.equal(settings[name].secret, true, name);
      }
    });
  });

  describe('refused combinations name both variables', function () {
    const cases: [string, Env, string[]][] = [
      [
        'SSPR_METHODS_REQUIRED=2 with one method enabled',
        { SSPR_METHODS_REQUIRED: '2', SSPR_METHODS: 'authenticator_app', SSPR_SCOPE: 'none' },
        ['SSPR_METHODS_REQUIRED=2', 'SSPR_METHODS=authenticator_app'],
      ],
      [
        'SSPR_PROOFS_REQUIRED=2 with one method enabled',
        { SSPR_PROOFS_REQUIRED: '2', SSPR_METHODS: 'email', SSPR_SCOPE: 'none' },
        ['SSPR_PROOFS_REQUIRED=2', 'SSPR_METHODS=email'],
      ],
      [
        'SSPR_METHODS_REQUIRED=2 with one method, while in scope',
        { SSPR_METHODS_REQUIRED: '2', SSPR_METHODS: 'email' },
        ['SSPR_METHODS_REQUIRED=2', 'SSPR_METHODS=email'],
      ],
      [
        'only one method besides security questions while someone is in scope (admins need two)',
        { SSPR_METHODS: 'email,security_questions' },
        ['SSPR_SCOPE=all', 'SSPR_METHODS=email,security_questions', 'admins need two methods other than security questions'],
      ],
      [
        'a single method for the groups in scope (admins need two)',
        { SSPR_METHODS: 'recovery_codes', SSPR_SCOPE: 'groups', SSPR_GROUPS: 'staff' },
        ['SSPR_SCOPE=groups', 'SSPR_METHODS=recovery_codes', 'admins need two methods other than security questions'],
      ],
      [
        'SSPR_QUESTIONS_ANSWER above SSPR_QUESTIONS_REGISTER',
        { SSPR_QUESTIONS_ANSWER: '5', SSPR_QUESTIONS_REGISTER: '3' },
        ['SSPR_QUESTIONS_ANSWER=5 is more than SSPR_QUESTIONS_REGISTER=3'],
      ],
      ['SSPR_SCOPE=groups without SSPR_GROUPS', { SSPR_SCOPE: 'groups' }, ['SSPR_SCOPE=groups', 'SSPR_GROUPS']],
      ['SSPR_GROUPS while SSPR_SCOPE=all (a forgotten setting)', { SSPR_GROUPS: 'staff' }, ['SSPR_GROUPS', 'SSPR_SCOPE=all']],
      ['SSPR_GROUPS while SSPR_SCOPE=none', { SSPR_GROUPS: 'staff', SSPR_SCOPE: 'none' }, ['SSPR_GROUPS', 'SSPR_SCOPE=none']],
      [
        'SMS_GATEWAY=twilio without any Twilio setting',
        { SMS_GATEWAY: 'twilio' },
        ['SMS_GATEWAY=twilio', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'],
      ],
      [
        'SMS_GATEWAY=twilio without TWILIO_FROM',
        { SMS_GATEWAY: 'twilio', TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN },
        ['SMS_GATEWAY=twilio', 'not set: TWILIO_FROM'],
      ],
      [
        'SMS_GATEWAY=webhook without SMS_WEBHOOK_SECRET',
        { SMS_GATEWAY: 'webhook', SMS_WEBHOOK_URL: 'https://sms.internal/send' },
        ['SMS_GATEWAY=webhook', 'not set: SMS_WEBHOOK_SECRET'],
      ],
      [
        'SMS_GATEWAY=webhook without SMS_WEBHOOK_URL',
        { SMS_GATEWAY: 'webhook', SMS_WEBHOOK_SECRET: WEBHOOK_SECRET },
        ['SMS_GATEWAY=webhook', 'not set: SMS_WEBHOOK_URL'],
      ],
    ];
    for (const [what, env, parts] of cases) {
      it(what, function () {
        includesAll(configError(() => parseConfig(env)), ...parts);
      });
    }

    it('each refusal has its own message', function () {
      const messages = cases.map(([, env]) => configError(() => parseConfig(env)));
      // Two cases deliberately hit the same check with different values; messages still differ by value.
      assert.equal(new Set(messages).size, cases.length, messages.join('\n'));
    });

    it('secret values are not echoed in a combination message', function () {
      const message = configError(() => parseConfig({ SMS_GATEWAY: 'webhook', SMS_WEBHOOK_URL: 'https://sms.internal/send?token=abc123' }));
      assert.ok(!message.includes('abc123') && !message.includes('sms.internal'), `the secret leaked: ${message}`);
    });

    it('the edges of each check are allowed', function () {
      const two = parseConfig({ SSPR_METHODS: 'email,authenticator_app', SSPR_METHODS_REQUIRED: '2', SSPR_PROOFS_REQUIRED: '2' });
      assert.deepEqual(two.SSPR_METHODS, ['email', 'authenticator_app']);
      const none = parseConfig({ SSPR_SCOPE: 'none', SSPR_METHODS: 'security_questions', TWO_FACTOR: 'off' });
      assert.deepEqual(none.SSPR_METHODS, ['security_questions'], 'nobody in scope, so no admin needs two methods');
      const withQuestions = parseConfig({ SSPR_METHODS: 'email,authenticator_app,security_questions', SSPR_QUESTIONS_REGISTER: '5', SSPR_QUESTIONS_ANSWER: '5' });
      assert.equal(withQuestions.SSPR_QUESTIONS_ANSWER, 5);
      assert.deepEqual(parseConfig({ SSPR_SCOPE: 'groups', SSPR_GROUPS: 'staff' }).SSPR_GROUPS, ['staff']);
    });

    it('outside production, phone methods need neither a gateway nor countries (the dev outbox takes the messages)', function () {
      for (const NODE_ENV of ['development', 'test']) {
        const c = parseConfig({ NODE_ENV, SSPR_METHODS: 'mobile_phone,office_phone' });
        assert.equal(c.SMS_GATEWAY, 'none');
        assert.deepEqual(c.PHONE_COUNTRIES, []);
      }
    });
  });

  describe('production', function () {
    const without = (env: Env, ...names: string[]): Env => Object.fromEntries(Object.entries(env).filter(([k]) => !names.includes(k)));

    it('a complete production config with Twilio parses', function () {
      const c = parseConfig(productionEnv);
      assert.deepEqual(c.TOTP_KEYS, [TOTP_KEY]);
      assert.equal(c.SMS_GATEWAY, 'twilio');
      assert.deepEqual(c.PHONE_COUNTRIES, ['DE', 'AT', 'CH']);
      assert.equal(c.TWILIO_API_BASE, 'https://api.twilio.com');
    });

    it('a production config without phone methods needs no gateway and no countries', function () {
      const env = { ...without(productionEnv, 'SMS_GATEWAY', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM', 'PHONE_COUNTRIES'), SSPR_METHODS: 'email,authenticator_app,recovery_codes' };
      assert.equal(parseConfig(env).SMS_GATEWAY, 'none');
    });

    it('a production config with the webhook gateway parses', function () {
      const env = {
        ...without(productionEnv, 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'),
        SMS_GATEWAY: 'webhook',
        SMS_WEBHOOK_URL: 'https://sms.internal/send',
        SMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
      };
      assert.equal(parseConfig(env).SMS_GATEWAY, 'webhook');
    });

    const refusals: [string, (env: Env) => Env, string[]][] = [
      ['TOTP_KEYS is missing', (e) => without(e, 'TOTP_KEYS'), ['TOTP_KEYS', 'authenticator secrets']],
      [
        'phone methods are enabled with SMS_GATEWAY=none',
        (e) => without(e, 'SMS_GATEWAY', 'TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM'),
        ['SSPR_METHODS=email,mobile_phone,authenticator_app,recovery_codes', 'SMS_GATEWAY=none', 'phone methods need SMS_GATEWAY'],
      ],
      [
        'only the office phone is enabled with SMS_GATEWAY=none',
        (e) => ({ ...without(e, 'SMS_GATEWAY'), SSPR_METHODS: 'office_phone,authenticator_app' }),
        ['SSPR_METHODS=office_phone,authenticator_app', 'office_phone', 'SMS_GATEWAY=none'],
      ],
      [
        'phone methods are enabled with an empty PHONE_COUNTRIES',
        (e) => without(e, 'PHONE_COUNTRIES'),
        ['SSPR_METHODS=', 'mobile_phone', 'PHONE_COUNTRIES is empty'],
      ],
      [
        'TWILIO_API_BASE is http',
        (e) => ({ ...e, TWILIO_API_BASE: 'http://api.twilio.com' }),
        ['TWILIO_API_BASE=http://api.twilio.com', 'https'],
      ],
    ];
    for (const [what, change, parts] of refusals) {
      it(`refuses to start when ${what}`, function () {
        includesAll(configError(() => parseConfig(change(productionEnv))), 'NODE_ENV=production', ...parts);
      });
    }

    it('says what is wrong in a different message for each refusal', function () {
      const messages = refusals.map(([, change]) => configError(() => parseConfig(change(productionEnv))));
      assert.equal(new Set(messages).size, refusals.length, messages.join('\n'));
    });

    it('the Twilio credential check applies in production too', function () {
      includesAll(configError(() => parseConfig(without(productionEnv, 'TWILIO_AUTH_TOKEN'))), 'SMS_GATEWAY=twilio', 'TWILIO_AUTH_TOKEN');
    });
  });

  describe('docs/configuration.md', function () {
    const reference = configurationReference();
    const row = (name: SettingName): string => reference.split('\n').find((l) => l.startsWith(`| \`${name}\``)) ?? '';

    it('has the three new groups, and TOTP_KEYS under "Clients and keys"', function () {
      for (const group of ['Self-service password reset', 'Codes and throttles', 'Phones and gateway']) {
        assert.ok(reference.includes(`\n## ${group}\n`), `missing group ${group}`);
      }
      assert.equal(settings.TOTP_KEYS.group, 'Clients and keys');
      assert.ok(row('TOTP_KEYS').includes('*secret* (`TOTP_KEYS_FILE`)'));
    });

    it('says the admin policy is not configurable and warns that SSPR_BOOTSTRAP=password is weak', function () {
      assert.match(row('SSPR_METHODS_REQUIRED'), /Admins always need 2.*not configurable/);
      assert.match(row('SSPR_PROOFS_REQUIRED'), /Admins always prove 2, never with security questions.*not configurable/);
      assert.match(row('SSPR_BOOTSTRAP'), /WEAK/);
    });

    it('tells how to enable phones', function () {
      assert.match(row('PHONE_COUNTRIES'), /set it to enable the phone methods/);
      assert.match(row('SSPR_METHODS'), /email, mobile_phone, office_phone, authenticator_app, security_questions, recovery_codes/);
    });
  });
});
