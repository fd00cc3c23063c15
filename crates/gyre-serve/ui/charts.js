// Charts drawn as SVG: lines with event markers and drag-to-zoom, histograms, parallel
// coordinates, and layered graphs (the pipeline's DAG, lineage). Series reach the page already
// cut down by the server (at most a few thousand points), so plain SVG stays fast.

const NS = 'http://www.w3.org/2000/svg';

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Colours with at least 4.5:1 contrast on white, told apart by dash as well as hue.
export const PALETTE = ['#1f5fa8', '#b3261e', '#2e7d32', '#8a4baf', '#a15c00', '#00707a', '#5c5c5c', '#c2185b'];

export const MARKER_COLOURS = {
  breach: '#b3261e', recover: '#2e7d32', retrain: '#a15c00', promote: '#1f5fa8',
  rollback: '#8a4baf', change: '#5c5c5c', canary: '#00707a',
};

/// "Nice" tick values between lo and hi (about `count` of them).
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12));
  return out;
}

export function fmt(v) {
  if (v == null) return '–';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  if (Number.isInteger(v)) return v.toLocaleString('en');
  return (+v.toPrecision(4)).toString();
}

function timeLabel(ms, span) {
  const d = new Date(ms);
  const iso = d.toISOString();
  return span > 2 * 86400e3 ? iso.slice(5, 10) : iso.slice(11, 16);
}

function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) { const pad = Math.abs(lo) * 0.05 || 0.5; return [lo - pad, hi + pad]; }
  return [lo, hi];
}

/// A line chart. opts: {title, series: [{name, points: [[x, y]], dash}], markers:
/// [{x, kind, label}], xTime, xLabel, yLabel, onZoom(x0, x1), height}. Returns a <figure>.
export function lineChart(opts) {
  const W = 760, H = opts.height || 280, L = 56, R = 16, T = 14, B = 40;
  const pw = W - L - R, ph = H - T - B;
  const xs = [], ys = [];
  for (const se of opts.series) for (const [x, y] of se.points) { xs.push(x); ys.push(y); }
  for (const m of opts.markers || []) xs.push(m.x);
  const [x0, x1] = opts.xRange || extent(xs);
  const [y0, y1] = opts.yRange || extent(ys);
  const X = (x) => L + ((x - x0) / (x1 - x0 || 1)) * pw;
  const Y = (y) => T + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': opts.title || 'chart',
  });
  const grid = s('g', { class: 'axis' });
  for (const t of ticks(y0, y1)) {
    grid.append(s('line', { x1: L, x2: W - R, y1: Y(t), y2: Y(t), class: 'gridline' }));
    grid.append(s('text', { x: L - 6, y: Y(t) + 4, 'text-anchor': 'end' }, fmt(t)));
  }
  for (const t of ticks(x0, x1, 6)) {
    grid.append(s('line', { x1: X(t), x2: X(t), y1: T + ph, y2: T + ph + 4, class: 'tick' }));
    grid.append(s('text', { x: X(t), y: T + ph + 16, 'text-anchor': 'middle' },
      opts.xTime ? timeLabel(t, x1 - x0) : fmt(t)));
  }
  grid.append(s('line', { x1: L, x2: W - R, y1: T + ph, y2: T + ph, class: 'baseline' }));
  if (opts.xLabel) grid.append(s('text', { x: L + pw / 2, y: H - 4, 'text-anchor': 'middle', class: 'label' }, opts.xLabel));
  if (opts.yLabel) grid.append(s('text', { x: 12, y: T + ph / 2, transform: `rotate(-90 12 ${T + ph / 2})`, 'text-anchor': 'middle', class: 'label' }, opts.yLabel));
  svg.append(grid);
  svg.append(s('defs', {}, s('clipPath', { id: 'clip' + (++clipId) }, s('rect', { x: L, y: T, width: pw, height: ph }))));
  const body = s('g', { 'clip-path': `url(#clip${clipId})` });
  for (const m of opts.markers || []) {
    const c = MARKER_COLOURS[m.kind] || '#5c5c5c';
    body.append(s('line', { x1: X(m.x), x2: X(m.x), y1: T, y2: T + ph, stroke: c, class: 'marker', 'data-kind': m.kind },
      s('title', {}, m.label || m.kind)));
  }
  opts.series.forEach((se, i) => {
    const colour = se.colour || PALETTE[i % PALETTE.length];
    let d = '';
    let pen = false;
    for (const [x, y] of se.points) {
      if (!Number.isFinite(y)) { pen = false; continue; }
      d += (pen ? 'L' : 'M') + X(x).toFixed(1) + ',' + Y(y).toFixed(1);
      pen = true;
    }
    body.append(s('path', { d, fill: 'none', stroke: colour, 'stroke-width': 1.8,
      'stroke-dasharray': se.dash || (i >= PALETTE.length ? '5 3' : null), class: 'series', 'data-name': se.name }));
    if (se.points.length <= 60) {
      for (const [x, y] of se.points) {
        if (Number.isFinite(y)) body.append(s('circle', { cx: X(x), cy: Y(y), r: 2.5, fill: colour }));
      }
    }
  });
  svg.append(body);
  // Hover: a crosshair and the nearest point of each series.
  const cross = s('line', { y1: T, y2: T + ph, class: 'crosshair', visibility: 'hidden' });
  const band = s('rect', { y: T, height: ph, class: 'zoomband', visibility: 'hidden' });
  svg.append(cross, band);
  const readout = document.createElement('div');
  readout.className = 'readout';
  readout.setAttribute('aria-live', 'polite');
  const toX = (evt) => {
    const box = svg.getBoundingClientRect();
    const px = ((evt.clientX - box.left) / box.width) * W;
    return Math.min(Math.max(px, L), L + pw);
  };
  const invX = (px) => x0 + ((px - L) / pw) * (x1 - x0);
  let dragFrom = null;
  svg.addEventListener('pointermove', (evt) => {
    const px = toX(evt);
    cross.setAttribute('x1', px); cross.setAttribute('x2', px);
    cross.setAttribute('visibility', 'visible');
    const x = invX(px);
    const parts = opts.series.map((se) => {
      let best = null;
      for (const p of se.points) if (best == null || Math.abs(p[0] - x) < Math.abs(best[0] - x)) best = p;
      return best ? `${se.name}: ${fmt(best[1])}` : null;
    }).filter(Boolean);
    readout.textContent = `${opts.xTime ? new Date(x).toISOString().slice(0, 16).replace('T', ' ') : fmt(Math.round(x))} · ${parts.join(' · ')}`;
    if (dragFrom != null) {
      band.setAttribute('x', Math.min(dragFrom, px));
      band.setAttribute('width', Math.abs(px - dragFrom));
      band.setAttribute('visibility', 'visible');
    }
  });
  svg.addEventListener('pointerleave', () => cross.setAttribute('visibility', 'hidden'));
  if (opts.onZoom) {
    svg.classList.add('zoomable');
    svg.addEventListener('pointerdown', (evt) => { dragFrom = toX(evt); });
    svg.addEventListener('pointerup', (evt) => {
      const from = dragFrom; dragFrom = null;
      band.setAttribute('visibility', 'hidden');
      if (from == null) return;
      const to = toX(evt);
      if (Math.abs(to - from) < 6) return;
      opts.onZoom(invX(Math.min(from, to)), invX(Math.max(from, to)));
    });
  }
  const legend = document.createElement('ul');
  legend.className = 'legend';
  opts.series.forEach((se, i) => {
    const li = document.createElement('li');
    const sw = s('svg', { width: 22, height: 8, 'aria-hidden': 'true' },
      s('line', { x1: 0, x2: 22, y1: 4, y2: 4, stroke: se.colour || PALETTE[i % PALETTE.length], 'stroke-width': 2.5,
        'stroke-dasharray': se.dash || (i >= PALETTE.length ? '5 3' : null) }));
    li.append(sw, ' ' + se.name);
    legend.append(li);
  });
  const kinds = [...new Set((opts.markers || []).map((m) => m.kind))];
  for (const k of kinds) {
    const li = document.createElement('li');
    li.append(s('svg', { width: 10, height: 12, 'aria-hidden': 'true' },
      s('line', { x1: 5, x2: 5, y1: 0, y2: 12, stroke: MARKER_COLOURS[k] || '#5c5c5c', 'stroke-width': 2 })), ' ' + k);
    legend.append(li);
  }
  const fig = document.createElement('figure');
  fig.className = 'figure';
  if (opts.title) {
    const cap = document.createElement('figcaption');
    cap.textContent = opts.title;
    fig.append(cap);
  }
  fig.append(svg, legend, readout);
  return fig;
}
let clipId = 0;

/// Bars for a histogram: edges (n + 1) and counts (n).
export function histogram(edges, counts, title) {
  const W = 320, H = 120, L = 4, R = 4, T = 6, B = 18;
  const max = Math.max(1, ...counts);
  const bw = (W - L - R) / counts.length;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'histogram', role: 'img', 'aria-label': title });
  counts.forEach((c, i) => {
    const h = ((H - T - B) * c) / max;
    svg.append(s('rect', { x: L + i * bw + 0.5, y: H - B - h, width: Math.max(bw - 1, 1), height: h, class: 'bar' },
      s('title', {}, `${fmt(edges[i])} – ${fmt(edges[i + 1])}: ${c}`)));
  });
  svg.append(s('text', { x: L, y: H - 4, class: 'small' }, fmt(edges[0])));
  svg.append(s('text', { x: W - R, y: H - 4, 'text-anchor': 'end', class: 'small' }, fmt(edges[edges.length - 1])));
  return svg;
}

/// Parallel coordinates: axes [{name, values: [per line]}], lines [{name}] (values may be
/// null). Text values are placed as categories.
export function parallel(axes, lines, title) {
  const W = 760, H = 300, T = 30, B = 24, L = 40, R = 40;
  const step = axes.length > 1 ? (W - L - R) / (axes.length - 1) : 0;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart parallel', role: 'img', 'aria-label': title });
  const scales = axes.map((a) => {
    const nums = a.values.every((v) => v == null || Number.isFinite(v));
    if (nums) {
      const [lo, hi] = extent(a.values);
      return { y: (v) => (v == null ? null : T + (H - T - B) * (1 - (v - lo) / (hi - lo || 1))), lo, hi };
    }
    const cats = [...new Set(a.values.filter((v) => v != null))].sort();
    return { y: (v) => (v == null ? null : T + ((H - T - B) * (cats.indexOf(v) + 0.5)) / cats.length), cats };
  });
  lines.forEach((ln, i) => {
    const pts = axes.map((a, j) => [L + j * step, scales[j].y(a.values[i])]).filter((p) => p[1] != null);
    const d = pts.map((p, k) => (k ? 'L' : 'M') + p[0].toFixed(1) + ',' + p[1].toFixed(1)).join('');
    svg.append(s('path', { d, fill: 'none', stroke: PALETTE[i % PALETTE.length], 'stroke-width': 1.6, class: 'pline' },
      s('title', {}, ln.name)));
  });
  axes.forEach((a, j) => {
    const x = L + j * step;
    svg.append(s('line', { x1: x, x2: x, y1: T, y2: H - B, class: 'paxis' }));
    svg.append(s('text', { x, y: T - 12, 'text-anchor': 'middle', class: 'label' }, a.name));
    const sc = scales[j];
    if (sc.cats) sc.cats.forEach((c) => svg.append(s('text', { x: x + 4, y: sc.y(c) + 4, class: 'small' }, c)));
    else {
      svg.append(s('text', { x: x + 4, y: T + 4, class: 'small' }, fmt(sc.hi)));
      svg.append(s('text', { x: x + 4, y: H - B, class: 'small' }, fmt(sc.lo)));
    }
  });
  return svg;
}

/// A layered drawing of a directed graph: nodes [{id, label, sub, state, href}], edges
/// [[from, to]]. Layers by longest path from a source; order in a layer by its parents' mean
/// position (one sweep), which keeps small pipelines and lineages readable.
export function graph(nodes, edges, title) {
  const ids = nodes.map((n) => n.id);
  const up = new Map(ids.map((id) => [id, []]));
  for (const [a, b] of edges) if (up.has(b) && up.has(a)) up.get(b).push(a);
  const layer = new Map();
  const depth = (id, seen = new Set()) => {
    if (layer.has(id)) return layer.get(id);
    if (seen.has(id)) return 0;
    seen.add(id);
    const d = Math.max(-1, ...up.get(id).map((u) => depth(u, seen))) + 1;
    layer.set(id, d);
    return d;
  };
  ids.forEach((id) => depth(id));
  const layers = [];
  for (const n of nodes) (layers[layer.get(n.id)] ||= []).push(n);
  const pos = new Map();
  const NW = 170, NH = 46, GX = 60, GY = 18;
  layers.forEach((ls, li) => {
    if (li > 0) {
      const mean = (n) => { const ps = up.get(n.id).map((u) => pos.get(u)?.y ?? 0); return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : 0; };
      ls.sort((a, b) => mean(a) - mean(b));
    }
    ls.forEach((n, i) => pos.set(n.id, { x: 10 + li * (NW + GX), y: 10 + i * (NH + GY) }));
  });
  const W = 20 + layers.length * (NW + GX) - GX;
  const H = 20 + Math.max(...layers.map((l) => l.length)) * (NH + GY) - GY;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'graph', role: 'img', 'aria-label': title });
  svg.append(s('defs', {}, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M0,0L10,5L0,10z', class: 'arrowhead' }))));
  for (const [a, b] of edges) {
    const p = pos.get(a), q = pos.get(b);
    if (!p || !q) continue;
    const x1 = p.x + NW, y1 = p.y + NH / 2, x2 = q.x, y2 = q.y + NH / 2;
    const mx = (x1 + x2) / 2;
    svg.append(s('path', { d: `M${x1},${y1}C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: 'edge', 'marker-end': 'url(#arrow)' }));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const g = s('g', { class: `node state-${n.state || 'none'}`, transform: `translate(${p.x},${p.y})`, 'data-id': n.id });
    g.append(s('rect', { width: NW, height: NH, rx: 6 }));
    g.append(s('text', { x: 8, y: 18, class: 'name' }, clip(n.label, 22)));
    if (n.sub) g.append(s('text', { x: 8, y: 36, class: 'small' }, clip(n.sub, 26)));
    g.append(s('title', {}, n.title || n.label));
    if (n.href) {
      const a = s('a', { href: n.href, 'aria-label': n.label });
      a.append(g);
      svg.append(a);
    } else svg.append(g);
  }
  return svg;
}

function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + '…' : text;
}
