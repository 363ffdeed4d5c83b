// console_bench.js - run by console_bench.py with its settings as one JSON
// argument: measures the console in headless chromium (fresh profile, no
// cache: every run loads every file) and prints medians of cfg.runs runs.
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const cfg = JSON.parse(process.argv[2]);
const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main() {
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium, headless: true,
    userDataDir: fs.mkdtempSync(path.join(cfg.tmp, 'chromium-')),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const fig = { weight: [], status: [], search: [], verify: [], rows: [] };
  try {
    for (let run = 0; run < cfg.runs; run++) {
      const page = await browser.newPage();
      await page.setCacheEnabled(false);
      let bytes = 0;
      const cdp = await page.createCDPSession();
      await cdp.send('Network.enable');
      cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
      await page.goto(cfg.base + '/', { waitUntil: 'load' });
      await page.waitForFunction(() => performance.getEntriesByName('tlogd-status-rendered').length > 0);
      fig.status.push(await page.evaluate(() => performance.getEntriesByName('tlogd-status-rendered')[0].startTime));
      await new Promise((r) => setTimeout(r, 200));
      fig.weight.push(bytes);
      await page.goto(cfg.base + '/#audit', { waitUntil: 'load' });
      await page.waitForFunction(() => document.body.dataset.statusLoaded === '1');
      await page.type('#token', cfg.reader);
      await page.click('#token-save');
      await page.$eval('#f-limit', (e) => { e.value = '100'; });
      for (const [key, actor] of [['', ''], ['actor_', cfg.actor]]) {
        await page.$eval('#f-actor', (e, v) => { e.value = v; }, actor);
        await page.evaluate(() => { delete document.body.dataset.searchVerified; });
        await page.click('#search');
        await page.waitForFunction(() => document.body.dataset.searchVerified !== undefined, { timeout: 60000 });
        const r = await page.evaluate(() => ({
          search: Number(document.body.dataset.searchRendered),
          verify: Number(document.body.dataset.searchVerified),
          rows: document.querySelectorAll('#results tbody tr').length,
          ok: Array.from(document.querySelectorAll('#results tbody tr td:last-child')).every((td) => td.textContent === 'verified'),
        }));
        if (!r.ok) throw new Error('a row did not verify');
        for (const k of ['search', 'verify', 'rows']) (fig[key + k] = fig[key + k] || []).push(r[k]);
      }
      await page.close();
    }
  } finally {
    await browser.close();
  }
  const files = ['/', '/console/console.js', '/console/console.css', '/console/icon.svg'];
  let raw = 0;
  for (const f of files) raw += (await (await fetch(cfg.base + f)).arrayBuffer()).byteLength;
  console.log('console files (bodies): ' + raw + ' bytes');
  console.log('page weight, status page incl. headers and status JSON: ' + median(fig.weight) + ' bytes');
  console.log('status page, first render (navigation start to figures drawn): ' + median(fig.status).toFixed(1) + ' ms');
  console.log('search of ' + median(fig.rows) + ' rows, click to table rendered: ' + median(fig.search).toFixed(1) + ' ms');
  console.log('in-page verification of those rows: ' + median(fig.verify).toFixed(1) + ' ms');
  console.log('search actor=' + cfg.actor + ' (' + cfg.actor_share + '), ' + median(fig.actor_rows) + ' rows, click to table rendered: ' +
    median(fig.actor_search).toFixed(1) + ' ms; verification ' + median(fig.actor_verify).toFixed(1) + ' ms');
  console.log('first run (cold browser): status ' + fig.status[0].toFixed(1) + ' ms, search ' + fig.search[0].toFixed(1) +
    ' ms, verification ' + fig.verify[0].toFixed(1) + ' ms');
  console.log('runs: ' + cfg.runs + ' (medians); all: ' + JSON.stringify(fig));
}

main().catch((e) => { console.error(e); process.exit(1); });
