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
  let group = '';
  for (const name of Object.keys(settings) as SettingName[]) {
    const s = settings[name];
    if (s.group !== group) {
      group = s.group;
      lines.push(`## ${group}`, '', '| Variable | Default | Allowed | Description |', '| --- | --- | --- | --- |');
    }
    const secret = (s as { secret?: boolean }).secret ? ' *secret* (`' + name + '_FILE`)' : '';
    lines.push(`| \`${name}\`${secret} | ${cell(s.defaultText)} | ${cell(s.allowed)} | ${cell(s.description)} |`);
    const next = Object.keys(settings)[Object.keys(settings).indexOf(name) + 1] as SettingName | undefined;
    if (!next || settings[next].group !== group) lines.push('');
  }
  return lines.join('\n');
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
