/**
 * A minimal cookie-keeping browser over supertest's agent: follows redirects by hand so tests
 * can stop at the relying party's callback, and reads forms out of rekey's pages.
 */
import request from 'supertest';

export interface Page {
  status: number;
  url: string;
  text: string;
  location?: string;
}

/** Redirects followed by hand and forms read out of rekey's pages, over any transport. */
export abstract class PageClient {
  abstract get(url: string): Promise<Page>;
  abstract post(url: string, form: Record<string, string>): Promise<Page>;

  /** Follows redirects until a page renders or the redirect leaves for `stopAt` (the RP callback). */
  async follow(page: Page, stopAt?: string): Promise<Page> {
    let p = page;
    for (let i = 0; i < 20; i += 1) {
      if (!p.location || p.status < 300 || p.status >= 400) return p;
      const next = new URL(p.location, p.url).toString();
      if (stopAt && next.startsWith(stopAt)) return { ...p, location: next };
      p = await this.get(next);
    }
    throw new Error('too many redirects');
  }

  async open(url: string, stopAt?: string): Promise<Page> {
    return this.follow(await this.get(url), stopAt);
  }

  async submit(page: Page, action: string, fields: Record<string, string>, stopAt?: string): Promise<Page> {
    // Every rekey form has one; the provider's own pages (e.g. a logout confirmation) may not.
    const csrf = /name="csrf" value="([^"]*)"/.exec(page.text)?.[1];
    return this.follow(await this.post(new URL(action, page.url).toString(), { ...(csrf !== undefined ? { csrf } : {}), ...fields }), stopAt);
  }
}

export class Browser extends PageClient {
  readonly agent: ReturnType<typeof request.agent>;

  constructor(
    private readonly base: string,
    /** Sent with every request (e.g. X-Forwarded-For behind a test proxy). */
    private readonly headers: Record<string, string> = {},
  ) {
    super();
    this.agent = request.agent(base);
  }

  private rel(url: string): string {
    const u = new URL(url, this.base);
    if (u.origin !== new URL(this.base).origin) throw new Error(`refusing to leave the test server: ${url}`);
    return u.pathname + u.search;
  }

  async get(url: string): Promise<Page> {
    const res = await this.agent.get(this.rel(url)).set(this.headers).redirects(0);
    return { status: res.status, url: new URL(url, this.base).toString(), text: res.text ?? '', ...(res.headers.location ? { location: res.headers.location } : {}) };
  }

  async post(url: string, form: Record<string, string>): Promise<Page> {
    const res = await this.agent.post(this.rel(url)).set(this.headers).type('form').send(form).redirects(0);
    return { status: res.status, url: new URL(url, this.base).toString(), text: res.text ?? '', ...(res.headers.location ? { location: res.headers.location } : {}) };
  }
}

export function hiddenValue(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m) throw new Error(`no field ${name} in page:\n${html.slice(0, 2000)}`);
  return m[1]!;
}

export function formAction(html: string, contains: string): string {
  const m = new RegExp(`action="([^"]*${contains}[^"]*)"`).exec(html);
  if (!m) throw new Error(`no form posting to *${contains}* in page:\n${html.slice(0, 2000)}`);
  return m[1]!.replace(/&amp;/g, '&');
}
