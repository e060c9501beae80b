/**
 * Mobile and office phones: numbers parsed with libphonenumber-js, stored as E.164, only in
 * allowlisted countries (toll fraud). Mobile: SMS code, voice call as the alternative.
 * Office: voice call (SMS when the number can take it), with an optional extension.
 */
import { t } from '../../i18n/index.ts';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';
import type { Channel } from '../messages.ts';
import { randomId } from '../secrets.ts';
import { checkCode, sendCode, type CodeDeliveryDeps } from './code-delivery.ts';
import { maskPhone } from './mask.ts';
import type { FormInput, Method, MethodError, PhoneMethod } from './types.ts';

export interface PhoneDeps extends CodeDeliveryDeps {
  /** ISO 3166-1 alpha-2 codes SMS and calls may go to. */
  allowedCountries: readonly string[];
  defaultRegion?: string;
}

type Parsed = { ok: true; e164: string; country: string; callingCode: string; canSms: boolean } | { ok: false; error: MethodError };

export function parsePhone(raw: string, deps: Pick<PhoneDeps, 'allowedCountries' | 'defaultRegion'>): Parsed {
  const text = raw.normalize('NFKC').trim();
  if (text.length < 4 || text.length > 32 || !/^[+\d\s().-]+$/.test(text)) return { ok: false, error: { id: 'phone_invalid', field: 'phone' } };
  const pn = parsePhoneNumberFromString(text, deps.defaultRegion as CountryCode | undefined);
  if (!pn || !pn.isValid() || !pn.country) return { ok: false, error: { id: 'phone_invalid', field: 'phone' } };
  if (!deps.allowedCountries.includes(pn.country)) return { ok: false, error: { id: 'phone_country_not_allowed', field: 'phone' } };
  const type = pn.getType();
  return { ok: true, e164: pn.number, country: pn.country, callingCode: pn.countryCallingCode, canSms: type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE' || type === undefined };
}

function callingCode(e164: string): string {
  return parsePhoneNumberFromString(e164)?.countryCallingCode ?? '';
}

export function phoneMethod(kind: PhoneMethod['kind'], deps: PhoneDeps): Method<PhoneMethod> {
  const office = kind === 'office_phone';
  const channelFor = (input: FormInput, canSms: boolean): Channel => {
    if (office) return input.channel === 'sms' && canSms ? 'sms' : 'voice';
    return input.channel === 'voice' ? 'voice' : 'sms';
  };
  const mask = (r: Pick<PhoneMethod, 'e164' | 'extension'>): string =>
    r.extension
      ? t('method.phone.extension', { number: maskPhone(r.e164, callingCode(r.e164)), extension: `••${r.extension.slice(-1)}` })
      : maskPhone(r.e164, callingCode(r.e164));

  return {
    kind,
    strong: true,
    amr: 'sms',
    mask,
    destination: (r) => r.e164,

    async startRegistration(ctx, input) {
      const parsed = parsePhone(input.phone ?? '', deps);
      if (!parsed.ok) return parsed;
      if (!office && !parsed.canSms) return { ok: false, error: { id: 'phone_not_mobile', field: 'phone' } };
      const extension = office ? (input.extension ?? '').trim() : '';
      if (extension && !/^\d{1,8}$/.test(extension)) return { ok: false, error: { id: 'extension_invalid', field: 'extension' } };
      const channel = channelFor(input, parsed.canSms);
      const sent = await sendCode(deps, ctx, channel, parsed.e164, { e164: parsed.e164, country: parsed.country, extension });
      return sent.ok ? { ok: true, value: { pending: sent.value, display: { sentTo: mask({ e164: parsed.e164, extension }) } } } : sent;
    },

    async finishRegistration(ctx, pending, input) {
      const checked = await checkCode(deps, ctx, pending, input);
      if (!checked.ok) return checked;
      const now = ctx.clock();
      const extension = typeof pending.extension === 'string' && pending.extension ? { extension: pending.extension } : {};
      return {
        ok: true,
        value: { id: randomId(9), kind, e164: String(pending.e164), country: String(pending.country), ...extension, registeredAt: now, confirmedAt: now },
      };
    },

    async startChallenge(ctx, record, input: FormInput = {}) {
      if (!deps.allowedCountries.includes(record.country)) return { ok: false, error: { id: 'phone_country_not_allowed' } };
      const canSms = parsePhone(record.e164, { allowedCountries: [record.country] });
      const channel = channelFor(input, canSms.ok && canSms.canSms);
      const sent = await sendCode(deps, ctx, channel, record.e164, {});
      return sent.ok ? { ok: true, value: { pending: sent.value, display: { sentTo: mask(record) } } } : sent;
    },

    async verifyChallenge(ctx, _record, pending, input) {
      const checked = await checkCode(deps, ctx, pending, input);
      return checked.ok ? { ok: true, value: {} } : checked;
    },
  };
}
