/**
 * The dashboard's stylesheet and script, served from this server so the Content-Security-Policy
 * can forbid inline code and every foreign host.
 */
import type { Route } from './app.js';
import { sendText } from './io.js';

const CSS = `
:root { --fg:#1d2330; --muted:#6b7385; --line:#e3e6ec; --bg:#f6f7f9; --card:#fff; --accent:#2f5bd3;
  --ok:#1f7a3d; --okbg:#e4f4e9; --bad:#b42318; --badbg:#fdecea; --warn:#8a5a00; --warnbg:#fff4d6; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header.top { display:flex; align-items:center; gap:1rem; padding:.6rem 1.5rem; background:#151a26; color:#fff; }
header.top a { color:#fff; text-decoration:none; }
.brand { font-weight:700; letter-spacing:.02em; }
.spacer { flex:1; }
.badge { background:#f0b429; color:#151a26 !important; border-radius:999px; padding:.1rem .7rem; font-weight:600; font-size:.9em; }
.signout { display:flex; gap:.6rem; align-items:center; margin:0; }
.who { color:#c8cedb; }
button.link { background:none; border:0; color:#9db6ff; cursor:pointer; padding:0; font:inherit; }
main { max-width:1100px; margin:1.5rem auto; padding:0 1.5rem; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:1.2rem 1.5rem; margin-bottom:1rem; }
.card.message, .card.review, .card.signin { max-width:760px; margin:2rem auto; }
h1 { font-size:1.4rem; margin:.2rem 0 .6rem; } h2 { font-size:1.05rem; margin:1.4rem 0 .5rem; }
.eyebrow { color:var(--muted); margin:0; font-size:.9em; }
.description { font-size:1.05rem; white-space:pre-wrap; word-break:break-word; }
.muted { color:var(--muted); } .small { font-size:.88em; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:.9em; white-space:pre-wrap; word-break:break-all; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:.3rem 1.2rem; margin:1rem 0; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; word-break:break-word; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:.45rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
thead th { font-size:.85em; color:var(--muted); font-weight:600; }
table.context th { width:30%; font-weight:600; word-break:break-word; }
td.desc { max-width:340px; word-break:break-word; }
table.approvals code { white-space:nowrap; word-break:normal; }
.status, .risk, .vote { display:inline-block; border-radius:4px; padding:0 .45rem; font-size:.82em; font-weight:600; }
.status-pending { background:var(--warnbg); color:var(--warn); }
.status-approved, .vote-yes { background:var(--okbg); color:var(--ok); }
.status-rejected, .vote-no { background:var(--badbg); color:var(--bad); }
.status-expired, .status-cancelled { background:#eceef2; color:var(--muted); }
.risk-low { background:#eceef2; } .risk-medium { background:var(--warnbg); color:var(--warn); }
.risk-high, .risk-critical { background:var(--badbg); color:var(--bad); }
ul.reasons, ul.votes { padding-left:1.1rem; }
.tally { font-weight:600; margin:.2rem 0; }
form.decide { display:flex; flex-direction:column; gap:.5rem; margin-top:.5rem; }
textarea, input, select { font:inherit; padding:.45rem .55rem; border:1px solid #c9ced8; border-radius:6px; }
.buttons { display:flex; gap:.8rem; }
button { font:inherit; border-radius:6px; border:1px solid #c9ced8; padding:.45rem 1.1rem; cursor:pointer; background:#fff; }
button.approve { background:var(--ok); border-color:var(--ok); color:#fff; font-weight:600; }
button.reject { background:#fff; border-color:var(--bad); color:var(--bad); font-weight:600; }
form.filters { display:flex; gap:1rem; align-items:end; flex-wrap:wrap; margin-bottom:1rem; }
form.filters label { display:flex; flex-direction:column; font-size:.85em; color:var(--muted); gap:.2rem; }
.signin form { display:flex; flex-direction:column; gap:.6rem; }
a.button.sso { display:inline-block; text-decoration:none; border-radius:6px; padding:.55rem 1.2rem; background:#2b59c3; color:#fff; font-weight:600; }
.notice { background:var(--okbg); color:var(--ok); padding:.6rem .9rem; border-radius:6px; }
.error { background:var(--badbg); color:var(--bad); padding:.6rem .9rem; border-radius:6px; }
.empty { color:var(--muted); }
nav.tabs { display:flex; gap:.4rem; margin-bottom:1rem; }
nav.tabs a { padding:.35rem .9rem; border-radius:6px; text-decoration:none; color:var(--fg); border:1px solid var(--line); background:#fff; }
nav.tabs a.current { background:#151a26; color:#fff; border-color:#151a26; }
.exports { font-size:.85em; color:var(--muted); display:flex; gap:.6rem; align-items:center; }
form.bulk { display:flex; flex-wrap:wrap; gap:1rem; align-items:end; margin-bottom:1rem; }
form.bulk label { display:flex; flex-direction:column; font-size:.85em; color:var(--muted); gap:.2rem; min-width:320px; }
.error-inline { color:var(--bad); }
.visually-hidden { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); white-space:nowrap; }
.stats { display:grid; grid-template-columns:repeat(auto-fit,minmax(180px,1fr)); gap:1rem; margin-bottom:1rem; }
.stat { border:1px solid var(--line); border-radius:8px; padding:.7rem 1rem; display:flex; flex-direction:column; }
.stat .label { color:var(--muted); font-size:.85em; } .stat .value { font-size:1.6rem; font-weight:700; }
svg.chart { max-width:100%; height:auto; }
`;

// Refetches every [data-live] region (server-rendered, already escaped) when the event stream
// says something changed; a region with data-action only for events about that approval.
const JS = `'use strict';
(() => {
  const regions = () => Array.from(document.querySelectorAll('[data-live]'));
  if (regions().length === 0 || !window.EventSource) return;
  let timer;
  let running = false;
  const reload = async () => {
    if (running) { timer = setTimeout(reload, 100); return; }
    running = true;
    try {
      for (const el of regions().filter((r) => r.dataset.stale)) {
        delete el.dataset.stale;
        const res = await fetch(el.dataset.src, { credentials: 'same-origin', headers: { accept: 'text/html' } });
        if (res.status === 401) { location.reload(); return; }
        if (!res.ok) continue;
        // Selections of the bulk form survive a refresh: only rows that left lose theirs.
        const checked = new Set(Array.from(el.querySelectorAll('input[type=checkbox]:checked')).map((c) => c.value));
        el.innerHTML = await res.text();
        for (const box of el.querySelectorAll('input[type=checkbox]')) if (checked.has(box.value)) box.checked = true;
      }
    } catch (err) {
      console.warn('countersign: refresh failed', err);
    } finally {
      running = false;
    }
  };
  const changed = (actionId) => {
    for (const el of regions()) {
      if (!el.dataset.action || !actionId || el.dataset.action === actionId) el.dataset.stale = '1';
    }
    clearTimeout(timer);
    timer = setTimeout(reload, 50);
  };
  const source = new EventSource('/api/v1/events');
  for (const type of ['approval.pending', 'approval.decided']) {
    source.addEventListener(type, (ev) => {
      let id;
      try { id = JSON.parse(ev.data).data.action_id; } catch { id = undefined; }
      changed(id);
    });
  }
  // A reconnect too far behind to replay what it missed (Last-Event-ID) is told to reload.
  source.addEventListener('reset', () => changed(undefined));
  // Whatever changed between rendering and (re)connecting was not streamed: refresh everything.
  source.addEventListener('open', () => {
    changed(undefined);
    document.body.dataset.events = 'open';
  });
  source.addEventListener('error', () => { document.body.dataset.events = 'reconnecting'; });
})();
`;

export function assetRoutes(): Route[] {
  return [
    {
      // Browsers ask for it on every page; an empty answer beats a logged 404.
      method: 'GET',
      path: '/favicon.ico',
      name: 'asset',
      kind: 'page',
      handle: async ({ res }) => {
        res.statusCode = 204;
        res.end();
      },
    },
    {
      method: 'GET',
      path: '/assets/app.css',
      name: 'asset',
      kind: 'page',
      handle: async ({ res }) => sendText(res, 200, 'text/css; charset=utf-8', CSS),
    },
    {
      method: 'GET',
      path: '/assets/dashboard.js',
      name: 'asset',
      kind: 'page',
      handle: async ({ res }) => sendText(res, 200, 'text/javascript; charset=utf-8', JS),
    },
  ];
}
