/**
 * Server-rendered SVG charts for the admin dashboard: no script, no external resources, and
 * colours from admin.css (the CSP forbids inline styles). Each chart is an image with a text
 * name, followed by the same figures as a table (under a disclosure), so nothing is only in the picture.
 */
import { html, type Html } from './html.ts';

export interface Bar {
  label: string;
  value: number;
  /** Colour 1–6 of admin.css (default: by position), e.g. green for good, red for bad. */
  tone?: number;
}

export interface Series {
  name: string;
  /** One value per day, in the order of `days`. */
  values: number[];
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** Horizontal bars, one per item, scaled to `max` (default: the largest value). */
export function barChart(
  id: string,
  title: string,
  bars: readonly Bar[],
  options: { max?: number; unit?: string; headings?: readonly [string, string] } = {},
): Html {
  const max = Math.max(options.max ?? 0, ...bars.map((b) => b.value), 1);
  const rowH = 28;
  const labelW = 190;
  const barW = 300;
  const height = bars.length * rowH + 8;
  const unit = options.unit ?? '';
  return html`<figure class="chart" id="${id}">
<figcaption>${title}</figcaption>
<svg viewBox="0 0 ${labelW + barW + 70} ${height}" role="img" aria-label="${title}" focusable="false">
${bars.map((b, i) => {
  const y = i * rowH + 4;
  const w = Math.round((b.value / max) * barW);
  return html`<text class="label" x="${labelW - 8}" y="${y + 17}" text-anchor="end">${b.label}</text><rect class="track" x="${labelW}" y="${y + 3}" width="${barW}" height="18" rx="3"></rect><rect class="bar c${b.tone ?? (i % 6) + 1}" x="${labelW}" y="${y + 3}" width="${w}" height="18" rx="3"></rect><text class="value" x="${labelW + barW + 8}" y="${y + 17}">${fmt(b.value)}${unit}</text>`;
})}
</svg>
<details><summary>${title}</summary>
${dataTable(options.headings ?? ['', ''], bars.map((b) => [b.label, `${fmt(b.value)}${unit}`]))}
</details>
</figure>`;
}

/** Grouped vertical bars per day, one colour per series, with a legend. */
export function dailyChart(id: string, title: string, days: readonly string[], series: readonly Series[], dayHeading: string): Html {
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const plotH = 140;
  const left = 36;
  const slot = Math.max(8, Math.min(28, Math.floor(620 / Math.max(days.length, 1))));
  const barW = Math.max(2, Math.floor((slot - 2) / Math.max(series.length, 1)));
  const width = left + days.length * slot + 10;
  const ticks = [0, Math.ceil(max / 2), max];
  const labelEvery = Math.ceil(days.length / 6);
  return html`<figure class="chart" id="${id}">
<figcaption>${title}</figcaption>
<svg viewBox="0 0 ${width} ${plotH + 34}" role="img" aria-label="${title}" focusable="false">
${ticks.map((tick) => {
  const y = 6 + plotH - Math.round((tick / max) * plotH);
  return html`<line class="grid" x1="${left}" x2="${width - 6}" y1="${y}" y2="${y}"></line><text class="axis" x="${left - 6}" y="${y + 4}" text-anchor="end">${tick}</text>`;
})}
${days.map((day, d) =>
  html`${series.map((s, k) => {
    const v = s.values[d] ?? 0;
    const h = Math.round((v / max) * plotH);
    return html`<rect class="bar c${k + 1}" x="${left + d * slot + 1 + k * barW}" y="${6 + plotH - h}" width="${barW - 1}" height="${h}"></rect>`;
  })}${d % labelEvery === 0 ? html`<text class="axis" x="${left + d * slot + slot / 2}" y="${plotH + 24}" text-anchor="middle">${day.slice(5)}</text>` : ''}`,
)}
</svg>
<ul class="legend">${series.map((s, k) => html`<li><span class="swatch c${k + 1}"></span>${s.name}</li>`)}</ul>
<details><summary>${title}</summary>
${dataTable([dayHeading, ...series.map((s) => s.name)], days.map((day, d) => [day, ...series.map((s) => String(s.values[d] ?? 0))]))}
</details>
</figure>`;
}

export function dataTable(head: readonly string[], rows: readonly (readonly string[])[]): Html {
  return html`<table class="figures"><thead><tr>${head.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${rows.map((r) => html`<tr>${r.map((c, i) => (i === 0 ? html`<th scope="row">${c}</th>` : html`<td>${c}</td>`))}</tr>`)}</tbody></table>`;
}
