/** The languages rekey speaks (each has a complete catalog in this folder). */
export const LOCALES = ['en', 'de'] as const;
export type Locale = (typeof LOCALES)[number];

/** Native names, e.g. for `ui_locales_supported` documentation and a language menu. */
export const LOCALE_NAMES: Record<Locale, string> = { en: 'English', de: 'Deutsch' };
