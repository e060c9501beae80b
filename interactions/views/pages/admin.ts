/** Pages of the read-only admin dashboard: overview with charts, recent audit events, refusals. */
import { html, type Html } from '../html.ts';
import { layout, type Branding } from '../layout.ts';
import { formatDateTime, t } from '../../../src/i18n/index.ts';
import { barChart, dailyChart, dataTable } from '../charts.ts';
import type { Report } from '../../../src/domain/report.ts';

export interface AuditRow {
  at: number;
  type: string;
  outcome: string;
  account: string;
  actor: string;
  ip: string;
  reason: string;
  details: string;
}

interface AdminFrame {
  branding: Branding;
  csrf: string;
  admin: string;
}

/** Navigation and sign-out shared by the dashboard's pages. */
export function adminNav(v: AdminFrame, current: 'dashboard' | 'audit'): Html {
  const link = (href: string, key: 'dashboard' | 'audit', label: string): Html =>
    html`<li><a href="${href}"${current === key ? html` aria-current="page"` : ''}>${label}</a></li>`;
  return html`<nav class="admin-nav" aria-label="${t('admin.nav')}"><ul>
${link('/admin', 'dashboard', t('admin.dashboard.title'))}
${link('/admin/audit', 'audit', t('admin.audit.title'))}
</ul>
<form method="post" action="/admin/logout" class="signout"><input type="hidden" name="csrf" value="${v.csrf}"><span class="hint">${t('signed_in_as', { name: v.admin })}</span> <button type="submit" class="secondary">${t('admin.signout')}</button></form>
</nav>`;
}

export function adminAuditPage(v: AdminFrame & { rows: readonly AuditRow[]; type: string; outcome: string; days: number }): string {
  const outcomes = ['', 'success', 'failure', 'blocked'] as const;
  return layout({
    title: t('admin.audit.title'),
    branding: v.branding,
    wide: true,
    stylesheets: ['/assets/admin.css'],
    body: html`${adminNav(v, 'audit')}
<p class="lead">${t('admin.audit.lead', { days: v.days })}</p>
<form method="get" action="/admin/audit" class="filters">
<div><label for="type">${t('admin.audit.type')}</label>
<input type="text" id="type" name="type" value="${v.type}" autocomplete="off" spellcheck="false" autocapitalize="none" aria-describedby="type-hint">
<p class="hint" id="type-hint">${t('admin.audit.type_hint')}</p></div>
<div><label for="outcome">${t('admin.audit.outcome')}</label>
<select id="outcome" name="outcome">${outcomes.map((o) => html`<option value="${o}"${o === v.outcome ? ' selected' : ''}>${o ? t(`admin.outcome.${o}`) : t('admin.audit.any')}</option>`)}</select></div>
<div class="actions"><button type="submit">${t('admin.audit.filter')}</button></div>
</form>
${
  v.rows.length === 0
    ? html`<p>${t('admin.audit.none')}</p>`
    : html`<div class="scroll" role="region" aria-label="${t('admin.audit.title')}" tabindex="0">${dataTable(
        [t('admin.audit.col.time'), t('admin.audit.col.type'), t('admin.audit.col.outcome'), t('admin.audit.col.account'), t('admin.audit.col.actor'), t('admin.audit.col.ip'), t('admin.audit.col.reason'), t('admin.audit.col.details')],
        v.rows.map((r) => [formatDateTime(r.at), r.type, t(`admin.outcome.${r.outcome}`), r.account, r.actor, r.ip, r.reason, r.details]),
      )}</div>`
}`,
  });
}

export function adminRefusedPage(v: { branding: Branding; reason: 'not_admin' | 'no_second_factor' | 'failed' }): string {
  return layout({
    title: t('admin.refused.title'),
    branding: v.branding,
    body: html`<div class="alert" role="alert">${t(`admin.refused.${v.reason}`)}</div>
<p class="links"><a href="/admin/login">${t('admin.signin_again')}</a></p>`,
  });
}

export function adminSignedOutPage(v: { branding: Branding }): string {
  return layout({
    title: t('admin.signed_out.title'),
    branding: v.branding,
    body: html`<p class="lead">${t('admin.signed_out.lead')}</p>
<p class="links"><a href="/admin/login">${t('admin.signin_again')}</a></p>`,
  });
}

export function adminDashboardPage(v: AdminFrame & { report: Report; days: number }): string {
  const r = v.report;
  const reg = r.registration;
  const tile = (figure: string, what: string): Html => html`<li><span class="figure">${figure}</span><span class="what">${what}</span></li>`;
  const method = (kind: string): string => t(`method.${kind}`);
  const days = r.daily.map((d) => d.date);
  return layout({
    title: t('admin.dashboard.title'),
    branding: v.branding,
    wide: true,
    stylesheets: ['/assets/admin.css'],
    body: html`${adminNav(v, 'dashboard')}
<p class="lead">${t('admin.dashboard.lead', { days: r.period.days, when: formatDateTime(Date.parse(r.generatedAt)) })}</p>
<nav aria-label="${t('admin.dashboard.period')}"><ul class="legend">${[7, 30, 90].map((d) =>
  html`<li><a href="/admin?days=${d}"${d === v.days ? html` aria-current="page"` : ''}>${t('admin.dashboard.days', { days: d })}</a></li>`,
)}</ul></nav>
${r.period.complete ? '' : html`<p class="notice">${t('admin.dashboard.incomplete', { retention: r.period.auditRetentionDays })}</p>`}
<h2>${t('admin.registration.title')}</h2>
<ul class="tiles">
${tile(String(reg.inScope), t('admin.registration.in_scope', { users: reg.users }))}
${tile(`${reg.registeredPercent}%`, t('admin.registration.registered', { count: reg.registered }))}
${tile(String(reg.partial), t('admin.registration.partial'))}
${tile(String(reg.none), t('admin.registration.none'))}
${tile(String(reg.reconfirmOverdue), t('admin.registration.overdue'))}
${tile(`${reg.secondFactorCapablePercent}%`, t('admin.registration.second_factor', { count: reg.secondFactorCapable }))}
</ul>
<div class="charts">
${barChart('coverage', t('admin.registration.chart'), [
  { label: t('admin.registration.registered_short'), value: reg.registered, tone: 3 },
  { label: t('admin.registration.partial'), value: reg.partial, tone: 2 },
  { label: t('admin.registration.none'), value: reg.none, tone: 5 },
], { max: reg.inScope, headings: [t('admin.registration.state'), t('admin.users')] })}
${barChart('methods', t('admin.registration.by_method'), reg.byMethod.filter((m) => m.enabled || m.users > 0).map((m) => ({ label: method(m.kind), value: m.percent })), { max: 100, unit: '%', headings: [t('admin.method'), t('admin.share_in_scope')] })}
</div>
<h2>${t('admin.resets.title')}</h2>
<ul class="tiles">
${tile(String(r.resets.started), t('admin.resets.started', { decoys: r.resets.decoyStarts }))}
${tile(`${r.resets.completedPercent}%`, t('admin.resets.completed', { count: r.resets.completed }))}
${tile(String(r.resets.proofsFailed), t('admin.resets.proofs_failed'))}
${tile(String(r.resets.blocked), t('admin.resets.blocked'))}
${tile(String(r.admin.cliResetsStarted), t('admin.resets.cli'))}
${tile(String(r.admin.adminAccountResets), t('admin.resets.admin_accounts'))}
</ul>
<div class="charts">
${dailyChart('resets-daily', t('admin.resets.daily'), days, [
  { name: t('admin.resets.series_started'), values: r.daily.map((d) => d.resetsStarted) },
  { name: t('admin.resets.series_completed'), values: r.daily.map((d) => d.resetsCompleted) },
], t('admin.day'))}
${barChart('reset-methods', t('admin.resets.by_method'), r.resets.byMethod.map((m) => ({ label: method(m.kind), value: m.proofsSucceeded })), { headings: [t('admin.method'), t('admin.resets.proofs_succeeded')] })}
${r.resets.failuresByReason.length ? barChart('reset-failures', t('admin.resets.failures'), r.resets.failuresByReason.map((f) => ({ label: f.reason, value: f.count })), { headings: [t('admin.reason'), t('admin.count')] }) : ''}
</div>
<h2>${t('admin.signins.title')}</h2>
<ul class="tiles">
${tile(String(r.signins.completed), t('admin.signins.completed', { mfa: r.signins.completedWithMfa }))}
${tile(String(r.signins.password.failed), t('admin.signins.failed'))}
${tile(String(r.lockouts.total), t('admin.signins.lockouts', { soft: r.lockouts.soft, hard: r.lockouts.hard }))}
${tile(String(r.throttles.total), t('admin.signins.throttles'))}
</ul>
<div class="charts">
${dailyChart('signins-daily', t('admin.signins.daily'), days, [
  { name: t('admin.signins.series_succeeded'), values: r.daily.map((d) => d.signinsSucceeded) },
  { name: t('admin.signins.series_failed'), values: r.daily.map((d) => d.signinsFailed) },
], t('admin.day'))}
${r.throttles.byReason.length ? barChart('throttles', t('admin.signins.throttles_by_reason'), r.throttles.byReason.map((x) => ({ label: `${x.type} ${x.reason}`, value: x.count })), { headings: [t('admin.reason'), t('admin.count')] }) : ''}
</div>`,
  });
}
