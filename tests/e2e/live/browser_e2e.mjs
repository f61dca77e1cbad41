// The web SDK in headless Chromium (puppeteer-core) against a running engine
// (started by test_live_browser.c): events tracked in the page reach the board
// exactly once across an offline period, a reload and a lost answer; widgets
// render and update live over the WebSocket; a hostile user id renders as text
// and runs nothing; a tournament widget shows the countdown, seats, prizes,
// standings and the player's own row, follows the cup live and turns into the
// final table with the player's prize; a community widget shows a hostile
// name as text and its join button follows the membership; a screenshot of
// each widget is written to BM_SHOTS_DIR.
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(process.env.BM_NODE_MODULES + '/');
const puppeteer = require('puppeteer-core');

const base = process.env.BM_URL;
const key = process.env.BM_KEY;
const board = process.env.BM_BOARD;
const quest = process.env.BM_QUEST;
const pass = process.env.BM_PASS;
const shots = process.env.BM_SHOTS_DIR;
const cup = process.env.BM_CUP;
const slug = process.env.BM_COMMUNITY;
const OWLS = '<img src=x onerror=alert(2)> Night Owls';
const dist = path.join(process.env.BM_SOURCE_DIR, 'sdk/web/dist');
const XSS = '<img src=x onerror=alert(1)>';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t00 = Date.now();

async function step(name, fn) {
  const t0 = Date.now();
  await fn();
  console.log(`ok ${name} (${Date.now() - t0} ms)`);
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await sleep(100);
  }
  throw new Error(`timeout: ${what} (last: ${JSON.stringify(last)})`);
}

let n = 0;
async function post(user, eventType, data) {
  const r = await fetch(base + '/v1/events', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json' },
    body: JSON.stringify({ eventId: `br-${process.pid}-${n++}`, gameId: 'gw-game', userId: user, eventType, data, timestamp: new Date().toISOString() }),
  });
  assert.equal(r.status, 202, await r.text());
}

async function score(user) {
  const r = await fetch(`${base}/v1/leaderboards/${board}/users/${encodeURIComponent(user)}`, { headers: { authorization: 'Bearer ' + key } });
  return r.status === 200 ? (await r.json()).score : null;
}

// The page's origin is this server (another port than the gateway: cross-origin, as in production).
const PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>BrightMatter SDK test</title>
<style>body{font-family:system-ui;margin:16px;background:#f4f5f9} .grid{display:flex;flex-wrap:wrap;gap:16px}
#tournament{--bm-accent:#b4461d} #community{--bm-accent:#197a4a;--bm-radius:2px}</style></head><body>
<div class="grid"><div id="leaderboard"></div><div id="quest"></div><div id="battlepass"></div><div id="tournament"></div><div id="community"></div></div>
<script src="/sdk/brightmatter.js"></script>
<script>
const q = new URLSearchParams(location.search);
window.xssRan = false;
BrightMatter.init({apiKey: q.get('key'), gameId: 'gw-game', userId: q.get('user'), baseUrl: q.get('base'),
                   flushIntervalMs: 200, minBackoffMs: 200, maxBackoffMs: 1000, pollMs: 60000});
window.bmReady = true;
</script></body></html>`;

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/page.html') {
    res.writeHead(200, { 'content-type': 'text/html' });
    return res.end(PAGE);
  }
  const m = /^\/sdk\/([a-z.]+)$/.exec(u.pathname);
  if (m && fs.existsSync(path.join(dist, m[1]))) {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    return res.end(fs.readFileSync(path.join(dist, m[1])));
  }
  res.writeHead(404);
  res.end();
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;
const pageUrl = `${origin}/page.html?` + new URLSearchParams({ key, base, user: 'web-u1' });

const browser = await puppeteer.launch({
  executablePath: process.env.BM_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
let exitCode = 1;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 800, deviceScaleFactor: 1 });
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  page.on('pageerror', (e) => console.log('page error:', e.message));

  // Network control: "down" aborts every request to the gateway; "loseNext" lets the next
  // POST reach the gateway (forwarded from here) but the page never sees the answer.
  let gatewayDown = false;
  let loseNext = false;
  let lost = 0;
  let posts = 0;
  await page.setRequestInterception(true);
  page.on('request', async (r) => {
    if (!r.url().startsWith(base)) return r.continue();
    if (gatewayDown) return r.abort('internetdisconnected');
    if (r.method() === 'POST' && r.url().includes('/v1/events')) {
      posts++;
      if (loseNext) {
        loseNext = false;
        const fwd = await fetch(r.url(), { method: 'POST', headers: r.headers(), body: r.postData() });
        assert.equal(fwd.status, 202);
        lost++;
        return r.abort('connectionreset');
      }
    }
    return r.continue();
  });

  const load = async () => {
    await page.goto(pageUrl, { waitUntil: 'load' });
    await page.waitForFunction('window.bmReady === true');
  };
  const info = () => page.evaluate(() => BrightMatter.queueInfo());

  await step('events tracked offline survive a reload and count once after a lost answer', async () => {
    await load();
    await page.setOfflineMode(true);
    const ids = await page.evaluate(async () => {
      const out = [];
      for (let i = 0; i < 5; i++) out.push(await BrightMatter.track('MATCH_END', { score: 1 }));
      return out;
    });
    assert.equal(new Set(ids).size, 5);
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await sleep(600); // sends are tried and fail while offline
    let q = await info();
    assert.equal(q.size, 5);
    assert.equal(q.storage, 'indexeddb');
    // Back online but the gateway unreachable, and the page reloaded: the queue is still there.
    await page.setOfflineMode(false);
    gatewayDown = true;
    await load();
    q = await info();
    assert.equal(q.size, 5, 'queue survived the reload');
    await page.evaluate(async () => {
      for (let i = 0; i < 5; i++) await BrightMatter.track('MATCH_END', { score: 1 });
    });
    await sleep(500);
    assert.equal((await info()).size, 10);
    assert.equal(await score('web-u1'), null, 'nothing reached the engine yet');
    // The gateway is back; its answer to the first send is lost, so the SDK sends again.
    loseNext = true;
    gatewayDown = false;
    await until('queue drained', async () => (await info()).size === 0, 20000);
    assert.equal(lost, 1);
    assert.ok(posts >= 2, `${posts} posts`);
    await until('board shows 10', async () => (await score('web-u1')) === 10);
    await sleep(1500);
    assert.equal(await score('web-u1'), 10, 'each event counted once');
  });

  const text = (sel) => page.$eval(sel, (e) => e.textContent);
  const cupRows = () => page.$$eval('#tournament li[data-user]', (l) => l.map((e) => [...e.children].map((c) => c.textContent)));

  await step('a tournament widget shows the countdown, seats, prizes, standings and the own row', async () => {
    await post('cup-a', 'CUP_ROUND', { score: 50 });
    await post('cup-b', 'CUP_ROUND', { score: 40 });
    await post('web-u1', 'CUP_ROUND', { score: 30 });
    await page.evaluate((c) => {
      window.cupWidget = BrightMatter.mount('tournament', c, document.getElementById('tournament'), { limit: 2 });
    }, cup);
    await until('standings of three players', async () => (await page.$('#tournament .bm-seats')) && /^3 players$/.test(await text('#tournament .bm-seats')), 20000);
    await until('two standings rows', async () => (await cupRows()).length === 2, 20000);
    assert.equal(await text('#tournament h2 span'), 'Weekend cup');
    // rank, player, score, prize of that position (60/30 of 100)
    assert.deepEqual(await cupRows(), [
      ['#1', 'cup-a', '50', '60'],
      ['#2', 'cup-b', '40', '30'],
    ]);
    assert.match(await text('#tournament .bm-clock'), /^Ends in \d+m \d\ds$/);
    assert.equal(await text('#tournament .bm-pool span:last-child'), '100');
    // Third, below the two rows shown: the player's own row with the prize it holds now.
    await until('own row', async () => /^You: #3 · 30 points · prize 10$/.test(await text('#tournament .bm-me')), 15000);
    fs.mkdirSync(shots, { recursive: true });
    await (await page.$('#tournament section')).screenshot({ path: path.join(shots, 'tournament-running.png') });
  });

  await step('the tournament widget follows the cup live over the WebSocket', async () => {
    await until('live', () => page.evaluate(() => BrightMatter.liveState() === 'open'), 10000);
    await sleep(500); // subscribed
    // Polling is once a minute here: the player moving up within seconds came over the socket.
    const t0 = Date.now();
    await post('web-u1', 'CUP_ROUND', { score: 15 });
    await page.waitForFunction(() => document.querySelector('#tournament li[data-user="web-u1"][aria-current="true"]'), { timeout: 8000 });
    console.log(`  cup row after ${Date.now() - t0} ms`);
    assert.deepEqual(await cupRows(), [
      ['#1', 'cup-a', '50', '60'],
      ['#2', 'web-u1', '45', '30'],
    ]);
    await until('own row moved', async () => /^You: #2 · 45 points · prize 30$/.test(await text('#tournament .bm-me')), 8000);
  });

  await step('a leaderboard widget renders and updates live over the WebSocket', async () => {
    await page.evaluate((b) => {
      window.lb = BrightMatter.mount('leaderboard', b, document.getElementById('leaderboard'), { title: 'Kill score' });
    }, board);
    await page.evaluate((s) => {
      BrightMatter.mount('community', s, document.getElementById('community'), { metadata: { username: 'web-u1' } });
    }, slug);
    await page.waitForFunction(() => document.querySelector('#leaderboard li[data-user="web-u1"]'), { timeout: 10000 });
    assert.equal(await page.$eval('#leaderboard li[aria-current="true"] .bm-score', (e) => e.textContent), '10');
    await until('live', () => page.evaluate(() => BrightMatter.liveState() === 'open'), 10000);
    // Polling is once a minute here: a row that appears within seconds came over the socket.
    const t0 = Date.now();
    await post('live-u2', 'MATCH_END', { score: 50 });
    await page.waitForFunction(() => document.querySelector('#leaderboard li[data-user="live-u2"]'), { timeout: 8000 });
    console.log(`  live row after ${Date.now() - t0} ms`);
    assert.equal(await page.$eval('#leaderboard li:first-child .bm-name', (e) => e.textContent), 'live-u2');
  });

  await step('a hostile user id renders as text and runs nothing', async () => {
    await post(XSS, 'MATCH_END', { score: 30 });
    await page.waitForFunction((x) => [...document.querySelectorAll('#leaderboard .bm-name')].some((e) => e.textContent === x), { timeout: 8000 }, XSS);
    await sleep(500);
    assert.equal(await page.$$eval('img', (l) => l.length), 0, 'no <img> element was created');
    assert.deepEqual(dialogs, [], 'no alert ran');
    const text = await page.$eval('#leaderboard ol', (e) => e.textContent);
    assert.ok(text.includes(XSS));
  });

  await step('quest and battle pass widgets follow the player live', async () => {
    await page.evaluate(
      (qid, pid) => {
        BrightMatter.mount('quest', qid, document.getElementById('quest'), { userId: 'web-u3', title: 'First steps' });
        BrightMatter.mount('battlepass', pid, document.getElementById('battlepass'), { userId: 'web-u3', title: 'Season 1' });
      },
      quest,
      pass,
    );
    await sleep(500); // subscribed
    for (let i = 0; i < 3; i++) await post('web-u3', 'MATCH_END', { score: 1 });
    await page
      .waitForFunction(() => /3 \/ 5/.test(document.querySelector('#quest .bm-label')?.textContent || ''), { timeout: 10000 })
      .catch(async (e) => {
        console.log('quest widget:', await page.$eval('#quest', (el) => el.textContent));
        throw e;
      });
    await page.waitForFunction(() => /30 XP/.test(document.querySelector('#battlepass')?.textContent || ''), { timeout: 10000 });
    // One tier completed: the player is on tier 2 (tiers numbered from 1, as the product does).
    assert.match(await page.$eval('#battlepass', (e) => e.textContent), /Tier 2 of 3/);
  });

  await step('widgets are labelled and reachable from the keyboard', async () => {
    const regions = await page.$$eval('section.bm-widget', (l) => l.map((s) => [s.getAttribute('role'), document.getElementById(s.getAttribute('aria-labelledby'))?.textContent]));
    assert.equal(regions.length, 5);
    for (const [role, label] of regions) {
      assert.equal(role, 'region');
      assert.ok(label && label.length > 0);
    }
    await page.focus('body');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement?.closest('section.bm-widget')?.className);
    assert.match(focused || '', /bm-leaderboard/);
    assert.ok(await page.$eval('#quest progress', (e) => e.getAttribute('aria-label').includes('of 5')));
  });

  await step('a community widget shows a hostile name as text and joins from its button', async () => {
    await until('community loaded', async () => (await page.$('#community .bm-join')) !== null, 15000);
    assert.equal(await text('#community h2 span'), OWLS);
    assert.equal(await text('#community .bm-desc'), 'Late games, <b>loud</b> chat');
    assert.equal(await page.$$eval('#community b, img', (l) => l.length), 0, 'no element from the name or description');
    assert.equal(await text('#community .bm-members'), '0');
    assert.equal(await text('#community .bm-join'), `Join ${OWLS}`);
    assert.equal(await page.$eval('#community .bm-join', (e) => e.disabled), false);
    assert.match(await page.$eval('#community .bm-invite', (e) => e.href), new RegExp(`/c/${slug}\\?ref=web-u1$`));
    await page.click('#community .bm-join');
    // Sent: the button is disabled at once; the membership the engine applied then shows.
    await until('membership', async () => (await page.$eval('#community .bm-join', (e) => e.dataset.state)) === 'member', 30000);
    assert.equal(await text('#community .bm-join'), 'Member ✓');
    assert.equal(await page.$eval('#community .bm-join', (e) => e.disabled), true);
    assert.equal(await text('#community .bm-members'), '1');
    assert.equal(await text('#community .bm-status'), `Welcome to ${OWLS}!`);
    assert.deepEqual(dialogs, [], 'no alert ran');
  });

  await step('the ended tournament shows the final table and the prize of the player', async () => {
    const t0 = Date.now();
    await until('final results', async () => (await page.$('#tournament ol.bm-results')) !== null, 150000);
    console.log(`  final table ${Date.now() - t0} ms after asking`);
    assert.equal(await text('#tournament .bm-clock'), 'Final results');
    assert.deepEqual(await cupRows(), [
      ['#1', 'cup-a', '50', '60'],
      ['#2', 'web-u1', '45', '30'],
    ]);
    await until('own prize', async () => /^You: #2 · 45 points · won 30$/.test(await text('#tournament .bm-me')), 15000);
  });

  await step('screenshots of each widget', async () => {
    fs.mkdirSync(shots, { recursive: true });
    for (const id of ['leaderboard', 'quest', 'battlepass', 'tournament', 'community']) {
      const el = await page.$(`#${id} section`);
      await el.screenshot({ path: path.join(shots, `${id}.png`) });
    }
    await page.screenshot({ path: path.join(shots, 'page.png') });
    for (const f of fs.readdirSync(shots)) assert.ok(fs.statSync(path.join(shots, f)).size > 1000, f);
  });
  exitCode = 0;
} finally {
  await browser.close();
  server.close();
}
console.log(`browser test ${exitCode ? 'FAILED' : 'passed'} in ${Date.now() - t00} ms`);
process.exit(exitCode);
