/**
 * The real-browser harness: Debian's Chromium driven by playwright-core (no browser downloads),
 * an axe-core check and a screenshot of every page a journey visits.
 *
 *     describe('…', function () {
 *       this.timeout(60_000);
 *       const chrome = useChromium();                 // one browser per file, closed in after()
 *       it('…', async () => {
 *         const page = await chrome.newUser('phone');  // a new context per user, closed in afterEach()
 *         const j = new Journey('sign-in-phone');
 *         await page.goto(url);
 *         await j.visit(page, 'sign-in', 'Sign in');   // h1, no console errors, axe, screenshot
 *       });
 *     });
 *
 * Screenshots go to `test-artifacts/screenshots/<journey>/<NN>-<step>.png` (full page). With
 * `UPDATE_SCREENSHOTS=1` the few shots listed in DOC_SCREENSHOTS are also written,
 * viewport-sized, to `docs/screenshots/<name>.png`.
 */
import assert, { AssertionError } from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SCREENSHOTS_DIR = join(ROOT, 'test-artifacts', 'screenshots');
export const FAILURES_DIR = join(ROOT, 'test-artifacts', 'failures');
export const DOCS_SCREENSHOTS_DIR = join(ROOT, 'docs', 'screenshots');

/**
 * The shots the docs show, as `<journey>/<step>` → file name in docs/screenshots/. Written only
 * with UPDATE_SCREENSHOTS=1; commit them after looking at them.
 */
export const DOC_SCREENSHOTS: Readonly<Record<string, string>> = {
  'sign-in-2fa-desktop/sign-in': 'sign-in',
  'first-sign-in-desktop/choose-method': 'registration-chooser',
  'first-sign-in-desktop/authenticator-app': 'authenticator-app-qr',
  'sign-in-2fa-desktop/second-factor': 'second-factor',
  'reset-desktop/prove-it-is-you': 'reset-prove-it-is-you',
  'reset-desktop/new-password': 'reset-new-password',
  'security-info-desktop/my-security-info': 'my-security-info',
  'sign-in-2fa-phone/sign-in': 'sign-in-phone',
  'admin-dashboard-desktop/dashboard': 'admin-dashboard',
  'admin-dashboard-desktop/audit-filtered': 'admin-audit',
};

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** CHROMIUM_PATH, else Debian's /usr/lib/chromium/chromium, else /usr/bin/chromium. */
export function chromiumExecutable(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.CHROMIUM_PATH?.trim();
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH=${fromEnv} does not exist: point CHROMIUM_PATH at a Chromium executable`);
    return fromEnv;
  }
  const candidates = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `No Chromium found (looked at ${candidates.join(', ')}): install Debian's chromium (apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium executable`,
    );
  }
  return found;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ headless: true, executablePath: chromiumExecutable(), args: LAUNCH_ARGS });
}

/** The screen sizes journeys run at. */
export const VIEWPORTS = {
  desktop: { viewport: { width: 1024, height: 768 } },
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
} as const satisfies Record<string, BrowserContextOptions>;
export type ViewportName = keyof typeof VIEWPORTS;

/** The options each context was made with (axe needs scripts: a script-less page is checked on a copy). */
const contextOptions = new WeakMap<BrowserContext, BrowserContextOptions>();

export interface ChromiumHandle {
  readonly browser: Browser;
  /** A fresh browser context (cookies, storage) for one user, closed after the test. */
  newUser(viewport?: ViewportName, options?: BrowserContextOptions): Promise<Page>;
}

/**
 * Mocha hooks for a test file: one Chromium for the file, a new context per user, every context
 * closed after each test (with a screenshot of its pages when the test failed) and the browser
 * closed after the file, whatever happened.
 */
export function useChromium(): ChromiumHandle {
  let browser: Browser | undefined;
  const open: BrowserContext[] = [];

  before(async function () {
    this.timeout(30_000);
    browser = await launchChromium();
  });

  afterEach(async function () {
    const failed = this.currentTest?.state === 'failed';
    const contexts = open.splice(0);
    for (const [i, context] of contexts.entries()) {
      if (failed) {
        for (const [j, page] of context.pages().entries()) {
          const name = `${slug(this.currentTest!.fullTitle()).slice(0, 120)}-${i}-${j}.png`;
          mkdirSync(FAILURES_DIR, { recursive: true });
          await page.screenshot({ path: join(FAILURES_DIR, name), fullPage: true, timeout: 5000 }).catch(() => {});
        }
      }
      await context.close().catch(() => {});
    }
  });

  after(async () => {
    await browser?.close();
    browser = undefined;
  });

  return {
    get browser() {
      if (!browser) throw new Error('Chromium is not running (useChromium() registers before/after hooks: call it inside describe)');
      return browser;
    },
    async newUser(viewport = 'desktop', options = {}) {
      if (!browser) throw new Error('Chromium is not running');
      const opts: BrowserContextOptions = { locale: 'en-US', ...VIEWPORTS[viewport], ...options };
      const context = await browser.newContext(opts);
      contextOptions.set(context, opts);
      open.push(context);
      context.setDefaultTimeout(10_000);
      context.setDefaultNavigationTimeout(15_000);
      return context.newPage();
    },
  };
}

const slug = (s: string): string => s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase();

// --- axe-core ------------------------------------------------------------------------------

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact?: string | null;
  help: string;
  helpUrl: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

declare global {
  interface Window {
    axe?: { run(context: Document, options: Record<string, unknown>): Promise<{ violations: AxeViolation[] }> };
  }
}

/** Puts axe-core into the page: a script tag, or (when the page's CSP refuses inline scripts) through the debugger. */
async function injectAxe(page: Page): Promise<void> {
  if (await page.evaluate(() => typeof window.axe === 'object')) return;
  await page.addScriptTag({ content: AXE_SOURCE }).catch(() => undefined);
  if (await page.evaluate(() => typeof window.axe === 'object')) return;
  // rekey's strict CSP blocks inline scripts; evaluating the source over CDP is not subject to it.
  await page.evaluate(AXE_SOURCE);
}

/** Per script-less context, a scratch context with scripts on and the same screen; closed with it. */
const checkers = new WeakMap<BrowserContext, Promise<BrowserContext>>();

function checkerFor(context: BrowserContext): Promise<BrowserContext> {
  let checker = checkers.get(context);
  if (!checker) {
    const opts = contextOptions.get(context) ?? {};
    checker = context.browser()!.newContext({ ...opts, javaScriptEnabled: true, bypassCSP: true });
    checkers.set(context, checker);
    context.on('close', () => void checker!.then((c) => c.close()).catch(() => {}));
  }
  return checker;
}

/**
 * A copy of a script-less page for axe to run in: the same HTML at the same URL (so
 * stylesheets load from the server) and the same screen, with scripts on.
 */
async function scriptedCopy(page: Page): Promise<Page> {
  const url = page.url();
  const content = await page.content();
  const copy = await (await checkerFor(page.context())).newPage();
  await copy.route((u) => u.href === url, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: content }));
  await copy.goto(url);
  return copy;
}

/**
 * Runs axe-core on the page and fails with a readable list when any violation is serious or
 * critical. Pages without scripts (a `javaScriptEnabled: false` context) are checked on a copy.
 */
export async function checkA11y(page: Page, label: string): Promise<void> {
  await page.waitForLoadState('load');
  const scriptless = contextOptions.get(page.context())?.javaScriptEnabled === false;
  const copy = scriptless ? await scriptedCopy(page) : undefined;
  const target = copy ?? page;
  try {
    await injectAxe(target);
    const { violations } = await target.evaluate(() => window.axe!.run(document, { resultTypes: ['violations'] }));
    const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    if (bad.length) {
      const list = bad
        .map(
          (v) =>
            `  - ${v.id} (${v.impact}): ${v.help}\n${v.nodes
              .map((n) => `      at ${n.target.map(String).join(' ')}${n.failureSummary ? `\n        ${n.failureSummary.replace(/\n/g, '\n        ')}` : ''}`)
              .join('\n')}\n      ${v.helpUrl}`,
        )
        .join('\n');
      throw new AssertionError({ message: `axe: ${bad.length} serious/critical violation(s) on "${label}" (${page.url()}):\n${list}` });
    }
  } finally {
    await copy?.close();
  }
}

// --- screenshots ---------------------------------------------------------------------------

const counters = new Map<string, number>();

/**
 * A full-page PNG at `test-artifacts/screenshots/<journey>/<NN>-<name>.png`, NN counting the
 * journey's shots (its folder is emptied at its first shot in this run). Shots listed in
 * DOC_SCREENSHOTS are also written, viewport-sized, to docs/screenshots/ with UPDATE_SCREENSHOTS=1.
 */
export async function snap(page: Page, journey: string, name: string): Promise<string> {
  const dir = join(SCREENSHOTS_DIR, journey);
  const n = (counters.get(journey) ?? 0) + 1;
  if (n === 1) rmSync(dir, { recursive: true, force: true });
  counters.set(journey, n);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${String(n).padStart(2, '0')}-${slug(name)}.png`);
  await page.screenshot({ path, fullPage: true });
  const doc = DOC_SCREENSHOTS[`${journey}/${name}`];
  if (doc && process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOCS_SCREENSHOTS_DIR, { recursive: true });
    await page.screenshot({ path: join(DOCS_SCREENSHOTS_DIR, `${doc}.png`), fullPage: false });
  }
  return path;
}

// --- journeys ------------------------------------------------------------------------------

/**
 * One user's way through the pages. `visit` is the one step every page of every journey goes
 * through: the page's h1 (when given), no console errors since the last visit, axe, screenshot.
 */
export class Journey {
  private readonly errors = new WeakMap<Page, string[]>();

  constructor(readonly name: string) {}

  private watch(page: Page): string[] {
    let list = this.errors.get(page);
    if (!list) {
      const collected: string[] = [];
      list = collected;
      this.errors.set(page, collected);
      page.on('console', (m) => {
        // Failed subresources are reported below with their URL.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) collected.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => collected.push(`page error: ${e.message}`));
      // A stylesheet, logo or image that fails; pages themselves may answer 4xx (a wrong code is a 400).
      page.on('response', (r) => {
        const req = r.request();
        if (r.status() >= 400 && req.resourceType() !== 'document' && new URL(r.url()).pathname !== '/favicon.ico') {
          collected.push(`${req.resourceType()} ${r.url()}: HTTP ${r.status()}`);
        }
      });
      page.on('requestfailed', (req) => new URL(req.url()).pathname !== '/favicon.ico' && collected.push(`${req.resourceType()} ${req.url()}: ${req.failure()?.errorText ?? 'failed'}`));
    }
    return list;
  }

  /** Starts listening for console errors and failed subresources on a page before its first navigation (visit does it too). */
  follow(page: Page): Page {
    this.watch(page);
    return page;
  }

  async visit(page: Page, step: string, heading?: string | RegExp): Promise<void> {
    const errors = this.watch(page);
    await page.waitForLoadState('load');
    if (heading !== undefined) {
      const h1 = (await page.getByRole('heading', { level: 1 }).textContent())?.trim() ?? '';
      if (typeof heading === 'string') assert.equal(h1, heading, `${this.name}/${step}: heading at ${page.url()}`);
      else assert.match(h1, heading, `${this.name}/${step}: heading at ${page.url()}`);
    }
    assert.deepEqual(errors.splice(0), [], `${this.name}/${step}: console errors at ${page.url()}`);
    await checkA11y(page, `${this.name}/${step}`);
    await snap(page, this.name, step);
    // Injecting axe past the CSP logs a violation report; it is ours, not the page's.
    errors.length = 0;
  }
}
