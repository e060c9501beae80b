/**
 * Branding from config: what every page shows (name, logo, footer links) and the theme
 * stylesheet that carries the brand colour. Nothing here is fetched from another origin
 * unless the operator chose an external LOGO_URL.
 */
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { createHash } from 'node:crypto';
import type { Config } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { darken } from '../../src/branding/colour.ts';
import type { Branding } from './layout.ts';

export interface BrandAsset {
  body: Buffer;
  type: string;
}

export interface BrandKit {
  branding: Branding;
  theme: BrandAsset;
  logo?: BrandAsset;
  /** Extra `img-src` origin when the logo lives elsewhere. */
  imgOrigin?: string;
}

const LOGO_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
};
const MAX_LOGO_BYTES = 512 * 1024;

type BrandConfig = Pick<Config, 'PRODUCT_NAME' | 'HELPDESK_URL' | 'LOGO_URL' | 'LOGO_FILE' | 'BRAND_COLOR' | 'FOOTER_LINKS'>;

function readLogo(path: string): BrandAsset {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new ConfigError(`LOGO_FILE=${path} cannot be read; allowed: path of a readable .svg, .png, .webp or .jpg file up to 512 KiB`);
  }
  if (size > MAX_LOGO_BYTES) throw new ConfigError(`LOGO_FILE=${path} is ${size} bytes; allowed: up to 512 KiB`);
  return { body: readFileSync(path), type: LOGO_TYPES[extname(path).toLowerCase()]! };
}

export function brandKit(config: BrandConfig): BrandKit {
  const brand = config.BRAND_COLOR;
  const theme: BrandAsset = {
    body: Buffer.from(`:root { --brand: ${brand}; --brand-dark: ${darken(brand, 0.25)}; }\n`),
    type: 'text/css; charset=utf-8',
  };
  const logo = config.LOGO_FILE ? readLogo(config.LOGO_FILE) : undefined;
  const logoUrl = logo ? '/assets/logo' : config.LOGO_URL;
  const version = createHash('sha256').update(theme.body).update(logo?.body ?? '').update(logoUrl ?? '').digest('base64url').slice(0, 10);
  const branding: Branding = {
    productName: config.PRODUCT_NAME,
    ...(config.HELPDESK_URL ? { helpdeskUrl: config.HELPDESK_URL } : {}),
    ...(logoUrl ? { logoUrl: logo ? `${logoUrl}?v=${version}` : logoUrl } : {}),
    footerLinks: config.FOOTER_LINKS,
    assetVersion: version,
  };
  const imgOrigin = !logo && config.LOGO_URL?.startsWith('https:') ? new URL(config.LOGO_URL).origin : undefined;
  return { branding, theme, ...(logo ? { logo } : {}), ...(imgOrigin ? { imgOrigin } : {}) };
}
