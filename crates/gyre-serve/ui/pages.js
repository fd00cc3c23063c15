// The pages: runs, a run, comparing runs, data, the registry, monitoring, the pipeline and
// lineage. Each takes the view element and the route, fetches what it shows, and draws it.

import { api, can, download, every, go, h, link, show } from './lib.js';
import { fmt, graph, histogram, lineChart, parallel } from './charts.js';

const when = (ms) => (ms == null ? '–' : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));
const short = (id) => String(id).slice(0, 8);

function duration(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

// A metric value as the API sends it: a number, or "NaN"/"Infinity" as text.
const num = (v) => (typeof v === 'string' ? Number(v) : v);

/// A table: each header is a text, `#text` for a column of numbers (aligned right, as its
/// cells are), or an element.
function table(headers, rows, attrs = {}) {
  const head = (c) => {
    if (c instanceof Node) return c;
    const n = typeof c === 'string' && c.startsWith('#');
    return h('th', { scope: 'col', class: n ? 'num' : null }, n ? c.slice(1) : c);
  };
  return h('div', { class: 'scroll' }, h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map(head))),
    h('tbody', {}, rows)));
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(([, v]) => v != null && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), children);
}

function empty(text) {
  return h('p', { class: 'empty' }, text);
}

function statusBadge(status) {
  return h('span', { class: `badge status-${status}` }, status);
}

// ---------------------------------------------------------------------------------------
// Runs

const COLS_KEY = 'gyre.columns';

export async function runs(view, r) {
  if (r.parts[1]) return run(view, r.parts[1]);
  const q = r.query;
  const where = q.get('where') || '';
  const order = q.get('order') || '';
  const offset = Math.max(0, Number(q.get('offset')) || 0);
  const limit = Number(q.get('limit')) || 50;
  const state = { where, order, offset, limit };
  const nav = (patch) => go(['runs'], { ...state, ...patch });
  const t0 = performance.now();
  const page = await api(`/api/runs?${new URLSearchParams({ where, order, offset, limit })}`);
  const ms = performance.now() - t0;

  const paramKeys = [...new Set(page.runs.flatMap((x) => Object.keys(x.params)))].sort();
  const metricKeys = [...new Set(page.runs.flatMap((x) => Object.keys(x.metrics)))].sort();
  let chosen = JSON.parse(localStorage.getItem(COLS_KEY) || 'null');
  if (!Array.isArray(chosen)) chosen = [...metricKeys.slice(0, 4).map((k) => 'metrics.' + k), ...paramKeys.slice(0, 3).map((k) => 'params.' + k)];
  const shown = chosen.filter((c) => (c.startsWith('metrics.') ? metricKeys.includes(c.slice(8)) : paramKeys.includes(c.slice(7))));

  // The filter form.
  const filter = h('input', { id: 'filter', name: 'where', value: where, size: 60, spellcheck: 'false',
    placeholder: "metrics.f1 > 0.8 and params.algorithm = 'random_forest'" });
  const form = h('form', { class: 'filter', role: 'search', onsubmit: (evt) => { evt.preventDefault(); nav({ where: filter.value.trim(), offset: 0 }); } },
    h('label', { for: 'filter' }, 'Filter'), filter, h('button', { type: 'submit' }, 'Apply'),
    where ? h('button', { type: 'button', class: 'link', onclick: () => nav({ where: '', offset: 0 }) }, 'Clear') : null);

  // Choosing columns.
  const chooser = h('details', { class: 'columns' }, h('summary', {}, 'Columns'),
    h('fieldset', {}, h('legend', {}, 'Metrics'), metricKeys.map((k) => checkbox('metrics.' + k, k))),
    h('fieldset', {}, h('legend', {}, 'Params'), paramKeys.map((k) => checkbox('params.' + k, k))));
  function checkbox(col, label) {
    const id = 'col-' + col.replace(/[^a-zA-Z0-9_-]/g, '_');
    return h('label', { for: id, class: 'check' }, h('input', { type: 'checkbox', id, checked: shown.includes(col), onchange: (evt) => {
      const next = evt.target.checked ? [...shown, col] : shown.filter((c) => c !== col);
      localStorage.setItem(COLS_KEY, JSON.stringify(next));
      nav({});
    } }), ' ', label);
  }

  // Sorting: by start time, name or a metric (the store orders by these).
  const [okey, odir] = order ? order.split(/\s+/) : ['started', 'desc'];
  const sortable = (key, label) => {
    const active = okey === key;
    const dir = active && (odir || 'asc') === 'desc' ? 'asc' : 'desc';
    return h('th', { scope: 'col', class: key.startsWith('metrics.') ? 'num' : null, 'aria-sort': active ? ((odir || 'asc') === 'desc' ? 'descending' : 'ascending') : 'none' },
      h('button', { type: 'button', class: 'sort', onclick: () => nav({ order: `${key} ${dir}`, offset: 0 }) }, label, active ? ((odir || 'asc') === 'desc' ? ' ▼' : ' ▲') : ''));
  };
  const selected = new Set();
  const compareBtn = h('button', { type: 'button', id: 'compare', disabled: true, onclick: () => go(['compare'], { runs: [...selected].join(',') }) }, 'Compare selected');
  const headers = [
    h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Select')),
    h('th', { scope: 'col' }, 'Run'), sortable('name', 'Name'), h('th', { scope: 'col' }, 'Status'), sortable('started', 'Started'),
    h('th', { scope: 'col', class: 'num' }, 'Duration'),
    ...shown.map((c) => sortable(c, c.startsWith('metrics.') ? c.slice(8) : c.slice(7))),
  ];
  const rows = page.runs.map((x) => h('tr', {},
    h('td', {}, h('input', { type: 'checkbox', 'aria-label': `select run ${short(x.id)}`, 'data-run': x.id, onchange: (evt) => {
      if (evt.target.checked) selected.add(x.id); else selected.delete(x.id);
      compareBtn.disabled = selected.size < 2;
    } })),
    h('td', {}, h('a', { href: link(['runs', x.id]), class: 'mono' }, short(x.id))),
    h('td', {}, x.name), h('td', {}, statusBadge(x.status)), h('td', {}, when(x.started_ms)),
    h('td', { class: 'num' }, duration(x.ended_ms == null ? null : x.ended_ms - x.started_ms)),
    ...shown.map((c) => (c.startsWith('metrics.')
      ? h('td', { class: 'num' }, fmt(num(x.metrics[c.slice(8)])))
      : h('td', {}, x.params[c.slice(7)] ?? '–')))));

  const last = Math.min(offset + page.runs.length, page.total);
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: offset === 0, onclick: () => nav({ offset: Math.max(0, offset - limit) }) }, '← Previous'),
    h('span', { id: 'range' }, page.total ? `${(offset + 1).toLocaleString('en')}–${last.toLocaleString('en')} of ${page.total.toLocaleString('en')}` : 'no runs'),
    h('button', { type: 'button', disabled: last >= page.total, onclick: () => nav({ offset: offset + limit }) }, 'Next →'),
    h('label', { for: 'limit' }, 'Per page'),
    h('select', { id: 'limit', onchange: (evt) => nav({ limit: evt.target.value, offset: 0 }) },
      [25, 50, 100, 250].map((n) => h('option', { value: n, selected: n === limit }, n))));

  show(view, 
    h('h1', {}, 'Runs'),
    form, h('div', { class: 'toolbar' }, chooser, compareBtn, h('span', { class: 'muted', id: 'timing' }, `${Math.round(ms)} ms`)),
    page.runs.length ? table(headers, rows, { id: 'runs', class: 'runs' }) : empty(where ? 'No run matches this filter.' : 'No runs yet: `gyre train` or `gyre run` make some.'),
    pager);
}

async function run(view, id) {
  const x = await api(`/api/runs/${encodeURIComponent(id)}`);
  const metricRows = x.series.map((se) => h('tr', {},
    h('th', { scope: 'row' }, se.key), h('td', { class: 'num' }, fmt(num(se.last))), h('td', { class: 'num' }, fmt(num(se.min))),
    h('td', { class: 'num' }, fmt(num(se.max))), h('td', { class: 'num' }, se.points.toLocaleString('en'))));
  const charts = h('div', { class: 'charts' });
  const logBox = h('div');
  show(view, 
    h('h1', {}, `${x.name} `, h('span', { class: 'mono muted' }, short(x.id)), ' ', statusBadge(x.status)),
    section('Run', kv([
      ['id', h('span', { class: 'mono' }, x.id)], ['started', when(x.started_ms)], ['ended', when(x.ended_ms)],
      ['duration', duration(x.ended_ms == null ? null : x.ended_ms - x.started_ms)], ['user', `${x.user}@${x.host}`],
      ['git', x.git_commit ? `${x.git_commit.slice(0, 12)}${x.git_dirty ? ' (dirty)' : ''}` : null],
      ['parent', x.parent ? h('a', { href: link(['runs', x.parent]), class: 'mono' }, short(x.parent)) : null],
      ['note', x.note || null]])),
    section('Params', Object.keys(x.params).length
      ? table(['param', 'value'], Object.entries(x.params).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))), { id: 'params' })
      : empty('No params.')),
    section('Metrics', x.series.length ? table(['metric', '#latest', '#min', '#max', '#points'], metricRows, { id: 'metrics' }) : empty('No metrics.'), charts),
    section('Inputs and outputs', io(x)),
    Object.keys(x.tags).length ? section('Tags', table(['tag', 'value'], Object.entries(x.tags).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))))) : null,
    logBox);
  for (const se of x.series.filter((se) => se.points > 1)) charts.append(await seriesChart([x.id], se.key));
  const log = await api(`/api/runs/${encodeURIComponent(x.id)}/log`);
  if (log.log != null) logBox.replaceChildren(section('Log', h('pre', { class: 'log' }, log.log)));
}

function io(x) {
  const item = (ref) => {
    const art = ref.match(/^artifact:(.*)@([0-9a-f]+)$/);
    if (art) {
      return h('li', {}, h('button', { type: 'button', class: 'link', onclick: () => download(`/api/2.0/mlflow-artifacts/artifacts/${art[1].split('/').map(encodeURIComponent).join('/')}`, art[1].split('/').pop()) }, art[1]), ' ',
        h('span', { class: 'muted mono' }, art[2].slice(0, 12)));
    }
    if (ref.startsWith('log:')) return h('li', {}, 'log ', h('span', { class: 'muted mono' }, ref.slice(4, 16)));
    return h('li', {}, h('a', { href: link(['lineage'], { of: ref }), class: 'mono' }, ref));
  };
  return h('div', { class: 'io' },
    h('div', {}, h('h3', {}, 'Read'), x.inputs.length ? h('ul', {}, x.inputs.map(item)) : empty('nothing recorded')),
    h('div', {}, h('h3', {}, 'Wrote'), x.outputs.length ? h('ul', {}, x.outputs.map(item)) : empty('nothing recorded')));
}

/// A metric of one or more runs as one chart, zoomable: a drag asks the server for the
/// narrower range at full detail.
async function seriesChart(ids, key, range) {
  const q = new URLSearchParams({ points: 1000 });
  if (range) { q.set('from', Math.floor(range[0])); q.set('to', Math.ceil(range[1])); }
  const all = await Promise.all(ids.map((id) => api(`/api/runs/${encodeURIComponent(id)}/series/${encodeURIComponent(key)}?${q}`).catch(() => null)));
  const got = all.filter(Boolean);
  const holder = h('div', { class: 'series-chart', 'data-key': key });
  const total = got.reduce((a, se) => a + se.total, 0);
  const inRange = got.reduce((a, se) => a + se.in_range, 0);
  const sent = got.reduce((a, se) => a + se.points.length, 0);
  const fig = lineChart({
    title: `${key}${range ? ` · steps ${Math.floor(range[0])}–${Math.ceil(range[1])}` : ''}`,
    series: got.map((se) => ({ name: ids.length > 1 ? short(se.run) : key, points: se.points.map((p) => [p.step, num(p.value)]) })),
    xLabel: 'step',
    onZoom: async (a, b) => holder.replaceWith(await seriesChart(ids, key, [a, b])),
  });
  holder.append(fig, h('p', { class: 'muted small' },
    `${sent.toLocaleString('en')} of ${inRange.toLocaleString('en')} points drawn${inRange < total ? ` (${total.toLocaleString('en')} in all)` : ''}; drag across the chart to zoom. `,
    range ? h('button', { type: 'button', class: 'link', onclick: async () => holder.replaceWith(await seriesChart(ids, key)) }, 'Reset zoom') : null));
  return holder;
}

// ---------------------------------------------------------------------------------------
// Comparing runs

export async function compare(view, r) {
  const ids = (r.query.get('runs') || '').split(',').filter(Boolean);
  const c = await api(`/api/compare?runs=${encodeURIComponent(ids.join(','))}`);
  const onlyDiff = r.query.get('diff') === '1';
  const differs = (vals) => new Set(vals.map((v) => (v == null ? '\u0000' : String(v)))).size > 1;
  const heads = () => ['', ...c.runs.map((x) => h('th', { scope: 'col' }, h('a', { href: link(['runs', x.id]), class: 'mono' }, short(x.id)), h('br'), x.name))];
  const row = (k, vals, text, cls) => h('tr', { class: differs(vals) ? 'differs' : null }, h('th', { scope: 'row' }, k, differs(vals) ? h('span', { class: 'sr-only' }, ' (differs)') : null), vals.map((v) => h('td', { class: cls }, text(v))));
  const params = Object.entries(c.params).filter(([, v]) => !onlyDiff || differs(v));
  const metrics = Object.entries(c.metrics).filter(([, v]) => !onlyDiff || differs(v));
  const pick = h('select', { id: 'curve' }, Object.keys(c.metrics).map((k) => h('option', { value: k }, k)));
  const curves = h('div', { class: 'charts' });
  const draw = async () => curves.replaceChildren(await seriesChart(c.runs.map((x) => x.id), pick.value));
  pick.addEventListener('change', draw);
  // Parallel coordinates: numeric params and metrics that differ.
  const axes = [
    ...Object.entries(c.params).filter(([, v]) => differs(v)).map(([k, v]) => ({ name: k, values: v.map((x) => (x != null && x !== '' && !isNaN(Number(x)) ? Number(x) : x)) })),
    ...Object.entries(c.metrics).map(([k, v]) => ({ name: k, values: v.map((x) => (x == null ? null : num(x))) })),
  ].slice(0, 12);
  show(view, 
    h('h1', {}, `Comparing ${c.runs.length} runs`),
    h('p', {}, h('a', { href: link(['compare'], { runs: ids.join(','), diff: onlyDiff ? null : '1' }) }, onlyDiff ? 'Show every row' : 'Show only differences')),
    section('Params', params.length ? table(heads(), params.map(([k, v]) => row(k, v, (x) => x ?? '–', 'text')), { id: 'compare-params' }) : empty('No params differ.')),
    section('Metrics', metrics.length ? table(heads(), metrics.map(([k, v]) => row(k, v, (x) => fmt(num(x)), 'num')), { id: 'compare-metrics' }) : empty('No metrics.')),
    section('Curves', h('label', { for: 'curve' }, 'Metric '), pick, curves),
    axes.length > 1 ? section('Parallel coordinates', parallel(axes, c.runs.map((x) => ({ name: `${short(x.id)} ${x.name}` })), 'parallel coordinates of the runs')) : null);
  if (pick.value) await draw();
}

// ---------------------------------------------------------------------------------------
// Data

export async function data(view, r) {
  const [, name, version] = r.parts;
  if (name && version === 'compare') return datasetCompare(view, name, r.query);
  if (name && version) return datasetVersion(view, name, version);
  if (name) return dataset(view, name);
  const all = await api('/api/datasets');
  show(view, h('h1', {}, 'Datasets'),
    all.length ? table(['dataset', '#versions', 'latest', '#rows', '#columns', 'added'], all.map((d) => h('tr', {},
      h('td', {}, h('a', { href: link(['data', d.name]) }, d.name)), h('td', { class: 'num' }, d.versions),
      h('td', {}, h('a', { href: link(['data', d.name, String(d.latest.seq)]) }, `@${d.latest.seq}`)),
      h('td', { class: 'num' }, d.latest.rows.toLocaleString('en')), h('td', { class: 'num' }, d.latest.columns),
      h('td', {}, d.latest.created_at.slice(0, 19).replace('T', ' ')))), { id: 'datasets' })
      : empty('No datasets yet: `gyre data add NAME FILE`.'));
}

async function dataset(view, name) {
  const versions = await api(`/api/datasets/${encodeURIComponent(name)}`);
  const a = h('select', { id: 'va' }, versions.map((v) => h('option', { value: v.seq }, `@${v.seq}`)));
  const b = h('select', { id: 'vb' }, versions.map((v, i) => h('option', { value: v.seq, selected: i === versions.length - 1 }, `@${v.seq}`)));
  show(view, h('h1', {}, name),
    section('Versions', table(['version', 'id', '#rows', '#columns', '#bytes', 'added', 'by', 'from'], versions.map((v) => h('tr', {},
      h('td', {}, h('a', { href: link(['data', name, String(v.seq)]) }, `@${v.seq}`)), h('td', { class: 'mono' }, String(v.id).slice(0, 12)),
      h('td', { class: 'num' }, v.rows.toLocaleString('en')), h('td', { class: 'num' }, v.columns), h('td', { class: 'num' }, v.bytes.toLocaleString('en')),
      h('td', {}, v.created_at.slice(0, 19).replace('T', ' ')), h('td', {}, v.created_by), h('td', {}, v.source))), { id: 'versions' })),
    versions.length > 1 ? section('Compare two versions', h('form', { class: 'inline', onsubmit: (evt) => { evt.preventDefault(); go(['data', name, 'compare'], { a: a.value, b: b.value }); } },
      h('label', { for: 'va' }, 'From '), a, h('label', { for: 'vb' }, ' to '), b, ' ', h('button', { type: 'submit' }, 'Diff and drift'))) : null);
}

async function datasetVersion(view, name, version) {
  const v = await api(`/api/datasets/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`);
  const report = h('div');
  const cols = v.profile.columns.map((c) => {
    const n = c.numeric;
    const stats = n ? kv([['min', fmt(num(n.min))], ['max', fmt(num(n.max))], ['mean', fmt(num(n.mean))], ['std', fmt(num(n.std))],
      ...n.quantiles.map((q) => [`q${Math.round(q.q * 100)}`, fmt(num(q.value))])]) : null;
    return h('article', { class: 'column card', 'data-column': c.name },
      h('h3', {}, c.name, ' ', h('span', { class: 'badge' }, c.type)),
      kv([['values', c.count.toLocaleString('en')], ['missing', c.nulls.toLocaleString('en')],
        ['distinct', `${c.distinct.toLocaleString('en')}${c.distinct_exact ? '' : ' (estimate)'}`],
        ['range', c.time_range ? `${c.time_range[0]} – ${c.time_range[1]}` : null]]),
      n ? histogram(n.histogram.edges.map(num), n.histogram.counts, `histogram of ${c.name}`) : null,
      stats,
      !n && c.top_values.length ? table(['value', '#count'], c.top_values.slice(0, 10).map((t) => h('tr', {}, h('td', {}, t.value), h('td', { class: 'num' }, t.count.toLocaleString('en'))))) : null);
  });
  show(view, h('h1', {}, `${name}@${v.seq}`),
    section('Version', kv([['id', h('span', { class: 'mono' }, v.id)], ['rows', v.rows.toLocaleString('en')], ['columns', v.columns],
      ['added', `${v.created_at} by ${v.created_by}`], ['from', v.source],
      ['lineage', h('a', { href: link(['lineage'], { of: `dataset:${name}@${v.id}` }) }, 'what made it and what used it')]]),
    h('button', { type: 'button', id: 'validate', onclick: async () => {
      report.replaceChildren(h('p', { class: 'loading' }, 'Validating…'));
      try { report.replaceChildren(validation(await api(`/api/datasets/${encodeURIComponent(name)}/versions/${v.seq}/validation`))); } catch (e) { report.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message)); }
    } }, 'Validate against the schema'), report),
    h('h2', {}, 'Columns'), h('div', { class: 'columns-grid' }, cols));
}

function validation(rep) {
  return h('div', { id: 'validation' }, h('p', {}, `${rep.target} against ${rep.schema}: ${rep.rows.toLocaleString('en')} rows, ${rep.anomalies.length} anomal${rep.anomalies.length === 1 ? 'y' : 'ies'}.`),
    rep.anomalies.length ? table(['column', 'rule', 'severity', 'expected', 'found', '#rows'], rep.anomalies.map((a) => h('tr', { class: `sev-${a.severity}` },
      h('td', {}, a.column ?? '(table)'), h('td', {}, typeof a.rule === 'string' ? a.rule : JSON.stringify(a.rule)), h('td', {}, a.severity), h('td', {}, a.expected), h('td', {}, a.found),
      h('td', { class: 'num' }, a.count.toLocaleString('en'))))) : h('p', { class: 'ok' }, 'No anomalies.'));
}

async function datasetCompare(view, name, q) {
  const c = await api(`/api/datasets/${encodeURIComponent(name)}/compare?${new URLSearchParams({ a: q.get('a'), b: q.get('b') })}`);
  const d = c.diff.diff;
  const drift = c.drift;
  show(view, h('h1', {}, `${name}: @${c.diff.from.seq} → @${c.diff.to.seq}`),
    section('Changes', kv([['rows', `${d.rows[0].toLocaleString('en')} → ${d.rows[1].toLocaleString('en')}`],
      ['files added', c.diff.files.added.join(', ') || 'none'], ['files removed', c.diff.files.removed.join(', ') || 'none'],
      ['files changed', c.diff.files.modified.join(', ') || 'none'],
      ['columns added', d.added.map((x) => x[0]).join(', ') || 'none'], ['columns removed', d.removed.map((x) => x[0]).join(', ') || 'none'],
      ['retyped', d.retyped.map((x) => `${x[0]}: ${x[1]} → ${x[2]}`).join(', ') || 'none']]),
    d.changed.length ? table(['column', 'statistic', '#from', '#to'], d.changed.flatMap((col) => col.stats.map((st) => h('tr', {},
      h('th', { scope: 'row' }, col.name), h('td', {}, st.stat), h('td', { class: 'num' }, fmt(num(st.from))), h('td', { class: 'num' }, fmt(num(st.to))))))) : empty('No column statistic changed.')),
    section(`Drift: ${drift.drifted} of ${drift.judged} columns drifted${drift.dataset_drift ? ' — the dataset drifted' : ''}`,
      table(['column', 'kind', 'method', '#score', '#threshold', 'drifted'], drift.columns.map((col) => h('tr', { class: col.drifted ? 'differs' : null },
        h('th', { scope: 'row' }, col.name), h('td', {}, col.kind ?? '–'), h('td', {}, col.method ?? '–'), h('td', { class: 'num' }, fmt(num(col.score))),
        h('td', { class: 'num' }, fmt(num(col.threshold))), h('td', {}, col.drifted == null ? '–' : col.drifted ? 'yes' : 'no'))), { id: 'drift' })));
}

// ---------------------------------------------------------------------------------------
// Registry

export async function models(view, r) {
  const [, name, version] = r.parts;
  if (name && version) return modelVersion(view, name, version);
  if (name) return model(view, name);
  const all = await api('/api/models');
  show(view, h('h1', {}, 'Models'),
    all.length ? table(['model', '#versions', '#latest', 'aliases'], all.map((m) => h('tr', {},
      h('td', {}, h('a', { href: link(['models', m.name]) }, m.name)), h('td', { class: 'num' }, m.versions), h('td', { class: 'num' }, m.latest),
      h('td', {}, m.aliases.map(([a, v]) => h('span', { class: 'badge alias' }, `${a} → ${v}`))))), { id: 'models' })
      : empty('No models registered yet: `gyre models register`.'));
}

const hoursText = (d) => (d.median_ms == null ? '–' : `${(d.median_ms / 3.6e6).toFixed(1)} h median (n = ${d.n})`);

/// The four delivery metrics of a model, from its audit trail and monitor events.
function delivery(d) {
  return section('Delivery', h('div', { id: 'delivery' }, kv([
    ['deployments', `${d.deployments} (${d.deployments_per_week.toFixed(2)} a week)`],
    ['lead time', hoursText(d.lead_time)],
    ['change failure rate', d.change_failure_rate == null ? '–' : `${Math.round(100 * d.change_failure_rate)} %`],
    ['time to recover', `${hoursText(d.time_to_recover)}${d.open_breaches ? `, ${d.open_breaches} open` : ''}`],
    ['caught by the canary', String(d.canary_rollbacks)],
  ])));
}

async function model(view, name) {
  const m = await api(`/api/models/${encodeURIComponent(name)}`);
  const d = await api(`/api/delivery?model=${encodeURIComponent(name)}`);
  const verdict = (v) => (v == null ? h('span', { class: 'muted' }, 'not judged') : v ? h('span', { class: 'ok' }, '✓ passed') : h('span', { class: 'bad' }, '✗ failed'));
  const alias = h('input', { id: 'alias', value: 'champion', required: true, pattern: '[A-Za-z0-9_-]+', size: 14 });
  const ver = h('select', { id: 'alias-version' }, m.versions.slice().reverse().map((v) => h('option', { value: v.version }, `${name}@${v.version}`)));
  const reason = h('input', { id: 'reason', size: 30, placeholder: 'why' });
  const result = h('p', { role: 'status', id: 'alias-result' });
  const editor = can('editor');
  const form = h('form', { class: 'inline', id: 'move-alias', onsubmit: async (evt) => {
    evt.preventDefault();
    result.className = '';
    result.textContent = 'Moving…';
    try {
      const e = await api(`/api/models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias.value)}`, { method: 'POST', body: { version: Number(ver.value), reason: reason.value } });
      result.className = 'ok';
      result.textContent = `${e.alias}: ${e.from ?? 'none'} → ${e.to}`;
      setTimeout(() => model(view, name), 800);
    } catch (e) {
      result.className = 'error';
      result.textContent = e.message;
    }
  } },
  h('label', { for: 'alias' }, 'Alias '), alias, h('label', { for: 'alias-version' }, ' to '), ver,
  h('label', { for: 'reason' }, ' reason '), reason, ' ', h('button', { type: 'submit', disabled: editor === false }, 'Move alias'),
  editor === false ? h('span', { class: 'muted' }, ' (needs an editor token)') : null);
  show(view, h('h1', {}, name),
    section('Versions', table(['version', 'aliases', 'gate verdict', 'registered', 'by', 'run', 'model'], m.versions.map((v) => h('tr', {},
      h('td', {}, h('a', { href: link(['models', name, String(v.version)]) }, `@${v.version}`)),
      h('td', {}, v.aliases.map((a) => h('span', { class: 'badge alias' }, a))), h('td', {}, verdict(v.verdict)),
      h('td', {}, when(v.created_ms)), h('td', {}, v.user),
      h('td', {}, v.run_id ? h('a', { href: link(['runs', v.run_id]), class: 'mono' }, short(v.run_id)) : '–'),
      h('td', { class: 'mono' }, h('a', { href: link(['lineage'], { of: 'model:' + v.model }) }, v.model.slice(0, 12))))), { id: 'versions' })),
    delivery(d),
    section('Move an alias', h('p', { class: 'muted' }, m.gate ? '`champion` needs a passing gate verdict; the move is audited with your token.' : 'The move is audited with your token.'), form, result),
    section('Audit trail', m.history.length ? table(['when', 'alias', '#from', '#to', 'by', 'kind', 'reason'], m.history.slice().reverse().map((e) => h('tr', {},
      h('td', {}, when(e.at_ms)), h('td', {}, e.alias), h('td', { class: 'num' }, e.from ?? '–'), h('td', { class: 'num' }, e.to ?? '–'),
      h('td', {}, e.user), h('td', {}, `${e.kind}${e.forced ? ' (forced)' : ''}`), h('td', {}, e.reason))), { id: 'audit' }) : empty('No alias has moved yet.')));
}

async function modelVersion(view, name, version) {
  const m = await api(`/api/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`);
  const v = m.verdict;
  show(view, h('h1', {}, `${name}@${m.version}`),
    section('Model', kv([['algorithm', m.algorithm], ['target', m.target], ['classes', m.classes.join(', ')], ['aliases', m.aliases.join(', ') || 'none'],
      ['size', `${m.size_bytes.toLocaleString('en')} bytes`], ['hash', h('span', { class: 'mono' }, m.model)], ['git', m.git_commit],
      ['run', m.run_id ? h('a', { href: link(['runs', m.run_id]), class: 'mono' }, short(m.run_id)) : null],
      ['datasets', m.datasets.join(', ')], ['imported from', m.imported ? m.imported.from : null]])),
    section('Metrics', m.metrics.length ? table(['metric', '#value'], m.metrics.map(([k, x]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'num' }, fmt(num(x)))))) : empty('No metrics recorded.')),
    section('Gate verdict', v ? [h('p', { class: v.passed ? 'ok' : 'bad' }, `${v.passed ? '✓ passed' : '✗ failed'} · ${when(v.created_ms)} · ${v.user}`),
      table(['check', 'expected', 'found', 'result'], v.checks.map((c) => h('tr', { class: c.passed ? null : 'differs' },
        h('th', { scope: 'row' }, c.check), h('td', {}, c.expected), h('td', {}, c.found), h('td', {}, c.passed ? '✓ pass' : '✗ fail'))), { id: 'checks' })]
      : empty('Not judged yet: `gyre models validate NAME@V`.')),
    section('Inputs', table(['column', 'type'], m.inputs.map(([c, t]) => h('tr', {}, h('td', {}, c), h('td', {}, t))))));
}

// ---------------------------------------------------------------------------------------
// Monitoring

const QUALITY = ['f1', 'precision', 'recall'];
const MARKED = new Set(['breach', 'recover', 'retrain', 'promote', 'rollback', 'change']);

export async function monitor(view, r) {
  if (r.parts[1] === 'backtest' && r.parts[2]) return backtest(view, r.parts[2]);
  const runs = await api(`/api/runs?${new URLSearchParams({ where: "name = 'backtest'", limit: 20 })}`);
  const backtests = section('Backtests', runs.runs.length
    ? table(['run', 'started', 'data', 'metric', 'strategies'], runs.runs.map((x) => h('tr', {},
      h('td', {}, h('a', { href: link(['monitor', 'backtest', x.id]), class: 'mono' }, short(x.id))), h('td', {}, when(x.started_ms)),
      h('td', {}, x.params.data ?? '–'), h('td', {}, x.params.metric ?? '–'),
      h('td', {}, Object.entries(x.metrics).filter(([k]) => k.startsWith(`${x.params.metric}.`)).map(([k, v]) => `${k.slice(x.params.metric.length + 1)} ${fmt(num(v))}`).join(' · ')))), { id: 'backtests' })
    : empty('No backtest yet: `gyre backtest NAME` replays a dataset through the loop.'));
  let last;
  try {
    last = await api('/api/monitor');
  } catch (e) {
    if (e.status !== 400 && e.status !== 404) throw e;
    return show(view, h('h1', {}, 'Monitoring'), section('The live loop', h('p', {}, e.message)), backtests);
  }
  draw(last);
  // Live: asks again every 10 s and redraws only when something new was recorded.
  every(10_000, async () => {
    try {
      const t = await api('/api/monitor');
      if (JSON.stringify(t) !== JSON.stringify(last)) draw((last = t));
    } catch { /* the next tick tries again */ }
  });
  function draw(t) {
    // Quality is drawn against labelled predictions (the join order), the axis every
    // window and event shares whichever clock the loop ran on; an event sits at the end of
    // the window it names.
    const labels = t.windows.filter((w) => w.kind === 'labels');
    const traffic = t.windows.filter((w) => w.kind === 'traffic' && w.role === 'champion');
    // An event is drawn on the chart of the window it names: a quality window's on the
    // labelled-prediction axis, a traffic window's (drift, errors, latency) on the time axis.
    const marks = (at) => t.events.filter((e) => MARKED.has(e.kind) && at.has(e.point))
      .map((e) => ({ x: at.get(e.point), kind: e.kind, label: `${e.kind} ${e.rule} v${e.version}: ${e.detail}` }));
    const markers = marks(new Map(labels.map((w) => [w.id, w.last_seq])));
    const trafficMarkers = marks(new Map(traffic.map((w) => [w.id, w.end_ms])));
    const byRole = (role, key) => labels.filter((w) => w.role === role && typeof w.metrics[key] === 'number').map((w) => [w.last_seq, w.metrics[key]]);
    const quality = [
      ...QUALITY.map((k) => ({ name: `${k} (champion)`, points: byRole('champion', k) })),
      { name: 'f1 (challenger)', points: byRole('challenger', 'f1'), dash: '6 3' },
    ].filter((se) => se.points.length);
    const keysOf = (ws, pred) => [...new Set(ws.flatMap((w) => Object.keys(w.metrics)))].filter(pred).sort();
    const driftKeys = keysOf(traffic, (k) => k.startsWith('drift.')).slice(0, 8);
    const trafficKeys = keysOf(traffic, (k) => !k.startsWith('drift.')).slice(0, 6);
    const series = (ws, keys) => keys.map((k) => ({ name: k, points: ws.filter((w) => typeof w.metrics[k] === 'number').map((w) => [w.end_ms, w.metrics[k]]) }));
    show(view, 
      h('h1', {}, `Monitoring ${t.model}`),
      h('p', {}, t.aliases.map(([a, v]) => h('span', { class: 'badge alias' }, `${a} → ${t.model}@${v}`)), ' ',
        h('span', { class: 'muted' }, `${labels.length} windows with labels · refreshed ${new Date().toISOString().slice(11, 19)}`)),
      section('Quality per window', quality.length
        ? lineChart({ title: `precision, recall and F1 of ${t.model} per window`, series: quality, markers, xLabel: 'labelled predictions', yLabel: 'score', height: 320 })
        : empty('No window has closed yet: windows close as true labels arrive (POST /feedback).')),
      driftKeys.length ? section('Drift', lineChart({ title: 'drift per window', series: series(traffic, driftKeys), markers: trafficMarkers, xTime: true })) : null,
      trafficKeys.length ? section('Traffic', lineChart({ title: 'traffic per window', series: series(traffic, trafficKeys), markers: trafficMarkers, xTime: true })) : null,
      section('Events', t.events.length ? table(['when', 'event', 'rule', '#version', '#value', '#threshold', 'detail'], t.events.slice().reverse().slice(0, 200).map((e) => h('tr', { class: `event-${e.kind}` },
        h('td', {}, when(e.ts_ms)), h('td', {}, e.kind), h('td', {}, e.rule), h('td', { class: 'num' }, e.version), h('td', { class: 'num' }, fmt(e.value)),
        h('td', { class: 'num' }, fmt(e.threshold)), h('td', {}, e.detail))), { id: 'events' }) : empty('No events yet.')),
      backtests);
  }
}

/// A `gyre backtest`: each strategy's metric per window over the replayed rows, with what the
/// loop did marked.
async function backtest(view, id) {
  const rep = await api(`/api/runs/${encodeURIComponent(id)}/backtest`);
  const m = rep.metric;
  const series = rep.strategies.map((st) => ({ name: st.name, points: st.windows.map((w) => [w.row, num(w.figures[m])]) }));
  const markers = rep.marks.filter((k) => MARKED.has(k.kind)).map((k) => ({ x: k.row, kind: k.kind, label: `${k.kind}: ${k.detail}` }));
  show(view, h('h1', {}, `Backtest of ${rep.data}`),
    section('Replay', kv([['run', h('a', { href: link(['runs', id]), class: 'mono' }, short(id))], ['rows replayed', rep.rows.toLocaleString('en')],
      ['training rows', rep.train_rows.toLocaleString('en')], ['window', `${rep.window} rows`], ['metric', m],
      ['positive class', rep.positive], ['took', `${rep.seconds.toFixed(1)} s`], ['notes', rep.notes.join('; ') || null]])),
    section(`${m} per window`, lineChart({ title: `${m} per window of ${rep.data}, each strategy`, series, markers, xLabel: 'replayed rows', yLabel: m, height: 320 })),
    section('Strategies', table(['strategy', `#mean ${m}`, '#retrains', '#promotions', '#rollbacks'], rep.strategies.map((st) => h('tr', {},
      h('th', { scope: 'row' }, st.name), h('td', { class: 'num' }, fmt(num(st.mean))), h('td', { class: 'num' }, st.retrains),
      h('td', { class: 'num' }, st.promotions), h('td', { class: 'num' }, st.rollbacks))), { id: 'strategies' })));
}

// ---------------------------------------------------------------------------------------
// Pipeline and lineage

// A step's state as the server names it, as a CSS class and as words.
const STATES = {
  up_to_date: ['ok', 'up to date'], restorable: ['restore', 'will be restored'], stale: ['stale', 'out of date'],
  failed: ['failed', 'failed'], never_ran: ['never', 'never ran'],
};

export async function pipeline(view) {
  const steps = await api('/api/pipeline');
  const [cls, words] = [(st) => STATES[st.state][0], (st) => STATES[st.state][1]];
  const nodes = steps.map((st) => ({ id: st.step, label: st.step, sub: `${st.uses || 'command'} · ${words(st)}`, state: cls(st),
    title: [st.step, ...st.reasons].join('\n'), href: st.last ? link(['runs', st.last.run]) : null }));
  const edges = steps.flatMap((st) => st.after.map((u) => [u, st.step]));
  show(view, h('h1', {}, 'Pipeline'),
    steps.length ? [
      section('Steps', h('div', { class: 'scroll' }, graph(nodes, edges, 'the pipeline as a graph of steps')),
        h('ul', { class: 'legend' }, Object.values(STATES).map(([c, w]) => h('li', {}, h('span', { class: `swatch state-${c}` }), ' ', w)))),
      section('Each step', table(['step', 'uses', 'waits for', 'state', 'why', 'last run'], steps.map((st) => h('tr', { class: `state-${cls(st)}` },
        h('th', { scope: 'row' }, st.step), h('td', {}, st.uses || h('code', {}, st.command || '')), h('td', {}, st.after.join(', ') || '–'),
        h('td', {}, words(st)), h('td', {}, st.state === 'failed' && st.last.note ? st.last.note : st.reasons.join('; ') || '–'),
        h('td', {}, st.last ? [h('a', { href: link(['runs', st.last.run]), class: 'mono' }, short(st.last.run)), ` ${st.last.status} ${when(st.last.started_ms)}`] : '–'))), { id: 'steps' }))]
      : empty('No steps: add [steps.NAME] to gyre.toml.'));
}

export async function lineage(view, r) {
  const of = r.query.get('of') || '';
  const input = h('input', { id: 'of', value: of, size: 50, spellcheck: 'false', placeholder: 'model:HASH, NAME@V or dataset:NAME@ID' });
  const form = h('form', { class: 'inline', onsubmit: (evt) => { evt.preventDefault(); go(['lineage'], { of: input.value.trim() }); } },
    h('label', { for: 'of' }, 'Artifact '), input, ' ', h('button', { type: 'submit' }, 'Trace'));
  if (!of) return show(view, h('h1', {}, 'Lineage'), form);
  const g = await api(`/api/lineage?of=${encodeURIComponent(of)}`);
  const nodes = g.nodes.map((n) => {
    const isRun = n.id.startsWith('run:');
    return { id: n.id, label: n.label, sub: isRun ? 'run' : n.id.split(':')[0], state: isRun ? 'run' : n.id === g.root ? 'root' : 'artifact',
      title: n.id, href: isRun ? link(['runs', n.id.slice(4)]) : link(['lineage'], { of: n.id }) };
  });
  show(view, h('h1', {}, 'Lineage'), form,
    section(`Upstream of ${g.root}`, h('div', { class: 'scroll' }, graph(nodes, g.edges, `lineage of ${g.root}`)),
      table(['from', 'to'], g.edges.map(([a, b]) => h('tr', {}, h('td', { class: 'mono' }, a), h('td', { class: 'mono' }, b))), { id: 'lineage-edges' })));
}
