/** `npm run docs:config`: rewrites docs/configuration.md from the schema. */
import { writeFileSync } from 'node:fs';
import { configurationReference } from './reference.ts';

writeFileSync(new URL('../../docs/configuration.md', import.meta.url), configurationReference());
console.log('docs/configuration.md written');
