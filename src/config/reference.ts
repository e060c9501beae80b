/** Builds docs/configuration.md from the schema, so the reference cannot drift from the code. */
import { settings, type SettingName } from './schema.ts';

export function configurationReference(): string {
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; a test fails when this file is stale. -->',
    '',
    'Every setting is an environment variable. A `.env` file in the working directory is read too (real environment',
    'variables win). Settings marked *secret* may instead be read from a file named by `NAME_FILE`',
    '(e.g. `JWKS_FILE=/run/secrets/jwks.json`). A bad value stops start-up with one line naming the variable, the value',
    'and what is allowed.',
    '',
  ];
  // One section per group, in the order groups first appear in the schema.
  const names = Object.keys(settings) as SettingName[];
  const groups = [...new Set(names.map((name) => settings[name].group))];
  for (const group of groups) {
    lines.push(`## ${group}`, '', '| Variable | Default | Allowed | Description |', '| --- | --- | --- | --- |');
    for (const name of names.filter((n) => settings[n].group === group)) {
      const s = settings[name];
      const secret = (s as { secret?: boolean }).secret ? ' *secret* (`' + name + '_FILE`)' : '';
      lines.push(`| \`${name}\`${secret} | ${cell(s.defaultText)} | ${cell(s.allowed)} | ${cell(s.description)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
