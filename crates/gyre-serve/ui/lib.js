// What every page uses: elements, the API client, routes and the signed-in token.

const TOKEN = 'gyre.token';

/// An element: h('a', {href: '#/runs', class: 'x', onclick: f}, 'text', child, ...).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/// Replaces what `view` shows; arrays are spread and null or false children left out.
export function show(view, ...children) {
  view.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
}

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN);
}

/// Calls the API with the signed-in token; a non-2xx answer throws an ApiError carrying the
/// server's message.
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) {
    throw new ApiError(resp.status, (data && (data.error || data.message)) || resp.statusText, data && data.code);
  }
  return data;
}

/// The same call as api(), for a file: returns its bytes as a Blob.
export async function download(path, name) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  const resp = await fetch(path, { headers });
  if (!resp.ok) throw new ApiError(resp.status, resp.statusText);
  const url = URL.createObjectURL(await resp.blob());
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/// The current route: #/a/b?x=1 → {parts: ['a', 'b'], query}.
export function route() {
  const raw = location.hash.replace(/^#/, '') || '/runs';
  const [path, qs] = raw.split('?');
  return { parts: path.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(qs || '') };
}

/// A hash link to a route.
export function link(parts, query) {
  const path = '#/' + parts.map(encodeURIComponent).join('/');
  const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v != null && v !== '')).toString() : '';
  return qs ? `${path}?${qs}` : path;
}

export function go(parts, query) {
  location.hash = link(parts, query);
}

/// Timers a page starts (live refresh), stopped when the page is left.
const timers = [];
export function every(ms, f) {
  timers.push(setInterval(f, ms));
}

let me = null;

/// Who the page is signed in as ({name, role}; both null when reads are open), once asked.
export function whoami() {
  return me;
}

export function setWhoami(w) {
  me = w;
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN, t);
  else sessionStorage.removeItem(TOKEN);
}

export function stopTimers() {
  while (timers.length) clearInterval(timers.pop());
}

/// Whether the signed-in token has `role` (or above); null when reads are open and nobody is
/// signed in (the server then decides each action).
export function can(role) {
  const order = ['viewer', 'predictor', 'editor', 'admin'];
  if (!me || !me.role) return null;
  return order.indexOf(me.role) >= order.indexOf(role);
}

