/**
 * Message lookup in the language of the request being served. The locale travels with the
 * request's async context (set once by the locale middleware), so pages, errors, emails and
 * texts sent while serving a request all speak the user's language without threading it
 * through every call; work outside a request (CLI, timers) uses the configured default.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { en, type MessageKey } from './en.ts';
import { de } from './de.ts';

export type { MessageKey };

import { LOCALES, type Locale } from './locales.ts';

export { LOCALES, LOCALE_NAMES, type Locale } from './locales.ts';

const CATALOGS: Record<Locale, Partial<Record<MessageKey, string>>> = { en, de };

const current = new AsyncLocalStorage<Locale>();
let fallbackLocale: Locale = 'en';

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && (LOCALES as readonly string[]).includes(v);
}

/** The locale used outside any request (set from DEFAULT_LOCALE at start-up). */
export function setDefaultLocale(locale: Locale): void {
  fallbackLocale = locale;
}

export function currentLocale(): Locale {
  return current.getStore() ?? fallbackLocale;
}

export function withLocale<T>(locale: Locale, fn: () => T): T {
  return current.run(locale, fn);
}

export function t(key: MessageKey | string, vars: Record<string, string | number> = {}): string {
  const locale = currentLocale();
  const catalog = CATALOGS[locale] as Record<string, string | undefined>;
  const template = catalog[key] ?? (en as Record<string, string>)[key] ?? key;
  return plurals(template, vars, locale).replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}

const PLURAL_RULES = new Map<Locale, Intl.PluralRules>();

/** Built once per language: pages ask for plurals on every render. */
function pluralRules(locale: Locale): Intl.PluralRules {
  let rules = PLURAL_RULES.get(locale);
  if (!rules) PLURAL_RULES.set(locale, (rules = new Intl.PluralRules(locale)));
  return rules;
}

/**
 * ICU-style plural choices, `{minutes, plural, one {# minute} other {# minutes}}`, picked by
 * the language's plural rules (`#` is the number): "1 minute", "5 minutes".
 */
function plurals(template: string, vars: Record<string, string | number>, locale: Locale): string {
  const head = /\{(\w+), plural,/g;
  let out = '';
  let from = 0;
  for (let m = head.exec(template); m; m = head.exec(template)) {
    const options: Record<string, string> = {};
    let i = m.index + m[0].length;
    // Options are `selector {text}` pairs up to the closing brace of the whole choice.
    for (;;) {
      while (template[i] === ' ') i += 1;
      if (template[i] === '}' || i >= template.length) break;
      const selector = /^[=\w]+/.exec(template.slice(i))?.[0] ?? '';
      i += selector.length;
      while (template[i] === ' ') i += 1;
      let depth = 0;
      const start = i + 1;
      for (; i < template.length; i += 1) {
        if (template[i] === '{') depth += 1;
        else if (template[i] === '}' && --depth === 0) break;
      }
      options[selector] = template.slice(start, i);
      i += 1;
    }
    const n = Number(vars[m[1]!]);
    const text = options[`=${n}`] ?? options[pluralRules(locale).select(n)] ?? options.other ?? '';
    out += template.slice(from, m.index) + text.replace(/#/g, String(vars[m[1]!] ?? ''));
    from = i + 1;
    head.lastIndex = from;
  }
  return out + template.slice(from);
}

/** Does the catalog have this key (for optional, per-id texts such as error messages)? */
export function hasMessage(key: string): boolean {
  return key in en;
}

/** A date and time as the user's locale writes it, in UTC (emails cannot know the reader's zone). */
export function formatDateTime(at: number): string {
  return new Intl.DateTimeFormat(currentLocale(), { dateStyle: 'long', timeStyle: 'long', timeZone: 'UTC' }).format(at);
}

export function formatDate(at: number): string {
  return new Intl.DateTimeFormat(currentLocale(), { dateStyle: 'medium', timeZone: 'UTC' }).format(at);
}

/**
 * The first supported language of a preference list: `ui_locales` (space-separated, in order)
 * or `Accept-Language` (comma-separated with q weights). A regional tag matches its language
 * ("de-AT" → de).
 */
export function pickLocale(preferences: string | undefined, kind: 'ui_locales' | 'accept-language'): Locale | undefined {
  if (!preferences) return undefined;
  const ranked =
    kind === 'ui_locales'
      ? preferences.split(/\s+/).filter(Boolean).map((tag, i) => ({ tag, q: 1, i }))
      : preferences.split(',').map((part, i) => {
          const [tag = '', ...params] = part.trim().split(';');
          const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
          const q = qParam ? Number(qParam.slice(2)) : 1;
          return { tag: tag.trim(), q: Number.isFinite(q) ? q : 0, i };
        });
  ranked.sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { tag, q } of ranked) {
    if (q <= 0) continue;
    const lang = tag.toLowerCase().split('-')[0];
    if (isLocale(lang)) return lang;
  }
  return undefined;
}
