// console.js - the tlogd web console (docs/CONSOLE.md): the status page,
// the audit search with in-page verification, and the receipt checker.
// Plain JavaScript, no library; every URL is relative (the console works
// under a log's prefix); every value from the server is rendered with
// textContent, never as HTML; the token lives in sessionStorage only.
'use strict';

const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const TOKEN_KEY = 'tlogd.token';
const REFRESH_MS = 5000;

// ---- small helpers ---------------------------------------------------------

function setText(id, v) {
  const e = typeof id === 'string' ? $(id) : id;
  const s = v === null || v === undefined ? '–' : String(v);
  if (e.textContent !== s) e.textContent = s;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function b64dec(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4) {
    throw new Error('bad base64');
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function b64enc(u8) {
  let s = '';
  for (let i = 0; i < u8.length; i++) s += String.fromCharCode(u8[i]);
  return btoa(s);
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function eq(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function sha256(u8) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', u8));
}

function isoTime(ms) {
  if (typeof ms !== 'number' || !isFinite(ms)) return '–';
  return new Date(ms).toISOString();
}

function fmtAge(s) {
  if (s === null || s === undefined) return null;
  if (s < 120) return s.toFixed(1) + ' s';
  if (s < 7200) return (s / 60).toFixed(1) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}

function fmtSecs(s) {
  if (s === null || s === undefined) return null;
  return s < 1 ? (s * 1000).toFixed(1) + ' ms' : s.toFixed(2) + ' s';
}

// ---- the API ---------------------------------------------------------------

class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

// GET path (relative) and its body as text; throws ApiError with a
// sentence for the reader (401, 403, network down, ...).
async function apiText(path, auth) {
  const headers = {};
  if (auth && token()) headers.Authorization = 'Bearer ' + token();
  let r;
  try {
    r = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  } catch (e) {
    throw new ApiError(0, 'network down: the log does not answer (' + e.message + ')');
  }
  const text = await r.text();
  if (r.ok) return text;
  const reason = text.split('\n')[0].slice(0, 300);
  if (r.status === 401) throw new ApiError(401, '401 unauthorized: ' + reason + ' (enter a reader token above)');
  if (r.status === 403) throw new ApiError(403, '403 forbidden: ' + reason + ' (this token may not read events)');
  throw new ApiError(r.status, r.status + ': ' + reason);
}

async function apiJSON(path, auth) {
  const t = await apiText(path, auth);
  try {
    return { json: JSON.parse(t), text: t };
  } catch (e) {
    throw new ApiError(0, 'the answer is not JSON: ' + e.message);
  }
}

// ---- verification (C2SP signed-note, tlog-checkpoint, tlog-cosignature,
// tlog-proof; RFC 6962 / RFC 9162 inclusion; RFC 8785 JCS) -----------------

class VerifyError extends Error {}
const fail = (why) => { throw new VerifyError(why); };

// RFC 8785 for I-JSON values: keys sorted by UTF-16 code units (the default
// sort), strings and numbers as ECMAScript serializes them.
function jcs(v) {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!isFinite(v)) fail('the event holds a number JSON cannot carry');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  if (typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + jcs(v[k])).join(',') + '}';
  }
  fail('the event holds a value JSON cannot carry');
}

// A verifier key "name+hash+base64(type || key)".
const keyCache = new Map();
async function parseVkey(vkey, wantType) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey || '');
  if (!m) fail('bad verifier key');
  const raw = b64dec(m[3]);
  if (raw.length !== 33 || raw[0] !== wantType) fail('verifier key of the wrong type');
  const id = vkey;
  if (!keyCache.has(id)) {
    keyCache.set(id, crypto.subtle.importKey('raw', raw.slice(1), { name: 'Ed25519' }, false, ['verify']));
  }
  const h = await sha256(concat(enc.encode(m[1] + '\n'), raw));
  const hex = Array.from(h.slice(0, 4), (x) => x.toString(16).padStart(2, '0')).join('');
  if (hex !== m[2]) fail('verifier key hash does not match');
  return { name: m[1], hash: h.slice(0, 4), key: await keyCache.get(id) };
}

// A signed note: its text (through the last line before the blank line,
// with its newline) and its signature lines.
function parseNote(note) {
  const cut = note.lastIndexOf('\n\n');
  if (cut < 0 || !note.endsWith('\n')) fail('checkpoint: not a signed note');
  const text = note.slice(0, cut + 1);
  const sigs = [];
  for (const line of note.slice(cut + 2, -1).split('\n')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) fail('checkpoint: bad signature line');
    const blob = b64dec(m[2]);
    if (blob.length < 5) fail('checkpoint: short signature');
    sigs.push({ name: m[1], hash: blob.slice(0, 4), sig: blob.slice(4) });
  }
  const lines = text.split('\n');
  if (lines.length < 4 || !/^(0|[1-9][0-9]{0,19})$/.test(lines[1])) fail('checkpoint: bad body');
  const root = b64dec(lines[2]);
  if (root.length !== 32) fail('checkpoint: bad root hash');
  return { text, sigs, origin: lines[0], size: BigInt(lines[1]), root };
}

const noteCache = new Map();
// Verifies a checkpoint note: the log's signature (its vkey), then the
// cosignatures of the policy's witnesses (from the status endpoint).
function verifyCheckpoint(note, logVkey, witnesses) {
  const q = state.status && state.status.quorum;
  const k = [logVkey, note, JSON.stringify(q && q.rule)]
    .concat((witnesses || []).map((w) => w.vkey)).join('\0');
  if (!noteCache.has(k)) {
    if (noteCache.size > 256) noteCache.clear();
    noteCache.set(k, verifyCheckpointNow(note, logVkey, witnesses));
  }
  return noteCache.get(k);
}

async function verifyCheckpointNow(note, logVkey, witnesses) {
  const cp = parseNote(note);
  const lk = await parseVkey(logVkey, 0x01);
  if (cp.origin !== lk.name) fail('checkpoint of another log (' + cp.origin + ')');
  const mine = cp.sigs.filter((s) => s.name === lk.name && eq(s.hash, lk.hash));
  if (!mine.length) fail('checkpoint: no signature by the log\'s key');
  const text = enc.encode(cp.text);
  let ok = false;
  for (const s of mine) {
    if (s.sig.length === 64 && await crypto.subtle.verify({ name: 'Ed25519' }, lk.key, s.sig, text)) ok = true;
  }
  if (!ok) fail('checkpoint: the log\'s signature does not verify');
  cp.cosigners = [];
  for (const w of witnesses || []) {
    if (!w.vkey) continue;
    const wk = await parseVkey(w.vkey, 0x04);
    for (const s of cp.sigs) {
      if (s.name !== wk.name || !eq(s.hash, wk.hash)) continue;
      if (s.sig.length !== 72) fail('cosignature of ' + w.name + ': bad length');
      let t = 0n;
      for (let i = 0; i < 8; i++) t = (t << 8n) | BigInt(s.sig[i]);
      const msg = enc.encode('cosignature/v1\ntime ' + t.toString() + '\n' + cp.text);
      if (!await crypto.subtle.verify({ name: 'Ed25519' }, wk.key, s.sig.slice(8), msg)) {
        fail('cosignature of ' + w.name + ' does not verify');
      }
      cp.cosigners.push(w.name);
    }
  }
  const q = state.status && state.status.quorum;
  if (q && q.policy && !cp.cosigners.length) fail('no valid cosignature by the policy\'s witnesses');
  if (q && q.policy && q.rule && !quorumMet(q.rule, new Set(cp.cosigners))) {
    fail('the cosignatures (' + cp.cosigners.join(', ') + ') do not meet the policy\'s quorum');
  }
  return cp;
}

// The policy's quorum rule (from the status endpoint: groups in order, each
// k of its members; a member is a witness by name or an earlier group),
// decided from the witnesses whose cosignatures the page verified itself.
function quorumMet(rule, cosigned) {
  const met = [];
  const holds = (r) => (r.witness !== undefined ? cosigned.has(r.witness) : met[r.group] === true);
  for (const g of rule.groups) met.push(g.members.filter(holds).length >= g.k);
  return holds(rule.root);
}

async function nodeHash(l, r) {
  return sha256(concat(Uint8Array.of(1), l, r));
}

// RFC 9162 2.1.3.2.
async function inclusionRoot(leaf, index, size, proof) {
  if (index >= size) fail('index beyond the checkpoint');
  let fn = index, sn = size - 1n, r = leaf;
  for (const p of proof) {
    if (sn === 0n) fail('inclusion proof too long');
    if ((fn & 1n) || fn === sn) {
      r = await nodeHash(p, r);
      while (!(fn & 1n) && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) fail('inclusion proof too short');
  return r;
}

const RECORD_RE = /^\{"v":1,"time":(0|[1-9][0-9]{0,15}),"commitment":"([A-Za-z0-9+/]{43}=)"\}$/;

// One event of a checked checkpoint: record, commitment, leaf, inclusion.
async function verifyEntry(cp, index, event, saltB64, record, proof) {
  const m = RECORD_RE.exec(record || '');
  if (!m) fail('the record is not an audit record');
  let salt;
  try { salt = b64dec(saltB64); } catch (e) { fail('bad salt'); }
  if (salt.length !== 32) fail('bad salt');
  const c = await sha256(concat(salt, enc.encode(jcs(event))));
  if (b64enc(c) !== m[2]) fail('the commitment does not match the event');
  const leaf = await sha256(concat(Uint8Array.of(0), enc.encode(record)));
  const root = await inclusionRoot(leaf, BigInt(index), cp.size, proof);
  if (!eq(root, cp.root)) fail('the inclusion proof does not lead to the checkpoint\'s root');
  return { time: Number(m[1]) };
}

// A C2SP tlog-proof text: index, proof hashes, the signed checkpoint.
function parseTlogProof(text) {
  if (typeof text !== 'string') fail('no proof');
  const cut = text.indexOf('\n\n');
  if (cut < 0) fail('proof: no checkpoint');
  const lines = text.slice(0, cut).split('\n');
  if (lines.shift() !== 'c2sp.org/tlog-proof@v1') fail('proof: not a tlog-proof');
  if (lines.length && lines[0].startsWith('extra ')) lines.shift();
  const im = /^index (0|[1-9][0-9]{0,19})$/.exec(lines.shift() || '');
  if (!im) fail('proof: bad index line');
  const hashes = lines.map((l) => {
    let h;
    try { h = b64dec(l); } catch (e) { fail('proof: bad hash line'); }
    if (h.length !== 32) fail('proof: bad hash line');
    return h;
  });
  return { index: BigInt(im[1]), hashes, checkpoint: text.slice(cut + 2) };
}

// A whole receipt {event, salt, record, proof}: what holds, or why not.
async function verifyReceipt(rc, logVkey, witnesses) {
  try {
    if (!rc || typeof rc !== 'object' || Array.isArray(rc)) fail('not a receipt object');
    if (!rc.event || typeof rc.event !== 'object') fail('the receipt has no event');
    const p = parseTlogProof(rc.proof);
    const cp = await verifyCheckpoint(p.checkpoint, logVkey, witnesses);
    const e = await verifyEntry(cp, p.index, rc.event, rc.salt, rc.record, p.hashes);
    return { ok: true, index: p.index, time: e.time, cp };
  } catch (e) {
    if (e instanceof VerifyError) return { ok: false, reason: e.message };
    return { ok: false, reason: 'cannot check: ' + e.message };
  }
}

function showMark(node, res) {
  node.textContent = res.ok ? 'verified' : 'not verified: ' + res.reason;
  node.className = 'mark ' + (res.ok ? 'ok' : 'bad');
}

// ---- state and pages -------------------------------------------------------

const state = { status: null, logVkey: null, kind: null, cursors: [null], page: 0, next: null, query: '' };

function showPage() {
  let page = location.hash.slice(1) || 'status';
  if (page === 'audit' && state.kind && state.kind !== 'audit') page = 'status';
  if (!['status', 'audit', 'receipt'].includes(page)) page = 'status';
  for (const p of ['status', 'audit', 'receipt']) {
    $('page-' + p).hidden = p !== page;
    const a = $('nav-' + p);
    if (p === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

// ---- status ----------------------------------------------------------------

const SVGNS = 'http://www.w3.org/2000/svg';

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

// A line plot of series (arrays of [t, v|null]) over the last hour.
function plot(svg, series, now, unit) {
  const W = 360, H = 120, L = 4, T = 12, B = 108;
  const t0 = now - 3600 * 1000;
  let max = 0;
  for (const s of series) for (const [, v] of s) if (v !== null && v > max) max = v;
  const top = max > 0 ? max * 1.1 : 1;
  const kids = [svgEl('line', { class: 'axis', x1: L, y1: B, x2: W, y2: B })];
  series.forEach((s, i) => {
    let d = '';
    let pen = false, last = null;
    for (const [t, v] of s) {
      if (v === null || t < t0) { pen = false; continue; }
      const x = L + ((t - t0) / 3600000) * (W - 4 - L);
      const y = B - (v / top) * (B - T);
      d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
      pen = true;
      last = [x, y];
    }
    if (d) kids.push(svgEl('path', { class: 'l' + i, d }));
    if (last) kids.push(svgEl('circle', { class: 'l' + i, cx: last[0].toFixed(1), cy: last[1].toFixed(1), r: 2 }));
  });
  kids.push(svgEl('text', { x: L + 2, y: 10 }, 'max ' + (max >= 1000 ? Math.round(max) : max > 0 ? +max.toPrecision(3) : 0) + (unit || '')));
  kids.push(svgEl('text', { x: L + 2, y: 118 }, '−1 h'));
  kids.push(svgEl('text', { x: W - 22, y: 118 }, 'now'));
  svg.replaceChildren(...kids);
}

function renderStatus(s) {
  state.status = s;
  state.logVkey = s.vkey;
  state.kind = s.kind;
  $('nav-audit').hidden = s.kind !== 'audit';
  setText('title', 'tlogd console — ' + (s.origin || 'no checkpoint yet'));
  setText('st-origin', s.origin);
  setText('st-kind', s.kind);
  setText('st-size', s.tree_size_published);
  setText('st-signed', s.tree_size_signed);
  setText('st-age', fmtAge(s.published_age_s));
  const q = s.quorum || {};
  setText('st-quorum', !q.policy ? 'no policy (no witnesses)' : q.met ? 'met' : 'not met: ' + (q.reason || ''));
  setText('st-added', s.entries_added);
  setText('st-seq', s.sequencer_stopped ? 'stopped (see /healthz)'
    : s.closed ? 'closed at ' + new Date(s.closes_at_ms).toISOString() + ' (read-only)'
      : s.closes_at_ms ? 'running, closes at ' + new Date(s.closes_at_ms).toISOString() : 'running');
  setText('st-checkpoint', s.checkpoint || 'no published checkpoint yet');
  const tb = $('st-witnesses').tBodies[0];
  const rows = (s.witnesses || []).map((w) => {
    const tr = document.createElement('tr');
    tr.append(el('td', w.name), el('td', w.cosigned_size), el('td', fmtSecs(w.latency_last_s) || '–'),
      el('td', fmtSecs(w.latency_avg_s) || '–'), el('td', w.requests), el('td', w.failures),
      el('td', w.last_status || '–'));
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement('tr');
    const td = el('td', 'No witnesses: the log publishes without cosignatures.');
    td.colSpan = 7;
    tr.append(td);
    rows.push(tr);
  }
  tb.replaceChildren(...rows);
  const pts = (s.history && s.history.points) || [];
  const now = s.now_ms || Date.now();
  plot($('plot-rate'), [pts.map((p) => [p.t, p.rate])], now, '/s');
  plot($('plot-lat'), [pts.map((p) => [p.t, p.p50]), pts.map((p) => [p.t, p.p99])], now, ' s');
  plot($('plot-size'), [pts.map((p) => [p.t, p.size]).concat([[now, s.tree_size_published]])], now, '');
}

async function refreshStatus() {
  const msg = $('status-msg');
  try {
    const { json } = await apiJSON('console/v1/status', false);
    renderStatus(json);
    if (!document.body.dataset.statusLoaded) performance.mark('tlogd-status-rendered');
    msg.className = 'msg';
    setText(msg, 'Updated ' + new Date().toISOString().slice(11, 19) + ' UTC; refreshed every ' + REFRESH_MS / 1000 + ' s.');
    document.body.dataset.statusLoaded = '1';
  } catch (e) {
    msg.className = 'msg error';
    setText(msg, e.message);
  }
  showPage();
}

// ---- audit -----------------------------------------------------------------

function tokenState() {
  setText('token-state', token() ? 'a token is set for this tab' : 'no token set');
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

function searchQuery() {
  const q = new URLSearchParams();
  for (const f of ['actor', 'action', 'resource_type', 'resource_id', 'outcome', 'since', 'until']) {
    const v = $('f-' + f).value.trim();
    if (!v) continue;
    if ((f === 'since' || f === 'until') && !RFC3339.test(v)) {
      throw new ApiError(400, f + ': give a UTC time as RFC 3339, e.g. 2026-12-02T06:00:00Z');
    }
    q.set(f, v);
  }
  const lim = $('f-limit').value.trim();
  if (lim) q.set('limit', lim);
  return q;
}

async function runSearch(page) {
  const msg = $('audit-msg');
  msg.className = 'msg';
  setText(msg, 'Searching…');
  const t0 = performance.now();
  try {
    const q = new URLSearchParams(state.query);
    const cur = state.cursors[page];
    if (cur) q.set('cursor', cur);
    const { json } = await apiJSON('audit/v1/events' + (q.toString() ? '?' + q : ''), true);
    state.page = page;
    state.next = json.next;
    state.cursors[page + 1] = json.next;
    const events = json.events || [];
    renderResults(events);
    const tRender = performance.now() - t0;
    $('prev-page').disabled = page === 0;
    $('next-page').disabled = !json.next;
    setText('results-caption', events.length
      ? 'Page ' + (page + 1) + ': ' + events.length + ' event' + (events.length === 1 ? '' : 's') + ', newest first'
      : 'No event matches');
    setText(msg, events.length ? 'Verifying…' : 'No event matches these filters.');
    document.body.dataset.searchRendered = String(tRender);
    await verifyResults(json.checkpoint, events);
    document.body.dataset.searchVerified = String(performance.now() - t0 - tRender);
    if (events.length) setText(msg, events.length + ' shown.');
  } catch (e) {
    msg.className = 'msg error';
    setText(msg, e.message);
    $('results').tBodies[0].replaceChildren();
    setText('results-caption', 'No results');
    document.body.dataset.searchRendered = 'error';
  }
}

function renderResults(events) {
  const rows = events.map((r) => {
    const ev = r.event || {};
    const tr = document.createElement('tr');
    const m = RECORD_RE.exec(r.record || '');
    const res = ev.resource || {};
    const btn = el('button', r.index, 'linklike');
    btn.type = 'button';
    btn.setAttribute('aria-label', 'Open event ' + r.index);
    btn.addEventListener('click', () => openEvent(r.index));
    const idx = el('td');
    idx.append(btn);
    tr.append(el('td', m ? isoTime(Number(m[1])) : '–'), el('td', (ev.actor || {}).id),
      el('td', ev.action), el('td', res.type + ' ' + res.id), el('td', ev.outcome), idx, el('td', '…'));
    tr.dataset.index = String(r.index);
    return tr;
  });
  $('results').tBodies[0].replaceChildren(...rows);
}

async function verifyResults(checkpoint, events) {
  const rows = $('results').tBodies[0].rows;
  let cp = null, cpErr = null;
  try {
    cp = await verifyCheckpoint(checkpoint, state.logVkey, state.status && state.status.witnesses);
  } catch (e) {
    cpErr = e.message;
  }
  await Promise.all(events.map(async (r, i) => {
    let res;
    if (!cp) {
      res = { ok: false, reason: cpErr };
    } else {
      try {
        const proof = (r.inclusion_proof || []).map(b64dec);
        await verifyEntry(cp, r.index, r.event, r.salt, r.record, proof);
        res = { ok: true };
      } catch (e) {
        res = { ok: false, reason: e.message };
      }
    }
    const td = rows[i].cells[6];
    td.textContent = res.ok ? 'verified' : 'not verified: ' + res.reason;
    td.className = res.ok ? 'ok' : 'bad';
  }));
}

let downloadUrl = null;

async function openEvent(index) {
  const sec = $('event');
  sec.hidden = false;
  setText('ev-index', index);
  const mark = $('ev-mark');
  mark.className = 'mark';
  setText(mark, 'Checking…');
  for (const id of ['ev-logtime', 'ev-time', 'ev-size', 'ev-cosigners', 'ev-event', 'ev-record']) setText(id, '');
  const dl = $('ev-download');
  dl.hidden = true;
  try {
    const { json, text } = await apiJSON('audit/v1/events/' + encodeURIComponent(index), true);
    setText('ev-event', jcs(json.event || null));
    setText('ev-record', json.record);
    const m = RECORD_RE.exec(json.record || '');
    setText('ev-logtime', m ? isoTime(Number(m[1])) : null);
    setText('ev-time', json.event && json.event.time ? json.event.time : 'not given');
    if (downloadUrl) URL.revokeObjectURL(downloadUrl);
    downloadUrl = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    dl.href = downloadUrl;
    dl.download = 'event-' + index + '.receipt.json';
    dl.hidden = false;
    const res = await verifyReceipt(json, state.logVkey, state.status && state.status.witnesses);
    if (res.ok && String(res.index) !== String(index)) {
      showMark(mark, { ok: false, reason: 'the receipt is for index ' + res.index });
    } else {
      showMark(mark, res);
    }
    if (res.ok) {
      setText('ev-size', res.cp.size);
      setText('ev-cosigners', res.cp.cosigners.length ? res.cp.cosigners.join(', ') : 'none');
    }
  } catch (e) {
    mark.className = 'mark bad';
    setText(mark, 'not verified: ' + e.message);
  }
  sec.scrollIntoView({ block: 'nearest' });
}

// ---- the receipt checker ---------------------------------------------------

async function checkReceiptText(text) {
  const mark = $('receipt-mark');
  for (const id of ['rc-index', 'rc-logtime', 'rc-actor', 'rc-action']) setText(id, '');
  let rc;
  try {
    rc = JSON.parse(text);
  } catch (e) {
    try {
      rc = JSON.parse(text.trim().split('\n')[0]); // the first receipt of NDJSON
    } catch (e2) {
      showMark(mark, { ok: false, reason: 'not JSON: ' + e.message });
      return;
    }
  }
  if (!state.logVkey) {
    showMark(mark, { ok: false, reason: 'the log\'s key is not known yet (status not loaded)' });
    return;
  }
  const res = await verifyReceipt(rc, state.logVkey, state.status && state.status.witnesses);
  showMark(mark, res);
  if (res.ok) {
    setText('rc-index', res.index);
    setText('rc-logtime', isoTime(res.time));
    setText('rc-actor', (rc.event.actor || {}).id);
    setText('rc-action', rc.event.action);
  }
}

function readFile(file) {
  if (!file) return;
  file.text().then((t) => {
    $('receipt-text').value = t;
    return checkReceiptText(t);
  });
}

// ---- wiring ----------------------------------------------------------------

function init() {
  window.addEventListener('hashchange', showPage);
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('token').value.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
    $('token').value = '';
    tokenState();
  });
  $('token-forget').addEventListener('click', () => { sessionStorage.removeItem(TOKEN_KEY); tokenState(); });
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    try {
      state.query = searchQuery().toString();
    } catch (err) {
      $('audit-msg').className = 'msg error';
      setText('audit-msg', err.message);
      document.body.dataset.searchRendered = 'error';
      return;
    }
    state.cursors = [null];
    runSearch(0);
  });
  $('next-page').addEventListener('click', () => { if (state.next) runSearch(state.page + 1); });
  $('prev-page').addEventListener('click', () => { if (state.page > 0) runSearch(state.page - 1); });
  $('ev-close').addEventListener('click', () => { $('event').hidden = true; });
  $('receipt-check').addEventListener('click', () => checkReceiptText($('receipt-text').value));
  $('receipt-file').addEventListener('change', (e) => readFile(e.target.files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    readFile(e.dataTransfer.files[0]);
  });
  tokenState();
  showPage();
  refreshStatus();
  setInterval(refreshStatus, REFRESH_MS);
}

// For the browser tests and the benchmark: the verifier, without the page.
window.tlogdConsole = { verifyReceipt, verifyCheckpoint, verifyEntry, jcs, b64dec };

init();
