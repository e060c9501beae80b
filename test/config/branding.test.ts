/**
 * Branding from config: product name, logo (served by rekey or from an allowed origin), brand
 * colour in the theme stylesheet, helpdesk and footer links; nothing else from other origins.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { brandKit } from '../../interactions/views/branding.ts';
import { contrastWithWhite } from '../../src/branding/colour.ts';
import { startTestApp, type TestApp } from '../support/test-app.ts';
import { Browser } from '../support/browser.ts';
import { RelyingParty } from '../support/rp.ts';

const SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><rect width="40" height="40" fill="#7a1fa2"/></svg>';

function configError(env: Record<string, string>): string {
  try {
    const config = parseConfig({ NODE_ENV: 'test', ...env });
    brandKit(config);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  return assert.fail('expected a ConfigError');
}

/** Every URL a page would load (stylesheets, scripts, images), as written in the HTML. */
function loadedUrls(html: string): string[] {
  return [...html.matchAll(/<(?:link[^>]*\bhref|script[^>]*\bsrc|img[^>]*\bsrc)="([^"]+)"/g)].map((m) => m[1]!);
}

describe('branding', function () {
  this.timeout(30_000);
  let dir: string;
  let t: TestApp;
  let rp: RelyingParty;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rekey-brand-'));
    writeFileSync(join(dir, 'logo.svg'), SVG);
    t = await startTestApp({
      PRODUCT_NAME: 'Contoso Sign-in',
      LOGO_FILE: join(dir, 'logo.svg'),
      BRAND_COLOR: '#7A1FA2',
      HELPDESK_URL: 'https://help.contoso.example/password',
      FOOTER_LINKS: 'Privacy notice=https://contoso.example/privacy; Status=https://status.contoso.example',
    });
    rp = await RelyingParty.discover(t.url, t.redirectUri);
  });
  after(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pages carry the product name, the logo, the helpdesk and footer links, and load nothing from elsewhere', async () => {
    const page = await new Browser(t.url).open((await rp.start()).url.toString(), t.redirectUri);
    assert.match(page.text, /<title>Sign in – Contoso Sign-in<\/title>/);
    assert.match(page.text, /<header class="top"><span class="brand"><img class="logo" src="\/assets\/logo\?v=[\w-]+" alt="">Contoso Sign-in<\/span>/);
    const footer = /<footer[^>]*>([\s\S]*?)<\/footer>/.exec(page.text)![1]!;
    const links = [...footer.matchAll(/<a href="([^"]+)">([^<]+)<\/a>/g)].map((m) => [m[2], m[1]]);
    assert.deepEqual(links, [
      ['Need help? Contact the helpdesk', 'https://help.contoso.example/password'],
      ['Privacy notice', 'https://contoso.example/privacy'],
      ['Status', 'https://status.contoso.example'],
    ]);
    for (const url of loadedUrls(page.text)) assert.ok(url.startsWith('/'), `${url} is loaded from rekey itself`);
    const csp = (await fetch(`${t.url}/reset`)).headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'; style-src 'self'; img-src 'self' data:;/);
  });

  it('the theme stylesheet carries the brand colour and a darker shade; the logo is served as configured', async () => {
    const theme = await fetch(`${t.url}/assets/theme.css`);
    assert.equal(theme.status, 200);
    assert.match(theme.headers.get('content-type')!, /text\/css/);
    const css = await theme.text();
    assert.match(css, /--brand: #7a1fa2;/);
    const dark = /--brand-dark: (#[0-9a-f]{6});/.exec(css)![1]!;
    assert.ok(contrastWithWhite(dark) > contrastWithWhite('#7a1fa2'), 'the hover shade is darker');

    const logo = await fetch(`${t.url}/assets/logo`);
    assert.equal(logo.status, 200);
    assert.equal(logo.headers.get('content-type'), 'image/svg+xml');
    assert.equal(await logo.text(), SVG);
    assert.match(logo.headers.get('content-security-policy')!, /sandbox/, 'an SVG opened directly cannot run script');
  });

  it('an external LOGO_URL is the one other origin pages may load, as an image', async () => {
    const t2 = await startTestApp({ LOGO_URL: 'https://cdn.contoso.example/brand/logo.png' });
    try {
      const rp2 = await RelyingParty.discover(t2.url, t2.redirectUri);
      const flow = await rp2.start();
      const res = await fetch(flow.url, { redirect: 'manual' });
      const page = await fetch(new URL(res.headers.get('location')!, t2.url), { headers: { cookie: res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') } });
      const html = await page.text();
      assert.match(html, /<img class="logo" src="https:\/\/cdn\.contoso\.example\/brand\/logo\.png" alt="">/);
      assert.match(page.headers.get('content-security-policy')!, /img-src 'self' data: https:\/\/cdn\.contoso\.example;/);
      assert.match(page.headers.get('content-security-policy')!, /style-src 'self';/, 'styles stay our own');
    } finally {
      await t2.close();
    }
  });

  it('refuses branding it cannot show well, naming the setting and what is allowed', () => {
    assert.match(configError({ BRAND_COLOR: '#ffcc00' }), /^BRAND_COLOR="?#ffcc00"? is invalid; allowed: hex colour #rrggbb with contrast ≥ 4\.5:1 against white/);
    assert.match(configError({ BRAND_COLOR: 'purple' }), /^BRAND_COLOR="?purple"? is invalid/);
    assert.match(configError({ FOOTER_LINKS: 'Privacy' }), /^FOOTER_LINKS="?Privacy"? is invalid; allowed: up to 6 entries `Label=URL`/);
    assert.match(configError({ FOOTER_LINKS: 'Privacy=javascript:alert(1)' }), /^FOOTER_LINKS="?/);
    assert.match(configError({ LOGO_URL: 'http://cdn.example/logo.png' }), /^LOGO_URL="?http:\/\/cdn\.example\/logo\.png"? is invalid; allowed: https URL, or a path starting with \//);
    assert.match(configError({ LOGO_FILE: '/etc/passwd' }), /^LOGO_FILE="?\/etc\/passwd"? is invalid/);
    assert.match(configError({ LOGO_FILE: '/no/such/logo.svg' }), /^LOGO_FILE="?\/no\/such\/logo\.svg cannot be read/);
    assert.match(configError({ DEFAULT_LOCALE: 'fr' }), /^DEFAULT_LOCALE="?fr"? is invalid; allowed: en, de/);
  });
});
