/** Message lookup with {placeholder} substitution. More catalogs plug in here. */
import { en, type MessageKey } from './en.ts';

export type { MessageKey };

export function t(key: MessageKey | string, vars: Record<string, string | number> = {}): string {
  const template = (en as Record<string, string>)[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}
