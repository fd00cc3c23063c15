// gyre's web UI: a hash-routed single page over the server's JSON API. Every value from the
// API reaches the page as text (textContent, never innerHTML), and the page sends the token
// its user signed in with on every call, so the server's access rules decide what it may do.

import { api, go, h, route, setToken, setWhoami, stopTimers, whoami } from './lib.js';
import * as pages from './pages.js';

function header() {
  const nav = h('nav', { 'aria-label': 'Sections' },
    [['runs', 'Runs'], ['data', 'Data'], ['models', 'Models'], ['monitor', 'Monitoring'], ['pipeline', 'Pipeline']]
      .map(([p, label]) => h('a', { href: '#/' + p, 'data-section': p }, label)));
  const who = h('div', { class: 'who', id: 'who' });
  return h('header', { class: 'top' }, h('a', { href: '#/runs', class: 'brand' }, 'gyre'), nav, who);
}

function renderWho() {
  const who = document.getElementById('who');
  who.replaceChildren();
  const me = whoami();
  if (me && me.name) {
    who.append(h('span', {}, `${me.name} (${me.role})`), ' ',
      h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out'));
  } else {
    who.append(h('a', { href: '#/login' }, 'Sign in'));
  }
}

function signOut() {
  setToken(null);
  setWhoami(null);
  renderWho();
  go(['login']);
}

/// The sign-in page: a token from `gyre tokens create`, kept for this tab only.
function login(view, message) {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
  const status = h('p', { class: 'error', role: 'alert' }, message || '');
  const form = h('form', { class: 'card login', onsubmit: async (evt) => {
    evt.preventDefault();
    setToken(input.value.trim());
    try {
      setWhoami(await api('/api/whoami'));
      renderWho();
      go(['runs']);
    } catch (e) {
      setToken(null);
      status.textContent = e.message;
    }
  } },
  h('h1', {}, 'Sign in'),
  h('p', {}, 'Paste an API token (', h('code', {}, 'gyre tokens create --role viewer --name NAME'), ').'),
  h('label', { for: 'token' }, 'API token'), input,
  h('button', { type: 'submit' }, 'Sign in'), status);
  view.replaceChildren(form);
  input.focus();
}

const ROUTES = {
  runs: pages.runs,
  compare: pages.compare,
  data: pages.data,
  models: pages.models,
  monitor: pages.monitor,
  pipeline: pages.pipeline,
  lineage: pages.lineage,
};

async function render() {
  stopTimers();
  const view = document.getElementById('view');
  const r = route();
  const section = r.parts[0] || 'runs';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (section === 'login') return login(view);
  const page = ROUTES[section];
  if (!page) {
    view.replaceChildren(h('p', { class: 'error' }, `No page “${section}”.`));
    return;
  }
  view.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
  delete view.dataset.rendered;
  view.setAttribute('aria-busy', 'true');
  try {
    if (whoami() === null) {
      setWhoami(await api('/api/whoami'));
      renderWho();
    }
    await page(view, r);
    // When the page was drawn, in ms since the document began loading (bench/ui.sh reads it).
    view.dataset.rendered = String(Math.round(performance.now()));
  } catch (e) {
    if (e.status === 401) return login(view, e.message);
    view.replaceChildren(h('div', { class: 'card error', role: 'alert' }, h('h1', {}, `Error ${e.status || ''}`), h('p', {}, e.message)));
  } finally {
    view.removeAttribute('aria-busy');
  }
  const h1 = view.querySelector('h1');
  document.title = h1 ? `${h1.textContent} · gyre` : 'gyre';
}

document.querySelector('.skip').after(header());
renderWho();
window.addEventListener('hashchange', render);
render();
