// The cluster page: polls /dashboard/api/cluster on the member that served it (every member's
// report, collected by that member) and redraws. When that member stops answering it asks the other
// members it learned of, so the page keeps working while any member is up. Plain DOM and SVG: no
// library, nothing fetched from outside the cluster.
'use strict';

const POLL_MS = 1000;
const FETCH_TIMEOUT_MS = 2500;
const PALETTE = ['#2f6fde', '#d9480f', '#2b8a3e', '#9c36b5', '#e67700', '#0b7285', '#c2255c'];

const state = { known: [], last: null, lastAt: 0 };

function $(id) { return document.getElementById(id); }

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v; else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  return el;
}

function fill(tbody, rows) { tbody.replaceChildren(...rows); }

function bytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(1)) + ' ' + units[i];
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  return Math.floor(s / 3600) + ' h ago';
}

function clock(ms) { return new Date(ms).toLocaleTimeString(); }

async function getJson(url) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  try {
    const r = await fetch(url, { signal: ctl.signal, cache: 'no-store' });
    if (!r.ok) throw new Error('answered ' + r.status);
    return await r.json();
  } catch (e) {
    throw new Error(e.name === 'AbortError' ? 'no answer within ' + FETCH_TIMEOUT_MS + ' ms' : e.message);
  } finally {
    clearTimeout(timer);
  }
}

// This page's own member first, then the others it has seen in the member list.
function sources() {
  const own = location.origin;
  return [own, ...state.known.filter(u => u !== own)];
}

async function poll() {
  const errors = [];
  let data = null; let from = null;
  for (const base of sources()) {
    try {
      data = await getJson(base + '/dashboard/api/cluster');
      from = base;
      break;
    } catch (e) {
      errors.push(base + ': ' + e.message);
    }
  }
  if (data) {
    state.last = data; state.lastAt = Date.now();
    const urls = data.members.flatMap(m => m.client_urls.map(u => u.replace(/\/$/, '')));
    state.known = [...new Set([...urls, ...state.known])];
    render(data, from);
  } else {
    offline(errors);
  }
  setTimeout(poll, POLL_MS);
}

function offline(errors) {
  const b = $('banner');
  b.className = 'banner offline';
  b.textContent = 'No member answers (' + errors.join('; ') + ').' +
    (state.lastAt ? ' Showing data from ' + ago(state.lastAt) + '.' : '');
  document.body.dataset.state = 'offline';
}

function leaderOf(members) {
  const up = members.filter(m => m.report);
  const lead = up.find(m => m.report.role === 'leader');
  if (lead) return { id: lead.id, down: false };
  // No answering member leads: the one the others follow, if they name one.
  const named = up.map(m => m.report.leader).filter(id => id && id !== '0');
  if (named.length === 0) return null;
  return { id: named[0], down: true };
}

function render(data, from) {
  // By name, as an operator calls them (the API lists them by id).
  const members = [...data.members].sort((a, b) => (a.name || '~' + a.id).localeCompare(b.name || '~' + b.id));
  const byId = new Map(members.map(m => [m.id, m]));
  const colors = new Map(members.map((m, i) => [m.id, PALETTE[i % PALETTE.length]]));
  const self = byId.get(data.served_by);
  const lead = leaderOf(members);
  const leadMember = lead ? byId.get(lead.id) : null;
  document.body.dataset.state = 'live';
  document.body.dataset.leader = lead && !lead.down ? lead.id : '';
  $('cluster-id').textContent = self && self.report ? 'cluster ' + self.report.cluster_id : '';
  const down = members.filter(m => !m.answered);

  const b = $('banner');
  const parts = [];
  if (from !== location.origin) parts.push('The member that served this page (' + location.host + ') does not answer: showing what ' + (self ? self.name : from) + ' reports.');
  if (down.length) parts.push(down.map(m => (m.name || m.id)).join(', ') + (down.length === 1 ? ' is' : ' are') + ' down.');
  if (!lead) parts.push('No leader.');
  else if (lead.down) parts.push('The leader ' + (leadMember ? leadMember.name : lead.id) + ' does not answer.');
  b.className = 'banner' + (parts.length ? ' degraded' : '');
  b.textContent = parts.length ? parts.join(' ') : 'All ' + members.length + ' members answer. Updated ' + clock(Date.now()) + ' from ' + (self ? self.name : from) + '.';

  $('leader-name').textContent = leadMember ? leadMember.name + (lead.down ? ' (down)' : '') : 'none';

  fill($('members').tBodies[0], members.map(m => {
    const r = m.report;
    const isLeader = lead && m.id === lead.id;
    const role = r ? r.role : 'unknown';
    const cls = [isLeader ? 'leader' : '', m.answered ? '' : 'down'].filter(Boolean).join(' ');
    return h('tr', { 'data-id': m.id, 'data-name': m.name, 'data-role': role, 'data-answered': String(m.answered), class: cls || null },
      h('td', {}, m.name || '(unstarted)'),
      h('td', {}, r ? h('span', { class: 'badge' + (role === 'leader' ? ' leader' : '') }, role + (m.is_learner && role !== 'learner' ? ' (learner)' : '')) : '–'),
      h('td', {}, m.answered ? h('span', { class: 'badge ok' }, m.id === data.served_by ? 'up' : 'up ' + Math.round(m.fetch_ms) + ' ms')
        : h('span', { class: 'badge down', title: m.error || '' }, 'down'), m.answered ? null : h('div', { class: 'muted' }, m.error || '')),
      h('td', { class: 'term' }, r ? r.term : '–'),
      h('td', { class: 'commit' }, r ? r.commit : '–'),
      h('td', { class: 'applied' }, r ? r.applied : '–'),
      h('td', { class: 'keys' }, r ? r.store.keys : '–'),
      h('td', { class: 'id' }, m.id),
      h('td', { class: 'url' }, m.client_urls[0] || '–'));
  }));

  const lr = leadMember && leadMember.report;
  fill($('progress').tBodies[0], (lr ? lr.progress : []).map(p => {
    const m = byId.get(p.id);
    return h('tr', { 'data-id': p.id, 'data-state': p.state, 'data-match': p.match, 'data-next': p.next, 'data-lag': p.lag,
      'data-paused': String(p.paused), 'data-active': String(p.recent_active), class: p.id === lead.id ? 'leader' : null },
      h('td', {}, m ? m.name : p.id),
      h('td', {}, h('span', { class: 'badge' + (p.state === 'replicate' ? ' ok' : ' warn') }, p.state + (p.is_learner ? ' (learner)' : ''))),
      h('td', {}, p.lag),
      h('td', {}, p.match), h('td', {}, p.next),
      h('td', {}, p.inflight + ' / ' + p.inflight_capacity),
      h('td', {}, p.paused ? h('span', { class: 'badge warn' }, 'paused') : 'no'),
      h('td', {}, p.recent_active ? 'yes' : h('span', { class: 'badge warn' }, 'no')));
  }));
  $('progress-note').textContent = lr ? 'As ' + leadMember.name + ' tracks its followers (etcd\'s tracker: probe, replicate, snapshot).'
    : 'No answering leader: progress is only tracked by the leader.';

  const up = members.filter(m => m.report);
  charts(up, colors);

  fill($('files').tBodies[0], members.map(m => {
    const f = m.report && m.report.files;
    return h('tr', { 'data-id': m.id, 'data-wal-in-use': f ? f.wal_bytes_in_use : null, 'data-wal-bytes': f ? f.wal_bytes : null,
      'data-snapshot-index': f ? f.last_snapshot_index : null, class: m.answered ? null : 'down' },
      h('td', {}, m.name),
      h('td', {}, f ? f.wal_count : '–'), h('td', {}, f ? bytes(f.wal_bytes_in_use) : '–'), h('td', {}, f ? bytes(f.wal_bytes) : '–'),
      h('td', {}, f ? f.snap_count : '–'), h('td', {}, f ? bytes(f.snap_bytes) : '–'),
      h('td', {}, f && f.last_snapshot_index !== null && f.last_snapshot_index !== undefined ? f.last_snapshot_index : (f ? 'none' : '–')));
  }));

  events(members, byId);
  const reporting = self && self.report ? self.report : (up[0] && up[0].report);
  if (reporting) authChanged(reporting.auth_enabled === true);
}

function nameOf(byId, id) {
  if (!id || id === '0') return 'none';
  const m = byId.get(id);
  return m && m.name ? m.name : id;
}

function events(members, byId) {
  const changes = new Map();
  for (const m of members) {
    if (!m.report) continue;
    for (const c of m.report.leader_changes) {
      const key = c.term + '/' + c.to;
      if (c.to !== '0' && (!changes.has(key) || changes.get(key).t > c.t)) changes.set(key, c);
    }
  }
  const list = [...changes.values()].sort((a, b) => b.t - a.t).slice(0, 8);
  fill($('leader-changes'), list.length ? list.map(c => h('li', { 'data-to': c.to, 'data-term': c.term }, clock(c.t) + ' — term ' + c.term + ': ' + nameOf(byId, c.to) + ' leads' + (c.from !== '0' ? ' (after ' + nameOf(byId, c.from) + ')' : ''))) : [h('li', { class: 'muted' }, 'none seen since these members started')]);

  const late = members.filter(m => m.report && m.report.heartbeat_late.total > 0);
  fill($('heartbeats'), late.length ? late.map(m => {
    const recent = m.report.heartbeat_late.recent;
    return h('li', { class: 'badge-line', 'data-id': m.id, 'data-total': m.report.heartbeat_late.total }, h('span', { class: 'badge warn' }, m.name), ' ' + m.report.heartbeat_late.total + ' late heartbeat' + (m.report.heartbeat_late.total === 1 ? '' : 's') +
      (recent.length ? ', last ' + ago(recent[recent.length - 1]) : '') + ' (leader overloaded, likely a slow disk)');
  }) : [h('li', { class: 'muted' }, 'none')]);

  const alarms = [];
  // Alarms are the cluster's (applied through Raft, so every member lists the same): each once.
  const raised = new Map();
  for (const m of members) {
    if (m.report) for (const a of m.report.alarms) raised.set(a.alarm + '/' + a.member, a);
  }
  for (const a of raised.values()) {
    alarms.push(h('li', { 'data-alarm': a.alarm, 'data-member': a.member }, h('span', { class: 'badge down' }, a.alarm), ' alarm raised by ' + nameOf(byId, a.member)));
  }
  for (const m of members) {
    if (!m.answered) alarms.push(h('li', {}, h('span', { class: 'badge down' }, m.name || m.id), ' does not answer: ' + (m.error || '')));
    if (!m.report) continue;
    for (const e of m.report.errors) alarms.push(h('li', {}, h('span', { class: 'badge warn' }, m.name), ' ' + e));
  }
  fill($('alarms'), alarms.length ? alarms : [h('li', { class: 'muted' }, 'none')]);
}

// ---- charts ---------------------------------------------------------------------------------

const W = 600, H = 150, LEFT = 44, RIGHT = 8, TOP = 8, BOTTOM = 20;

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * p >= v) return f * p;
  return 10 * p;
}

function fmt(v) { return v === 0 ? '0' : v >= 100 ? Math.round(v) : v >= 10 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2); }

// series: [{label, color, cls, points: [[t, v|null], ...]}]
function drawChart(el, legendEl, series, t0, t1) {
  let max = 0;
  for (const s of series) for (const [, v] of s.points) if (v !== null && v > max) max = v;
  const top = niceMax(max);
  el.replaceChildren();
  el.dataset.max = String(max);
  for (const frac of [0, 0.5, 1]) {
    const y = TOP + (H - TOP - BOTTOM) * (1 - frac);
    el.append(svg('line', { class: 'grid', x1: LEFT, x2: W - RIGHT, y1: y, y2: y }));
    const label = svg('text', { x: LEFT - 4, y: y + 4, 'text-anchor': 'end' });
    label.textContent = fmt(top * frac);
    el.append(label);
  }
  const minutes = Math.round((t1 - t0) / 60000);
  for (const [x, text, anchor] of [[LEFT, '−' + minutes + ' min', 'start'], [W - RIGHT, 'now', 'end']]) {
    const label = svg('text', { x, y: H - 4, 'text-anchor': anchor });
    label.textContent = text;
    el.append(label);
  }
  const xOf = t => LEFT + (W - LEFT - RIGHT) * (t - t0) / Math.max(1, t1 - t0);
  const yOf = v => TOP + (H - TOP - BOTTOM) * (1 - v / top);
  for (const s of series) {
    let run = [];
    const flush = () => {
      if (run.length === 1) {
        // A lone bucket between empty ones: a dot, since a one-point line draws nothing.
        const [x, y] = run[0].split(',');
        el.append(svg('circle', { cx: x, cy: y, r: s.cls === 'p50' ? 1.5 : 2.5, fill: s.color, 'data-series': s.label }));
      } else if (run.length) {
        el.append(svg('polyline', { class: s.cls || '', stroke: s.color, points: run.join(' '), 'data-series': s.label }));
      }
      run = [];
    };
    for (const [t, v] of s.points) {
      if (v === null) { flush(); continue; }
      run.push(xOf(t).toFixed(1) + ',' + yOf(v).toFixed(1));
    }
    flush();
  }
  legendEl.replaceChildren(...series.filter(s => !s.hideLegend).map(s => h('span', {}, h('i', { style: 'background:' + s.color }), s.label)));
}

function charts(up, colors) {
  // Buckets of every member share their boundaries (whole multiples of the bucket width since the
  // epoch); the newest one is partial: drop it while it covers less than half a second.
  const usable = b => b.seconds >= 0.5;
  let t0 = Infinity, t1 = 0;
  for (const m of up) for (const b of m.report.rates.buckets) { t0 = Math.min(t0, b.t); t1 = Math.max(t1, b.t); }
  if (!up.length) { t0 = Date.now() - 300000; t1 = Date.now(); }
  for (const [kind, field] of [['writes', 'writes'], ['reads', 'reads']]) {
    const totals = new Map();
    const series = up.map(m => {
      const points = m.report.rates.buckets.filter(usable).map(b => {
        const rate = b[field] / b.seconds;
        totals.set(b.t, (totals.get(b.t) || 0) + rate);
        return [b.t, rate];
      });
      return { label: m.name, color: colors.get(m.id), points };
    });
    const total = [...totals.entries()].sort((a, b) => a[0] - b[0]);
    series.unshift({ label: 'all members', color: '#1d2430', cls: 'total', points: total });
    const el = $('chart-' + kind);
    drawChart(el, $('legend-' + kind), series, t0, t1);
    const last = total.length ? total[total.length - 1][1] : 0;
    el.dataset.latest = String(last);
  }
  for (const kind of ['write', 'read']) {
    const series = [];
    for (const m of up) {
      const buckets = m.report.rates.buckets.filter(usable);
      series.push({ label: m.name, color: colors.get(m.id), points: buckets.map(b => [b.t, b[kind + '_p99_ms']]) });
      series.push({ label: m.name + ' p50', color: colors.get(m.id), cls: 'p50', hideLegend: true, points: buckets.map(b => [b.t, b[kind + '_p50_ms']]) });
    }
    drawChart($('chart-' + kind + '-latency'), $('legend-' + kind + '-latency'), series, t0, t1);
  }
}

// ---- keys -----------------------------------------------------------------------------------
// The browser reads through the gateway's own /v3/kv/range, the path every client's reads take, so
// it gets the same authentication and permission checks as any client's Range (etcd's
// IsRangePermitted). Serializable: what this member has applied, even without a leader.
// With auth on, the viewer signs in with etcd's Authenticate; the token is kept in this tab's
// sessionStorage (never in a URL) and sent in the Authorization header, as etcd's gateway wants it.

const enc = new TextEncoder();
const TOKEN_KEY = 'raft-dashboard-auth';

const keys = {
  range: null,        // { start, end, what } being browsed (what: how the status line names it)
  cursor: null,       // the next page's start, or null
  auth: null,         // null until the first report; then whether auth is on
  session: loadSession(), // { user, token } when signed in
  grants: [],         // what the signed-in user may read: [{ start, end, label, prefix, what }]
};

function loadSession() {
  try { const s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || 'null'); return s && s.user && s.token ? s : null; } catch { return null; }
}

function saveSession(s) {
  keys.session = s;
  try { if (s) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s)); else sessionStorage.removeItem(TOKEN_KEY); } catch { /* storage off: memory only */ }
}

function b64(bytesArr) { let s = ''; for (const x of bytesArr) s += String.fromCharCode(x); return btoa(s); }

function unb64(text) { const s = atob(text || ''); const out = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i); return out; }

function show(bytesArr) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytesArr);
  } catch {
    return '0x' + [...bytesArr.slice(0, 64)].map(x => x.toString(16).padStart(2, '0')).join('') + (bytesArr.length > 64 ? '…' : '');
  }
}

function same(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }

// etcd's GetPrefixRangeEnd: the prefix with its last byte below 0xff incremented, cut after it.
function prefixEnd(p) {
  const end = Uint8Array.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) { end[i]++; return end.slice(0, i + 1); }
  }
  return Uint8Array.of(0);
}

function prefixRange(text) {
  const p = enc.encode(text);
  return p.length ? { start: p, end: prefixEnd(p), what: 'under "' + text + '"' } : { start: Uint8Array.of(0), end: Uint8Array.of(0), what: '' };
}

// A gateway POST on this member, with the token when signed in: { ok, status, body }.
async function gateway(path, request) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  const headers = { 'Content-Type': 'application/json' };
  if (keys.session) headers.Authorization = keys.session.token;
  try {
    const r = await fetch(path, { method: 'POST', headers, cache: 'no-store', body: JSON.stringify(request), signal: ctl.signal });
    const body = await r.json().catch(() => ({}));
    return { ok: r.ok, status: r.status, body };
  } catch (e) {
    throw new Error(e.name === 'AbortError' ? 'no answer within ' + FETCH_TIMEOUT_MS + ' ms' : e.message);
  } finally {
    clearTimeout(timer);
  }
}

function keyState(name, text) {
  $('keys-section').dataset.state = name;
  $('key-status').textContent = text;
}

function clearKeys() {
  fill($('keys').tBodies[0], []);
  keys.cursor = null;
  $('key-next').disabled = true;
}

// Called on every report: shows the sign-in form when auth is on and nobody is signed in.
function authChanged(enabled) {
  const first = keys.auth === null;
  if (!first && keys.auth === enabled) return;
  keys.auth = enabled;
  $('auth-box').hidden = !enabled;
  if (!enabled) {
    // A token means nothing without auth (and would be stale if it came back on).
    saveSession(null);
    $('key-form').hidden = false;
    browse(null);
  } else if (keys.session) {
    signedIn(first ? null : 'Authentication was turned on.');
  } else {
    signInNeeded(first ? null : 'Authentication was turned on in this cluster.');
  }
}

function signInNeeded(reason) {
  saveSession(null);
  keys.grants = [];
  clearKeys();
  $('login-form').hidden = false;
  $('signed-in').hidden = true;
  $('key-form').hidden = true;
  keyState('signin', (reason ? reason + ' ' : '') + 'Sign in to browse keys: you see the keys your roles let you read, as with etcdctl.');
}

async function signIn(user, password) {
  keyState('signing-in', 'Signing in…');
  let r;
  try {
    saveSession(null);
    r = await gateway('/v3/auth/authenticate', { name: user, password });
  } catch (e) {
    keyState('signin', 'Cannot sign in on this member: ' + e.message);
    return;
  }
  if (!r.ok || !r.body.token) {
    keyState('signin', 'Sign-in failed: ' + (r.body.message || r.body.error || ('answered ' + r.status)));
    return;
  }
  saveSession({ user, token: r.body.token });
  await signedIn(null);
}

// What the signed-in user may read, from etcd's UserGet and RoleGet (which answer a user about
// itself and its roles), shown as ranges to browse; the checks themselves stay the server's.
async function loadGrants() {
  const user = keys.session.user;
  const u = await gateway('/v3/auth/user/get', { name: user });
  if (!u.ok) throw Object.assign(new Error(u.body.message || ('answered ' + u.status)), { auth: true });
  const roles = u.body.roles || [];
  if (roles.includes('root')) return [{ start: Uint8Array.of(0), end: Uint8Array.of(0), label: 'every key (root)', prefix: '', what: '' }];
  const grants = [];
  for (const role of roles) {
    const g = await gateway('/v3/auth/role/get', { role });
    if (!g.ok) continue;
    for (const p of g.body.perm || []) {
      // READ is protobuf's default, so its JSON leaves permType out.
      if ((p.permType || 'READ') === 'WRITE') continue;
      const start = unb64(p.key), end = unb64(p.range_end);
      const label = end.length === 0 ? show(start)
        : same(end, Uint8Array.of(0)) ? show(start) + ' and after'
        : same(end, prefixEnd(start)) ? show(start) + '…'
        : '[' + show(start) + ', ' + show(end) + ')';
      const prefix = same(end, prefixEnd(start)) ? show(start) : null;
      grants.push({ start, end: end.length ? end : Uint8Array.from([...start, 0]), label, prefix, what: prefix !== null ? 'under "' + prefix + '"' : label });
    }
  }
  return grants;
}

async function signedIn(reason) {
  $('login-form').hidden = true;
  $('signed-in').hidden = false;
  $('key-form').hidden = false;
  $('signed-in-user').textContent = keys.session.user;
  try {
    keys.grants = await loadGrants();
  } catch (e) {
    if (e.auth) { signInNeeded('Signed out (' + e.message + ').'); return; }
    keys.grants = [];
  }
  fill($('grants'), keys.grants.length ? keys.grants.map(g => {
    const b = h('button', { type: 'button', class: 'grant' }, g.label);
    b.addEventListener('click', () => { $('prefix').value = g.prefix || ''; keys.range = g; browse(null); });
    return b;
  }) : [h('span', { class: 'muted' }, 'no keys')]);
  if (reason) keyState('listed', reason);
  // Start where the user may read: all keys for a user who may, else its first grant.
  const typed = $('prefix').value;
  const all = keys.grants[0] && same(keys.grants[0].start, Uint8Array.of(0)) && same(keys.grants[0].end, Uint8Array.of(0));
  if (typed || all) keys.range = prefixRange(typed);
  else if (keys.grants.length) { keys.range = keys.grants[0]; $('prefix').value = keys.grants[0].prefix || ''; }
  else { clearKeys(); keyState('empty', keys.session.user + ' may read no keys.'); return; }
  browse(null);
}

async function browse(from) {
  if (keys.auth && !keys.session) return;
  if (!keys.range) keys.range = prefixRange($('prefix').value);
  const range = keys.range;
  keyState('reading', 'Reading…');
  try {
    const r = await gateway('/v3/kv/range', { key: b64(from || range.start), range_end: b64(range.end), limit: 25, serializable: true });
    const body = r.body;
    if (!r.ok) {
      const message = body.message || body.error || ('answered ' + r.status);
      if (/invalid auth token|user name is empty/.test(message)) { signInNeeded('Signed out: ' + message + '.'); return; }
      clearKeys();
      if (/permission denied/.test(message)) {
        keyState('denied', (keys.session ? keys.session.user : 'This viewer') + ' may not read the keys ' + (range.what || '(all keys)') + ' (' + message + ').');
        return;
      }
      throw new Error(message);
    }
    const kvs = body.kvs || [];
    fill($('keys').tBodies[0], kvs.map(kv => {
      const value = unb64(kv.value);
      return h('tr', {}, h('td', { class: 'key' }, show(unb64(kv.key))),
        h('td', { class: 'value', title: value.length + ' bytes' }, show(value.slice(0, 200)) + (value.length > 200 ? '…' : '')),
        h('td', {}, kv.version), h('td', {}, kv.mod_revision));
    }));
    const count = Number(body.count || 0);
    keyState(kvs.length ? 'listed' : 'empty', kvs.length ? 'Keys ' + (range.what ? range.what + ' ' : '') + 'at revision ' + (body.header ? body.header.revision : '?') + ': ' + count + (from ? ' from here' : ' in all') + (body.more ? ', showing ' + kvs.length : '') + '.' : 'No keys.');
    if (body.more && kvs.length) {
      const last = unb64(kvs[kvs.length - 1].key);
      const next = new Uint8Array(last.length + 1); next.set(last); // the smallest key after the last one shown
      keys.cursor = next;
    } else {
      keys.cursor = null;
    }
  } catch (e) {
    keyState('error', 'Cannot read keys from this member: ' + e.message);
    keys.cursor = null;
  }
  $('key-next').disabled = !keys.cursor;
}

$('key-form').addEventListener('submit', ev => { ev.preventDefault(); keys.range = prefixRange($('prefix').value); browse(null); });
$('key-next').addEventListener('click', () => { if (keys.cursor) browse(keys.cursor); });
$('login-form').addEventListener('submit', ev => {
  ev.preventDefault();
  const password = $('login-password').value;
  $('login-password').value = '';
  signIn($('login-user').value, password);
});
$('logout').addEventListener('click', () => signInNeeded('Signed out.'));

// The key browser starts once the first report says whether auth is on.
poll();
