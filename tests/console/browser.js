// browser.js - the console's pages in headless chromium (puppeteer-core),
// run by test_browser.py with its settings as one JSON argument. Prints one
// "ok <what>" or "FAIL <what>" line per check, then "browser.js done".
//
// Checks: the security headers of every console answer; the status page's
// figures against /metrics and /console/v1/status, its plots, no layout
// shift on refresh, no overflow at phone width; the Audit page reached by
// its link (by keyboard), the Token field, searches by actor, by time range and paged,
// row by row against GET /audit/v1/events, each row verified in the page;
// an event's view verified (with the witness's cosignature), its receipt
// download; the injected actor shown as text and never run; answers
// tampered with by the proxy (event, proof, checkpoint) shown as "not
// verified: <reason>"; 401, 403 and network down shown as such; the
// receipt checker with pasted and uploaded receipts; no console error
// beyond the failed loads each error step causes. Screenshots of each page.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const cfg = JSON.parse(process.argv[2]);
const T = cfg.slow ? 4 : 1;
let fails = 0;

function check(cond, what) {
  console.log((cond ? 'ok ' : 'FAIL ') + what);
  if (!cond) fails++;
}

async function api(base, p, token) {
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const r = await fetch(base + p, { headers });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

function metric(text, name) {
  const m = new RegExp('^' + name.replace(/[{}"]/g, (c) => '\\' + c) + ' (\\d+)$', 'm').exec(text);
  return m ? Number(m[1]) : null;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(cfg.artifacts, name + '.png'), fullPage: true });
}

// Console errors: every one is a failure unless the step allows it.
const errors = [];
let allowed = null;

async function rows(page) {
  return page.$$eval('#results tbody tr', (trs) => trs.map((tr) => ({
    index: Number(tr.dataset.index),
    cells: Array.from(tr.cells, (td) => td.textContent),
  })));
}

async function search(page, filters) {
  for (const f of ['actor', 'action', 'resource_type', 'resource_id', 'since', 'until']) {
    await page.$eval('#f-' + f, (e, v) => { e.value = v; }, filters[f] || '');
  }
  await page.select('#f-outcome', filters.outcome || '');
  await page.$eval('#f-limit', (e, v) => { e.value = v; }, String(filters.limit || 100));
  await page.evaluate(() => { delete document.body.dataset.searchRendered; });
  await page.click('#search');
  await settle(page);
}

// Waits until the results are rendered and every row's mark is set.
async function settle(page) {
  await page.waitForFunction(() => document.body.dataset.searchRendered !== undefined &&
    !Array.from(document.querySelectorAll('#results tbody tr td:last-child')).some((td) => td.textContent === '…') &&
    document.getElementById('audit-msg').textContent !== 'Searching…' &&
    document.getElementById('audit-msg').textContent !== 'Verifying…', { timeout: 20000 * T });
}

async function same(page, base, query, what) {
  const got = await rows(page);
  const want = JSON.parse((await api(base, '/audit/v1/events?' + query, cfg.reader)).text);
  const ok = got.length === want.events.length && got.every((r, i) => {
    const w = want.events[i];
    const lt = new Date(JSON.parse(w.record).time).toISOString();
    return r.index === w.index && r.cells[0] === lt && r.cells[1] === w.event.actor.id &&
      r.cells[2] === w.event.action && r.cells[3] === w.event.resource.type + ' ' + w.event.resource.id &&
      r.cells[4] === w.event.outcome && r.cells[5] === String(w.index);
  });
  check(ok, what + ': the rows are GET /audit/v1/events\'s (' + got.length + ' rows)');
  check(got.length > 0 && got.every((r) => r.cells[6] === 'verified'), what + ': every row verified in the page');
  return { got, want };
}

async function setToken(page, tok) {
  const label = await page.$eval('label[for=token]', (l) => l.textContent);
  check(label === 'Token', 'the token field is labelled "Token"');
  await page.$eval('#token', (e) => { e.value = ''; });
  if (tok) await page.type('#token', tok);
  await page.click('#token-save');
}

async function openEvent(page, index) {
  await page.evaluate(() => { document.getElementById('ev-mark').textContent = ''; });
  await page.click('#results tbody tr[data-index="' + index + '"] button');
  await page.waitForFunction(() => {
    const t = document.getElementById('ev-mark').textContent;
    return t && t !== 'Checking…';
  }, { timeout: 20000 * T });
  return page.$eval('#ev-mark', (e) => e.textContent);
}

async function main() {
  // ---- headers of every console answer -------------------------------------------
  for (const p of ['/', '/console/console.js', '/console/console.css', '/console/v1/status']) {
    const r = await api(cfg.base, p);
    const h = r.headers;
    check(r.status === 200 && h.get('content-security-policy') === "default-src 'self'; frame-ancestors 'none'" &&
      h.get('x-content-type-options') === 'nosniff' && h.get('referrer-policy') === 'no-referrer',
    p + ': 200 with CSP, nosniff and no-referrer');
    if (p !== '/console/v1/status') {
      const etag = h.get('etag');
      const again = await fetch(cfg.base + p, { headers: { 'If-None-Match': etag } });
      check(/^"[0-9a-f]{16}"$/.test(etag || '') && again.status === 304, p + ': strong ETag, 304 when unchanged');
    }
  }
  const ctypes = { '/': 'text/html', '/console/console.js': 'text/javascript', '/console/console.css': 'text/css' };
  for (const p in ctypes) {
    const r = await api(cfg.base, p);
    check((r.headers.get('content-type') || '').startsWith(ctypes[p]), p + ': content type ' + ctypes[p]);
  }

  const browser = await puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    userDataDir: fs.mkdtempSync(path.join(cfg.tmp, 'chromium-')),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      const t = m.text();
      if (allowed && allowed.test(t)) return;
      errors.push(t);
    });
    page.on('response', (r) => {
      if (r.status() === 404) errors.push('404: ' + r.url());
    });
    page.on('pageerror', (e) => errors.push('page error: ' + e.message));
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.protocol !== 'blob:' && u.host !== new URL(cfg.base).host && u.host !== new URL(cfg.proxy).host) {
        errors.push('external request: ' + r.url());
      }
    });
    await page.evaluateOnNewDocument(() => {
      window.__shift = 0;
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) if (!e.hadRecentInput) window.__shift += e.value;
      }).observe({ type: 'layout-shift', buffered: true });
    });

    // ---- status -------------------------------------------------------------------
    const resp = await page.goto(cfg.base + '/', { waitUntil: 'load' });
    check(resp.headers()['content-security-policy'] === "default-src 'self'; frame-ancestors 'none'",
      'the page is served with its CSP');
    await page.waitForFunction(() => document.body.dataset.statusLoaded === '1', { timeout: 10000 * T });
    // the witness has cosigned what is published: wait for quorum "met" on the page
    await page.waitForFunction(() => document.getElementById('st-quorum').textContent === 'met', { timeout: 20000 * T });
    const met = (await api(cfg.base, '/metrics')).text;
    const st = JSON.parse((await api(cfg.base, '/console/v1/status')).text);
    await page.waitForFunction((n) => document.getElementById('st-size').textContent === String(n),
      { timeout: 10000 * T }, st.tree_size_published).catch(() => {});
    const fig = await page.evaluate(() => {
      const t = (id) => document.getElementById(id).textContent;
      return { origin: t('st-origin'), kind: t('st-kind'), size: t('st-size'), signed: t('st-signed'),
        checkpoint: t('st-checkpoint'), quorum: t('st-quorum'), age: t('st-age'),
        wit: Array.from(document.querySelectorAll('#st-witnesses tbody tr'), (tr) => Array.from(tr.cells, (c) => c.textContent)),
        paths: ['plot-rate', 'plot-lat', 'plot-size'].map((id) => document.querySelectorAll('#' + id + ' path').length),
        audit: !document.getElementById('nav-audit').hidden };
    });
    check(fig.origin === cfg.origin && fig.kind === 'audit', 'status: origin and kind');
    check(Number(fig.size) === metric(met, 'tlogd_tree_size_published') && Number(fig.size) === st.tree_size_published,
      'status: tree size as in /metrics (' + fig.size + ')');
    check(Number(fig.signed) === st.tree_size_signed, 'status: signed size as in /console/v1/status');
    check(fig.checkpoint === st.checkpoint, 'status: the checkpoint text is the published one');
    check(/^\d+(\.\d)? (s|min|h)$/.test(fig.age), 'status: checkpoint age shown (' + fig.age + ')');
    check(fig.wit.length === 1 && fig.wit[0][0] === 'w1' &&
      Number(fig.wit[0][1]) === metric(met, 'tlogd_witness_cosigned_size{witness="w1"}') &&
      Number(fig.wit[0][5]) === metric(met, 'tlogd_witness_failures_total{witness="w1"}') &&
      Number(fig.wit[0][4]) <= metric(met, 'tlogd_witness_requests_total{witness="w1"}'),
    'status: the witness with its cosigned size, requests and failures as in /metrics (' + JSON.stringify(fig.wit) + ')');
    check(st.history.points.length >= 1 && st.history.max_points === 360 && st.history.step_s === 10,
      'status: history of 10 s points, at most 360');
    check(fig.paths[2] >= 1, 'status: the tree size is plotted');
    check(fig.audit, 'status: the Audit link shows on an audit log');
    await shot(page, 'status');
    // one live refresh: no layout shift
    const shift0 = await page.evaluate(() => window.__shift);
    const msg0 = await page.$eval('#status-msg', (e) => e.textContent);
    await page.waitForFunction((m) => document.getElementById('status-msg').textContent !== m, { timeout: 15000 * T }, msg0);
    const shift1 = await page.evaluate(() => window.__shift);
    check(shift1 - shift0 < 0.001, 'status: a live refresh shifts no layout (' + (shift1 - shift0) + ')');
    // phone width: nothing wider than the screen
    await page.setViewport({ width: 375, height: 800 });
    const over = await page.evaluate(() => document.documentElement.scrollWidth);
    check(over <= 375, 'status: no horizontal overflow at 375 px (' + over + ')');
    await shot(page, 'status-phone');
    await page.setViewport({ width: 1280, height: 900 });

    // ---- audit --------------------------------------------------------------------
    const [link] = await page.$$('xpath/.//a[normalize-space(.)="Audit"]');
    check(!!link, 'a link named "Audit"');
    // by keyboard: Tab reaches the link, Enter follows it
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'nav-audit'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(() => document.activeElement.id);
    }
    check(focused === 'nav-audit', 'the Audit link is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !document.getElementById('page-audit').hidden);
    await setToken(page, cfg.reader);
    check(await page.evaluate(() => document.cookie === '' && location.href.indexOf('Bearer') < 0),
      'the token is in no cookie and no URL');
    check(await page.evaluate((t) => sessionStorage.getItem('tlogd.token') === t && localStorage.length === 0, cfg.reader),
      'the token is kept in sessionStorage only');

    await search(page, { actor: 'alice' });
    const a = await same(page, cfg.base, 'actor=alice', 'search by actor');
    check(a.got.length === 6, 'search by actor: alice\'s 6 events');
    await search(page, { actor: 'alice', limit: 2 });
    const p1 = await same(page, cfg.base, 'actor=alice&limit=2', 'paged search, page 1');
    await page.click('#next-page');
    await settle(page);
    await same(page, cfg.base, 'actor=alice&limit=2&cursor=' + encodeURIComponent(p1.want.next), 'paged search, page 2');
    await page.click('#prev-page');
    await settle(page);
    check(JSON.stringify(await rows(page)) === JSON.stringify(p1.got), 'paged search: back to page 1');
    await search(page, { since: cfg.since, until: cfg.until });
    const tr = await same(page, cfg.base, 'since=' + cfg.since + '&until=' + cfg.until, 'search by time range');
    check(tr.got.length === cfg.batch_a, 'search by time range: the first batch only');
    await search(page, { outcome: 'denied', action: 'order.cancel', resource_type: 'order', resource_id: '9' });
    await same(page, cfg.base, 'outcome=denied&action=order.cancel&resource_type=order&resource_id=9', 'search by action, resource and outcome');
    await search(page, { actor: 'nobody' });
    check((await page.$eval('#audit-msg', (e) => e.textContent)) === 'No event matches these filters.',
      'an empty search says so');
    await search(page, { since: 'yesterday' });
    check(/since: give a UTC time as RFC 3339/.test(await page.$eval('#audit-msg', (e) => e.textContent)),
      'a malformed time is refused in the page');

    // an event with non-ASCII keys and escapes: the page's JCS is the log's
    await search(page, { actor: 'dana' });
    const dn = await rows(page);
    check(dn.length === 1 && dn[0].cells[6] === 'verified', 'an event with non-ASCII keys verifies (' + (dn[0] || { cells: [] }).cells[6] + ')');

    // the injected actor: shown as text, never run
    await search(page, { actor: cfg.xss });
    const x = await rows(page);
    check(x.length === 1 && x[0].cells[1] === cfg.xss && x[0].cells[3] === 'order <b>7</b>',
      'the injected actor and resource show as text');
    check(await page.evaluate(() => document.querySelectorAll('main img, main b').length === 0 && window.__xss === undefined),
      'the injection made no element and ran nothing');
    await shot(page, 'audit');
    const xm = await openEvent(page, x[0].index);
    check(xm === 'verified', 'the injected event verifies (' + xm + ')');
    check(await page.evaluate((s) => document.getElementById('ev-event').textContent.indexOf(s) >= 0 &&
      window.__xss === undefined, cfg.xss), 'the injected event view shows it as text');

    // an event's view
    await search(page, { actor: 'bob' });
    const b = (await rows(page))[0];
    const mark = await openEvent(page, b.index);
    check(mark === 'verified', 'event view: verified (' + mark + ')');
    const ev = await page.evaluate(() => {
      const t = (id) => document.getElementById(id).textContent;
      const a = document.getElementById('ev-download');
      return { time: t('ev-time'), logtime: t('ev-logtime'), cos: t('ev-cosigners'), ev: t('ev-event'),
        record: t('ev-record'), name: a.download, href: a.href };
    });
    const receipt = (await api(cfg.base, '/audit/v1/events/' + b.index, cfg.reader)).text;
    const rj = JSON.parse(receipt);
    check(ev.time === '2026-12-01T10:00:00.000Z' && ev.logtime === b.cells[0], 'event view: its own time beside the log time');
    check(ev.cos === 'w1', 'event view: the cosignature of w1 verified');
    check(ev.record === rj.record && JSON.parse(ev.ev).actor.id === 'bob', 'event view: the canonical event and its record');
    // the download itself, into a folder of the test's
    const ddir = fs.mkdtempSync(path.join(cfg.tmp, 'downloads-'));
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: ddir });
    await page.click('#ev-download');
    const dfile = path.join(ddir, ev.name);
    for (let i = 0; i < 100 * T && !fs.existsSync(dfile); i++) await new Promise((r) => setTimeout(r, 50));
    const dj = JSON.parse(fs.existsSync(dfile) ? fs.readFileSync(dfile, 'utf8') : '{}');
    check(ev.name === 'event-' + b.index + '.receipt.json' && ev.href.startsWith('blob:') &&
      Object.keys(dj).join() === 'event,salt,record,proof' && dj.salt === rj.salt && dj.record === rj.record &&
      /^c2sp\.org\/tlog-proof@v1\nindex \d+\n/.test(dj.proof),
    'event view: the receipt as NAME.receipt.json (event, salt, record, proof)');
    await shot(page, 'event');
    const rfile = path.join(cfg.tmp, 'bob.receipt.json');
    fs.writeFileSync(rfile, receipt);

    // ---- error states ---------------------------------------------------------------
    allowed = /Failed to load resource: the server responded with a status of 40[13]/;
    await setToken(page, '');
    await search(page, { actor: 'alice' });
    check(/^401 unauthorized/.test(await page.$eval('#audit-msg', (e) => e.textContent)), 'no token: 401 shown');
    await setToken(page, cfg.writer);
    await search(page, { actor: 'alice' });
    check(/^403 forbidden/.test(await page.$eval('#audit-msg', (e) => e.textContent)), 'a writer token: 403 shown');
    allowed = null;

    // ---- tampered answers through the proxy ---------------------------------------
    await page.goto(cfg.proxy + '/#audit', { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.statusLoaded === '1', { timeout: 10000 * T });
    await setToken(page, cfg.reader);
    const reasons = { event: /^not verified: the commitment does not match the event$/,
      proof: /^not verified: the inclusion proof does not lead to the checkpoint's root$/,
      checkpoint: /^not verified: checkpoint: the log's signature does not verify$/ };
    await search(page, { actor: 'bob' });
    check((await rows(page))[0].cells[6] === 'verified', 'through the proxy, untouched: verified');
    for (const mode of Object.keys(reasons)) {
      await fetch(cfg.proxy + '/__tamper?mode=' + mode);
      await search(page, { actor: 'bob' });
      const r = (await rows(page))[0];
      check(reasons[mode].test(r.cells[6]), 'tampered ' + mode + ' in a search: ' + r.cells[6]);
      const m = await openEvent(page, b.index);
      check(reasons[mode].test(m), 'tampered ' + mode + ' in a receipt: ' + m);
      if (mode === 'proof') await shot(page, 'tampered');
    }
    // a quorum the cosignatures do not meet (the policy's rule, as the status gives it)
    await fetch(cfg.proxy + '/__tamper?mode=quorum');
    await page.reload({ waitUntil: 'load' }); // a fresh status (a goto to the same #audit would not load)
    await page.waitForFunction(() => document.body.dataset.statusLoaded === '1', { timeout: 10000 * T });
    await search(page, { actor: 'bob' });
    {
      const want = /^not verified: the cosignatures \(w1\) do not meet the policy's quorum$/;
      const r = (await rows(page))[0];
      check(want.test(r.cells[6]), 'a quorum not met in a search: ' + r.cells[6]);
      check(want.test(await openEvent(page, b.index)), 'a quorum not met in a receipt');
    }
    allowed = /Failed to load resource|ERR_EMPTY_RESPONSE|ERR_CONNECTION/;
    await fetch(cfg.proxy + '/__tamper?mode=down');
    await search(page, { actor: 'bob' });
    check(/^network down/.test(await page.$eval('#audit-msg', (e) => e.textContent)), 'network down shown');
    await fetch(cfg.proxy + '/__tamper?mode=none').catch(() => {});
    allowed = null;

    // ---- the receipt checker ------------------------------------------------------
    await page.goto(cfg.base + '/#receipt', { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.statusLoaded === '1', { timeout: 10000 * T });
    await page.$eval('#receipt-text', (e, v) => { e.value = v; }, JSON.stringify(JSON.parse(receipt), null, 2));
    await page.click('#receipt-check');
    await page.waitForFunction(() => document.getElementById('receipt-mark').textContent !== '');
    check((await page.$eval('#receipt-mark', (e) => e.textContent)) === 'verified' &&
      (await page.$eval('#rc-actor', (e) => e.textContent)) === 'bob', 'receipt checker: a pasted, reformatted receipt verifies');
    const bad = JSON.parse(receipt);
    bad.event.outcome = 'success';
    await page.$eval('#receipt-mark', (e) => { e.textContent = ''; });
    await page.$eval('#receipt-text', (e, v) => { e.value = v; }, JSON.stringify(bad));
    await page.click('#receipt-check');
    await page.waitForFunction(() => document.getElementById('receipt-mark').textContent !== '');
    check((await page.$eval('#receipt-mark', (e) => e.textContent)) === 'not verified: the commitment does not match the event',
      'receipt checker: an altered event does not verify');
    await page.$eval('#receipt-mark', (e) => { e.textContent = ''; });
    const input = await page.$('#receipt-file');
    await input.uploadFile(rfile);
    await page.waitForFunction(() => document.getElementById('receipt-mark').textContent !== '');
    check((await page.$eval('#receipt-mark', (e) => e.textContent)) === 'verified', 'receipt checker: an uploaded file verifies');
    await shot(page, 'receipt');

    check(await page.evaluate(() => window.__xss === undefined), 'window.__xss is undefined');
    check(errors.length === 0, 'no console errors (' + errors.slice(0, 3).join(' | ') + ')');
  } finally {
    await browser.close();
  }
}

main().then(() => {
  console.log('browser.js done');
  process.exit(fails ? 1 : 0);
}, (e) => {
  console.log('FAIL exception: ' + (e && e.stack || e));
  process.exit(1);
});
