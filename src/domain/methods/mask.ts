/** Masked destinations, enough for the owner to recognize and nobody else to learn. */

/** `alice@example.com` → `a•••@e•••.com` */
export function maskEmail(address: string): string {
  const [local = '', domain = ''] = address.split('@');
  const dot = domain.lastIndexOf('.');
  const host = dot > 0 ? domain.slice(0, dot) : domain;
  const tld = dot > 0 ? domain.slice(dot) : '';
  return `${local.slice(0, 1)}•••@${host.slice(0, 1)}•••${tld}`;
}

/** `+48123456712` → `+48 ••• ••• •12` (country code and last two digits). */
export function maskPhone(e164: string, countryCallingCode: string): string {
  const national = e164.slice(1 + countryCallingCode.length);
  const hidden = national.slice(0, -2).replace(/\d/g, '•');
  const groups = hidden.match(/.{1,3}/g) ?? [];
  const last = groups.pop() ?? '';
  return `+${countryCallingCode} ${[...groups, `${last}${national.slice(-2)}`].join(' ')}`.replace(/ +$/, '');
}
