import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { PasswordHasher } from '../../src/domain/password-hasher.ts';
import { SecretBox, keyId } from '../../src/domain/secret-box.ts';
import { Hmac } from '../../src/domain/secrets.ts';
import { authenticatorAppMethod, otpauthUri } from '../../src/domain/methods/authenticator-app.ts';
import {
  RECOVERY_CODE_ALPHABET,
  RECOVERY_CODE_LENGTH,
  TAG_BYTES,
  normalizeRecoveryCode,
  recoveryCodesMethod,
  remainingCodes,
  type RecoveryCodeHasher,
} from '../../src/domain/methods/recovery-codes.ts';
import { BUILT_IN_QUESTIONS, customQuestions } from '../../src/domain/methods/questions.ts';
import { securityQuestionsMethod } from '../../src/domain/methods/security-questions.ts';
import type {
  AuthenticatorMethod,
  FormInput,
  MethodContext,
  MethodError,
  RecoveryCodesMethod,
  SecurityQuestionsMethod,
  StepResult,
} from '../../src/domain/methods/types.ts';

const KEY_A = 'a'.repeat(20) + '-first-totp-key-0001';
const KEY_B = 'b'.repeat(20) + '-second-totp-key-002';

// A fake clock, 10 s into a 30 s time step.
let now = Math.floor(Date.UTC(2026, 10, 1) / 30_000) * 30_000 + 10_000;
const clock = () => now;
const stepNow = () => Math.floor(now / 30_000);

function ctx(over: Partial<MethodContext> = {}): MethodContext {
  return { accountId: 'acc-1', login: 'alice', admin: false, clock, ip: '192.0.2.1', purpose: 'register', ...over };
}

function value<T>(r: StepResult<T>): T {
  if (!r.ok) assert.fail(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.value;
}

function error<T>(r: StepResult<T>): MethodError {
  if (r.ok) assert.fail('expected an error');
  return r.error;
}

/** The TOTP code for the time step `offset` steps from now. */
function totp(secret: string, offset = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(now / 1000) + offset * 30 });
}

describe('SecretBox', () => {
  it('seals with a random IV and opens again', () => {
    const box = new SecretBox([KEY_A]);
    const a = box.seal('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    const b = box.seal('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    assert.notEqual(a.iv, b.iv);
    assert.notEqual(a.ct, b.ct);
    assert.equal(a.kid, keyId(KEY_A));
    assert.match(a.kid, /^[0-9a-f]{8}$/);
    assert.equal(box.open(a), 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    assert.equal(box.needsResealing(a), false);
  });

  it('rotates: an old seal opens after a new key is put first and needs resealing', () => {
    const old = new SecretBox([KEY_A]).seal('secret one');
    const rotated = new SecretBox([KEY_B, KEY_A]);
    assert.equal(rotated.open(old), 'secret one');
    assert.equal(rotated.needsResealing(old), true);
    const fresh = rotated.seal('secret one');
    assert.equal(fresh.kid, keyId(KEY_B));
    assert.equal(rotated.needsResealing(fresh), false);
    // Once the old key is gone, the old seal cannot be opened.
    assert.throws(() => new SecretBox([KEY_B]).open(old), /unknown key/);
  });

  it('refuses tampered ciphertext, tag, IV or kid', () => {
    const box = new SecretBox([KEY_A, KEY_B]);
    const sealed = box.seal('secret two');
    const flip = (s: string) => {
      const buf = Buffer.from(s, 'base64url');
      buf[0] = buf[0]! ^ 1;
      return buf.toString('base64url');
    };
    assert.throws(() => box.open({ ...sealed, ct: flip(sealed.ct) }));
    assert.throws(() => box.open({ ...sealed, tag: flip(sealed.tag) }));
    assert.throws(() => box.open({ ...sealed, iv: flip(sealed.iv) }));
    assert.throws(() => box.open({ ...sealed, kid: keyId(KEY_B) }));
  });

  it('refuses short keys and an empty key list', () => {
    assert.throws(() => new SecretBox([]));
    assert.throws(() => new SecretBox(['short key']));
  });
});

describe('authenticator app method', () => {
  const box = new SecretBox([KEY_A]);
  const method = authenticatorAppMethod({ box, issuer: 'Acme SSO' });

  async function register(): Promise<{ record: AuthenticatorMethod; secret: string }> {
    const started = value(await method.startRegistration(ctx(), {}));
    const secret = started.display.secretText!.replace(/ /g, '');
    const record = value(await method.finishRegistration(ctx(), started.pending, { code: await totp(secret) }));
    return { record, secret };
  }

  it('registers with a code from the shown secret', async () => {
    const started = value(await method.startRegistration(ctx(), {}));
    const { qrSvg, secretText } = started.display;
    assert.match(qrSvg!, /^<svg[\s\S]*<\/svg>\s*$/);
    assert.match(secretText!, /^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/, '160 bits = 32 base32 characters in groups of 4');
    const secret = secretText!.replace(/ /g, '');
    assert.equal(Buffer.byteLength(secret) * 5, 160);

    const record = value(await method.finishRegistration(ctx(), started.pending, { code: await totp(secret) }));
    assert.equal(record.kind, 'authenticator_app');
    assert.equal(record.registeredAt, now);
    assert.equal(record.confirmedAt, now);
    assert.equal(record.lastStep, stepNow());
    assert.equal(box.open(record.secret), secret);
    assert.equal(method.mask(record), 'Authenticator app');
    assert.equal(method.destination(record), undefined);
    assert.equal(method.strong, true);
    assert.equal(method.amr, 'otp');
  });

  it('builds the otpauth URI with issuer label and parameter', () => {
    const uri = otpauthUri('Acme SSO', 'alice@example.com', 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    assert.match(uri, /^otpauth:\/\/totp\/Acme%20SSO:alice%40example\.com\?/);
    assert.match(uri, /[?&]secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP(&|$)/);
    assert.match(uri, /[?&]issuer=Acme%20SSO(&|$)/);
  });

  it('refuses a wrong or malformed code at registration', async () => {
    const started = value(await method.startRegistration(ctx(), {}));
    const secret = started.display.secretText!.replace(/ /g, '');
    const good = await totp(secret);
    const wrong = String((Number(good) + 1) % 1_000_000).padStart(6, '0');
    assert.deepEqual(error(await method.finishRegistration(ctx(), started.pending, { code: wrong })), { id: 'code_wrong', field: 'code' });
    assert.deepEqual(error(await method.finishRegistration(ctx(), started.pending, { code: 'abc' })), { id: 'code_wrong', field: 'code' });
    assert.deepEqual(error(await method.finishRegistration(ctx(), started.pending, {})), { id: 'code_wrong', field: 'code' });
    // Spaces in the code are fine.
    value(await method.finishRegistration(ctx(), started.pending, { code: `${good.slice(0, 3)} ${good.slice(3)}` }));
  });

  it('keeps no secret in clear in the pending state or the record', async () => {
    const started = value(await method.startRegistration(ctx(), {}));
    const secret = started.display.secretText!.replace(/ /g, '');
    const pendingJson = JSON.stringify(started.pending);
    assert.ok(!pendingJson.includes(secret));
    assert.ok(!pendingJson.includes(started.display.secretText!));
    const record = value(await method.finishRegistration(ctx(), started.pending, { code: await totp(secret) }));
    const recordJson = JSON.stringify(record);
    assert.ok(!recordJson.includes(secret));
    assert.ok(!recordJson.toUpperCase().includes(secret.slice(0, 12)));
  });

  it('accepts a code once, refuses its replay, accepts the next step', async () => {
    const { record: registered, secret } = await register();
    value(await method.startChallenge(ctx({ purpose: 'signin' }), registered));
    // The registration code's step is used already.
    assert.deepEqual(error(await method.verifyChallenge(ctx(), registered, {}, { code: await totp(secret) })), { id: 'code_used', field: 'code' });

    now += 30_000;
    const code = await totp(secret);
    const { updated } = value(await method.verifyChallenge(ctx(), registered, {}, { code }));
    assert.ok(updated);
    assert.equal(updated.lastStep, stepNow());
    assert.equal(updated.lastUsedAt, now);
    assert.deepEqual(error(await method.verifyChallenge(ctx(), updated, {}, { code })), { id: 'code_used', field: 'code' });

    now += 30_000;
    const next = value(await method.verifyChallenge(ctx(), updated, {}, { code: await totp(secret) }));
    assert.equal(next.updated!.lastStep, stepNow());
  });

  it('accepts only the current 30-second step by default, so a code lives at most 30 s (TOTP_DRIFT_STEPS=0)', async () => {
    const { record, secret } = await register();
    now += 300_000;
    const current = await totp(secret);
    // The neighbouring steps' codes are wrong (unless one happens to equal the current code).
    for (const offset of [-1, 1, -2, 2]) {
      const code = await totp(secret, offset);
      if (code === current) continue;
      assert.deepEqual(error(await method.verifyChallenge(ctx(), record, {}, { code })), { id: 'code_wrong', field: 'code' }, `offset ${offset}`);
    }
    // The code works until the last millisecond of its step…
    const step = stepNow();
    now = (step + 1) * 30_000 - 1;
    const used = value(await method.verifyChallenge(ctx(), record, {}, { code: current }));
    assert.equal(used.updated!.lastStep, step);
    // …and not a millisecond later: 30 s after the step began it is dead, not merely used.
    now = (step + 1) * 30_000;
    if (current !== (await totp(secret))) assert.deepEqual(error(await method.verifyChallenge(ctx(), record, {}, { code: current })), { id: 'code_wrong', field: 'code' });
    // Registration confirms with the current step only, too.
    const started = value(await method.startRegistration(ctx(), {}));
    const fresh = started.display.secretText!.replace(/ /g, '');
    const previous = await totp(fresh, -1);
    if (previous !== (await totp(fresh))) assert.deepEqual(error(await method.finishRegistration(ctx(), started.pending, { code: previous })), { id: 'code_wrong', field: 'code' });
    now += 10_000;
  });

  it('refuses a drift setting other than 0 or 1', () => {
    assert.throws(() => authenticatorAppMethod({ box, issuer: 'Acme SSO', driftSteps: 2 as never }), /0 or 1/);
  });

  describe('with TOTP_DRIFT_STEPS=1', () => {
    const drifting = authenticatorAppMethod({ box, issuer: 'Acme SSO', driftSteps: 1 });

    it('accepts ±1 step and refuses ±2 steps', async () => {
      const { record, secret } = await register();
      now += 300_000;
      const before = value(await drifting.verifyChallenge(ctx(), record, {}, { code: await totp(secret, -1) }));
      assert.equal(before.updated!.lastStep, stepNow() - 1);
      const after = value(await drifting.verifyChallenge(ctx(), before.updated!, {}, { code: await totp(secret, 1) }));
      assert.equal(after.updated!.lastStep, stepNow() + 1);
      // The current step lies below the newest used one now.
      assert.equal(error(await drifting.verifyChallenge(ctx(), after.updated!, {}, { code: await totp(secret) })).id, 'code_used');

      now += 300_000;
      for (const offset of [-2, 2, -3, 3]) {
        const code = await totp(secret, offset);
        // A code of another step may collide with one inside the window (1 in 10^6): skip it.
        const inWindow = await Promise.all([-1, 0, 1].map((o) => totp(secret, o)));
        if (inWindow.includes(code)) continue;
        assert.equal(error(await drifting.verifyChallenge(ctx(), record, {}, { code })).id, 'code_wrong', `offset ${offset}`);
      }
    });

    it('still accepts each step once: a replay within the window is a used code', async () => {
      const { record, secret } = await register();
      now += 300_000;
      const code = await totp(secret, -1);
      const { updated } = value(await drifting.verifyChallenge(ctx(), record, {}, { code }));
      assert.deepEqual(error(await drifting.verifyChallenge(ctx(), updated!, {}, { code })), { id: 'code_used', field: 'code' });
      // The current step's code is new: accepted once.
      const next = value(await drifting.verifyChallenge(ctx(), updated!, {}, { code: await totp(secret) }));
      assert.equal(next.updated!.lastStep, stepNow());
    });
  });

  it('re-seals the secret under the newest key on use', async () => {
    const { record, secret } = await register();
    const rotated = authenticatorAppMethod({ box: new SecretBox([KEY_B, KEY_A]), issuer: 'Acme SSO' });
    now += 30_000;
    const { updated } = value(await rotated.verifyChallenge(ctx(), record, {}, { code: await totp(secret) }));
    assert.equal(updated!.secret.kid, keyId(KEY_B));
    assert.equal(new SecretBox([KEY_B]).open(updated!.secret), secret);
  });
});

describe('recovery codes method', () => {
  const hmac = new Hmac(['h'.repeat(32)]);
  // The password hasher (argon2id) at the test suites' fast parameters, counting its verifies.
  const argon = new PasswordHasher({ memoryCost: 7168, timeCost: 2, parallelism: 1 });
  const calls = { verify: 0, dummy: 0 };
  const hasher: RecoveryCodeHasher = {
    hash: (code) => argon.hash(code),
    verify: (hash, code) => ((calls.verify += 1), argon.verify(hash, code)),
    verifyDummy: (code) => ((calls.dummy += 1), argon.verifyDummy(code)),
  };
  const method = recoveryCodesMethod({ hmac, hasher });
  /** The slots' lookup tags a code's keyed hash picks. */
  const tagOf = (code: string, h = hmac): string => Buffer.from(h.digest('recovery-code', normalizeRecoveryCode(code)!), 'base64url').subarray(0, TAG_BYTES).toString('hex');

  async function register(): Promise<{ record: RecoveryCodesMethod; codes: string[] }> {
    const started = value(await method.startRegistration(ctx(), {}));
    const record = value(await method.finishRegistration(ctx(), started.pending, { saved: 'yes' }));
    return { record, codes: started.display.codes! };
  }

  it('generates 10 unique codes of at least 50 bits, shown once', async () => {
    const started = value(await method.startRegistration(ctx(), {}));
    const codes = started.display.codes!;
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    assert.equal(new Set(RECOVERY_CODE_ALPHABET).size, RECOVERY_CODE_ALPHABET.length);
    assert.ok(Math.log2(RECOVERY_CODE_ALPHABET.length) * RECOVERY_CODE_LENGTH >= 50);
    for (const code of codes) {
      assert.match(code, /^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
      for (const c of code.replace(/-/g, '')) assert.ok(RECOVERY_CODE_ALPHABET.includes(c));
    }
    const pendingJson = JSON.stringify(started.pending);
    for (const code of codes) {
      assert.ok(!pendingJson.includes(code));
      assert.ok(!pendingJson.includes(code.replace(/-/g, '')));
    }
  });

  it('needs the user to confirm the codes are saved', async () => {
    const started = value(await method.startRegistration(ctx(), {}));
    assert.deepEqual(error(await method.finishRegistration(ctx(), started.pending, {})), { id: 'recovery_codes_confirm', field: 'saved' });
    assert.equal(error(await method.finishRegistration(ctx(), started.pending, { saved: 'no' })).id, 'recovery_codes_confirm');
    const record = value(await method.finishRegistration(ctx(), started.pending, { saved: 'yes' }));
    assert.equal(record.codes.length, 10);
    assert.equal(remainingCodes(record), 10);
    assert.equal(method.mask(record), 'Recovery codes (10 left)');
    assert.equal(method.strong, true);
    assert.equal(method.destination(record), undefined);
    const recordJson = JSON.stringify(record);
    for (const code of started.display.codes!) {
      assert.ok(!recordJson.includes(code));
      assert.ok(!recordJson.includes(code.replace(/-/g, '')));
    }
  });

  it('accepts each code once', async () => {
    let { record, codes } = await register();
    for (const [i, code] of codes.entries()) {
      const { updated } = value(await method.verifyChallenge(ctx(), record, {}, { code }));
      assert.ok(updated);
      assert.equal(remainingCodes(updated), 9 - i);
      assert.equal(updated.codes.filter((c) => c.usedAt === now).length, i + 1);
      assert.deepEqual(error(await method.verifyChallenge(ctx(), updated, {}, { code })), { id: 'code_used', field: 'code' });
      record = updated;
    }
    assert.equal(method.mask(record), 'Recovery codes (0 left)');
  });

  it('accepts codes typed in another case, with spaces or without dashes', async () => {
    const { record, codes } = await register();
    const [a, b, c] = codes as [string, string, string];
    const variants: FormInput[] = [
      { code: `${a.slice(0, 4).toUpperCase()} ${a.slice(5, 9).toUpperCase()}-${a.slice(10)}` },
      { code: `  ${b.replace(/-/g, '').toUpperCase()}  ` },
      { code: c.replace(/-/g, ' - ') },
    ];
    let current = record;
    for (const input of variants) current = value(await method.verifyChallenge(ctx(), current, {}, input)).updated!;
    assert.equal(remainingCodes(current), 7);
  });

  it('refuses unknown and malformed codes', async () => {
    const { record } = await register();
    assert.deepEqual(error(await method.verifyChallenge(ctx(), record, {}, { code: '0000-0000-0000' })), { id: 'code_wrong', field: 'code' });
    assert.equal(error(await method.verifyChallenge(ctx(), record, {}, { code: 'not a code' })).id, 'code_wrong');
    assert.equal(error(await method.verifyChallenge(ctx(), record, {}, {})).id, 'code_wrong');
  });

  it('stores each code as argon2id with its own random salt and a short lookup tag, never its keyed hash (ASVS 6.5.2)', async () => {
    const started = value(await method.startRegistration(ctx(), {}));
    const codes = started.display.codes!;
    const record = value(await method.finishRegistration(ctx(), started.pending, { saved: 'yes' }));
    const salts = new Set<string>();
    for (const [i, slot] of record.codes.entries()) {
      // PHC string: $argon2id$v=19$m=…,p=…,t=…$<salt>$<hash>, the configured parameters.
      const m = /^\$argon2id\$v=19\$m=7168,p=1,t=2\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(slot.hash);
      assert.ok(m, `slot ${i} is argon2id: ${slot.hash}`);
      assert.ok(Buffer.from(m[1]!, 'base64').length * 8 >= 32, 'a salt of at least 32 bits');
      salts.add(m[1]!);
      assert.ok(await argon.verify(slot.hash, normalizeRecoveryCode(codes[i]!)!), 'the hash is of the normalized code');
      assert.equal(slot.tag, tagOf(codes[i]!));
      assert.match(slot.tag!, new RegExp(`^[0-9a-f]{${TAG_BYTES * 2}}$`), 'the tag is a few bytes, not the keyed hash');
    }
    assert.equal(salts.size, codes.length, 'each code its own salt');
    for (const stored of [JSON.stringify(started.pending), JSON.stringify(record)]) {
      for (const code of codes) {
        const normalized = normalizeRecoveryCode(code)!;
        assert.ok(!stored.includes(code) && !stored.includes(normalized), 'no code in clear');
        assert.ok(!stored.includes(hmac.digest('recovery-code', normalized)), 'no keyed hash of a code');
      }
    }
  });

  it('a check costs one argon2 verify, not one per code: the tag picks the slot; a wrong code verifies a dummy hash', async () => {
    const { record, codes } = await register();
    const [right] = codes as [string];
    calls.verify = 0;
    calls.dummy = 0;
    value(await method.verifyChallenge(ctx(), record, {}, { code: right }));
    const tagged = record.codes.filter((c) => c.tag === tagOf(right)).length;
    assert.deepEqual(calls, { verify: tagged, dummy: 0 }, 'only the slots with the code\'s tag (normally one) are verified');
    assert.ok(tagged < record.codes.length);
    for (const wrong of ['0000-0000-0000', 'zzzz-zzzz-zzzz', 'abcd-efgh-jkmn']) {
      calls.verify = 0;
      calls.dummy = 0;
      assert.equal(error(await method.verifyChallenge(ctx(), record, {}, { code: wrong })).id, 'code_wrong');
      const matching = record.codes.filter((c) => c.tag === tagOf(wrong)).length;
      // Nothing matched: one dummy verify, so a wrong code costs what a right one costs.
      assert.deepEqual(calls, matching === 0 ? { verify: 0, dummy: 1 } : { verify: matching, dummy: 0 }, wrong);
    }
  });

  it('keeps working across an HMAC key rotation (the tag is looked up under every key)', async () => {
    const { record, codes } = await register();
    const rotated = recoveryCodesMethod({ hmac: new Hmac(['n'.repeat(32), 'h'.repeat(32)]), hasher });
    const { updated } = value(await rotated.verifyChallenge(ctx(), record, {}, { code: codes[2]! }));
    assert.equal(remainingCodes(updated!), 9);
    assert.deepEqual(error(await rotated.verifyChallenge(ctx(), updated!, {}, { code: codes[2]! })), { id: 'code_used', field: 'code' });
  });

  it('codes stored before argon2 (keyed hashes, no tag) still verify, each once; a registration pending from before still finishes', async () => {
    const codes = ['abcd-efgh-jkmn', 'pqrs-tvwx-yz01', '2345-6789-abcd'];
    const legacy: RecoveryCodesMethod = {
      id: 'rc-old',
      kind: 'recovery_codes',
      registeredAt: now,
      confirmedAt: now,
      codes: codes.map((c) => ({ hash: hmac.digest('recovery-code', normalizeRecoveryCode(c)!) })),
    };
    calls.verify = 0;
    calls.dummy = 0;
    const { updated } = value(await method.verifyChallenge(ctx(), legacy, {}, { code: 'PQRS TVWX YZ0L' }));
    assert.deepEqual(updated!.codes.map((c) => c.usedAt), [undefined, now, undefined]);
    assert.deepEqual(calls, { verify: 0, dummy: 1 }, 'an old set costs one (dummy) verify as well');
    assert.deepEqual(error(await method.verifyChallenge(ctx(), updated!, {}, { code: codes[1]! })), { id: 'code_used', field: 'code' });
    assert.deepEqual(error(await method.verifyChallenge(ctx(), updated!, {}, { code: '0000-0000-0000' })), { id: 'code_wrong', field: 'code' });
    assert.equal(remainingCodes(value(await method.verifyChallenge(ctx(), updated!, {}, { code: codes[2]! })).updated!), 1);
    // A registration pending from before (bare keyed hashes) still finishes, as old slots.
    const pending = { hashes: legacy.codes.map((c) => c.hash) };
    const finished = value(await method.finishRegistration(ctx(), pending, { saved: 'yes' }));
    assert.deepEqual(finished.codes, legacy.codes);
  });
});

describe('security questions method', () => {
  const hasher = new PasswordHasher({ memoryCost: 7168, timeCost: 2, parallelism: 1 });
  const custom = [{ id: 'corp1', text: 'What was your first desk number here?' }];
  const method = securityQuestionsMethod({ hasher, questions: custom, registerCount: 4, answerCount: 3 });

  const good: FormInput = {
    question_1: 'q01',
    answer_1: 'Kraków',
    question_2: 'q05',
    answer_2: 'Anna Maria',
    question_3: 'q09',
    answer_3: 'the cure',
    question_4: 'corp1',
    answer_4: '42B',
  };

  async function register(): Promise<SecurityQuestionsMethod> {
    const started = value(await method.startRegistration(ctx(), {}));
    return value(await method.finishRegistration(ctx(), started.pending, good));
  }

  it('has at least 20 built-in questions with unique, stable ids', () => {
    assert.ok(BUILT_IN_QUESTIONS.length >= 20);
    assert.equal(new Set(BUILT_IN_QUESTIONS.map((q) => q.id)).size, BUILT_IN_QUESTIONS.length);
    assert.equal(new Set(BUILT_IN_QUESTIONS.map((q) => q.text)).size, BUILT_IN_QUESTIONS.length);
    for (const q of BUILT_IN_QUESTIONS) assert.match(q.id, /^q\d{2}$/);
    assert.equal(BUILT_IN_QUESTIONS[0]!.id, 'q01');
  });

  it('gives custom questions ids derived from their text', () => {
    const [a, b] = customQuestions(['What was your first desk number?', '  Which   team did you start in? ']);
    assert.match(a!.id, /^c[0-9a-f]{10}$/);
    assert.equal(b!.text, 'Which team did you start in?');
    assert.deepEqual(customQuestions(['Which team did you START in?', 'What was your first desk number?'])[1], a);
    assert.notEqual(customQuestions(['What was your second desk number?'])[0]!.id, a!.id);
  });

  it('offers the built-in and custom questions and asks for registerCount answers', async () => {
    const started = value(await method.startRegistration(ctx(), {}));
    assert.equal(started.display.questions!.length, BUILT_IN_QUESTIONS.length + 1);
    assert.deepEqual(started.display.questions!.at(-1), custom[0]);
    assert.deepEqual(started.pending, { count: 4 });
    assert.equal(method.strong, false);
    assert.equal(method.amr, 'kba');
  });

  it('refuses bad registrations, naming the field', async () => {
    const started = value(await method.startRegistration(ctx(), {}));
    const cases: [FormInput, MethodError][] = [
      [{ ...good, question_2: 'q99' }, { id: 'question_unknown', field: 'question_2' }],
      [{ ...good, question_3: '' }, { id: 'question_required', field: 'question_3' }],
      [{ ...good, question_3: 'q01' }, { id: 'question_repeated', field: 'question_3' }],
      [{ ...good, answer_2: '  ａb  ' }, { id: 'answer_too_short', field: 'answer_2', vars: { min: 3 } }],
      [{ ...good, answer_4: undefined }, { id: 'answer_too_short', field: 'answer_4', vars: { min: 3 } }],
      [{ ...good, answer_1: 'x'.repeat(41) }, { id: 'answer_too_long', field: 'answer_1', vars: { max: 40 } }],
      [{ ...good, answer_3: ' KRAKÓW ' }, { id: 'answer_repeated', field: 'answer_3' }],
    ];
    for (const [input, expected] of cases) {
      assert.deepEqual(error(await method.finishRegistration(ctx(), started.pending, input)), expected);
    }
    // 40 characters after normalization pass, counted as characters (not UTF-16 units).
    value(await method.finishRegistration(ctx(), started.pending, { ...good, answer_1: `  ${'é'.repeat(39)}😀  ` }));
  });

  it('never serves admins', async () => {
    const admin = ctx({ admin: true });
    assert.deepEqual(error(await method.startRegistration(admin, {})), { id: 'method_not_allowed', final: true });
    const record = await register();
    assert.equal(error(await method.startChallenge(admin, record)).id, 'method_not_allowed');
    assert.equal(error(await method.finishRegistration(admin, { count: 4 }, good)).id, 'method_not_allowed');
  });

  it('stores argon2id hashes and no answer in clear', async () => {
    const record = await register();
    assert.equal(record.kind, 'security_questions');
    assert.deepEqual(record.answers.map((a) => a.questionId), ['q01', 'q05', 'q09', 'corp1']);
    for (const a of record.answers) assert.match(a.hash, /^\$argon2id\$/);
    const json = JSON.stringify(record).toLowerCase();
    for (const answer of ['kraków', 'krakow', 'anna maria', 'the cure', '42b']) assert.ok(!json.includes(answer), answer);
    assert.equal(method.mask(record), 'Security questions');
    assert.equal(method.destination(record), undefined);
  });

  it('draws answerCount distinct registered questions once per challenge', async () => {
    const record = await register();
    const registered = record.answers.map((a) => a.questionId);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i += 1) {
      const started = value(await method.startChallenge(ctx({ purpose: 'reset' }), record));
      const ids = started.pending.questionIds as string[];
      assert.equal(ids.length, 3);
      assert.equal(new Set(ids).size, 3);
      for (const id of ids) assert.ok(registered.includes(id));
      assert.deepEqual(started.display.questions!.map((q) => q.id), ids);
      for (const id of ids) seen.add(id);
    }
    assert.equal(seen.size, 4, 'all registered questions get drawn sometimes');

    // With an injected `random` the draw is reproducible.
    const fixed = securityQuestionsMethod({ hasher, questions: custom, registerCount: 4, answerCount: 3, random: () => 0 });
    const started = value(await fixed.startChallenge(ctx(), record));
    assert.deepEqual(started.pending, { questionIds: ['q01', 'q05', 'q09'] });
  });

  it('accepts right answers in another case, spacing or width; one wrong fails them all', async () => {
    const record = await register();
    const fixed = securityQuestionsMethod({ hasher, questions: custom, registerCount: 4, answerCount: 3, random: (n) => n - 1 });
    const { pending, display } = value(await fixed.startChallenge(ctx(), record));
    assert.deepEqual(pending, { questionIds: ['corp1', 'q01', 'q05'] });
    assert.deepEqual(display.questions!.map((q) => q.id), ['corp1', 'q01', 'q05']);

    const right: FormInput = { answer_1: '４２ｂ', answer_2: '  KRAKÓW ', answer_3: 'anna\tMaria' };
    const ok = value(await fixed.verifyChallenge(ctx(), record, pending, right));
    assert.equal(ok.updated!.lastUsedAt, now);

    assert.deepEqual(error(await fixed.verifyChallenge(ctx(), record, pending, { ...right, answer_2: 'krakow' })), { id: 'answers_wrong' });
    assert.deepEqual(error(await fixed.verifyChallenge(ctx(), record, pending, { ...right, answer_3: undefined })), { id: 'answers_wrong' });
    // Answers in the wrong order are wrong.
    const swapped = { ...right, answer_2: right.answer_3, answer_3: right.answer_2 };
    assert.deepEqual(error(await fixed.verifyChallenge(ctx(), record, pending, swapped)), { id: 'answers_wrong' });
  });

  it('verifies every answer even when the first is wrong', async () => {
    const record = await register();
    let verifications = 0;
    const counting = {
      hash: (s: string) => hasher.hash(s),
      verify: (h: string, s: string) => {
        verifications += 1;
        return hasher.verify(h, s);
      },
    };
    const m = securityQuestionsMethod({ hasher: counting, registerCount: 4, answerCount: 3, questions: custom, random: () => 0 });
    const { pending } = value(await m.startChallenge(ctx(), record));
    assert.equal(error(await m.verifyChallenge(ctx(), record, pending, { answer_1: 'wrong', answer_2: 'x', answer_3: 'y' })).id, 'answers_wrong');
    assert.equal(verifications, 3);
  });

  it('refuses bad settings at construction', () => {
    assert.throws(() => securityQuestionsMethod({ hasher, registerCount: 2, answerCount: 2 }));
    assert.throws(() => securityQuestionsMethod({ hasher, registerCount: 3, answerCount: 4 }));
    assert.throws(() => securityQuestionsMethod({ hasher, registerCount: 3, answerCount: 3, questions: [{ id: 'q01', text: 'Again?' }] }));
  });
});
