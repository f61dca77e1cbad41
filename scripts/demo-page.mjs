// The demo's live page: serves sdk/web/dist and one page with the widgets
// (three boards, and when given a quest and a battle pass for one player)
// on 127.0.0.1 (port from BM_DEMO_PAGE_PORT, else kernel-chosen), and prints
// its URL on stdout. Config (JSON) comes as the first argument:
//   {"baseUrl","apiKey","gameId","userId","boards":[{"id","title"}],"quest","pass"}
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, '..', 'sdk', 'web', 'dist');
const cfg = JSON.parse(process.argv[2]);
// Embedded as JSON text in a script element: "<" is escaped so no data closes it.
const cfgText = JSON.stringify(cfg).replace(/</g, '\\u003c');

const page = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>BrightMatter live demo</title>
<style>body{font-family:system-ui,sans-serif;margin:24px;background:#f4f5f9;color:#1b1e28}
h1{font-size:1.3em}.grid{display:flex;flex-wrap:wrap;gap:16px}
.dark{--bm-bg:#1d2130;--bm-fg:#eef0f6;--bm-muted:#9aa3b8;--bm-line:#30364a;--bm-accent:#7aa2ff}</style></head>
<body><h1>BrightMatter: live widgets</h1><p id="state">connecting...</p><div class="grid" id="grid"></div>
<script type="application/json" id="cfg">${cfgText}</script>
<script src="/sdk/brightmatter.js"></script>
<script>
const cfg = JSON.parse(document.getElementById('cfg').textContent);
BrightMatter.init({apiKey: cfg.apiKey, gameId: cfg.gameId, userId: cfg.userId, baseUrl: cfg.baseUrl});
const grid = document.getElementById('grid');
function slot(cls) { const d = document.createElement('div'); if (cls) d.className = cls; grid.appendChild(d); return d; }
cfg.boards.forEach((b, i) => BrightMatter.mount('leaderboard', b.id, slot(i === 2 ? 'dark' : ''), {title: b.title, limit: 10}));
if (cfg.quest) BrightMatter.mount('quest', cfg.quest, slot(), {title: 'Quest (' + cfg.userId + ')'});
if (cfg.pass) BrightMatter.mount('battlepass', cfg.pass, slot(), {title: 'Battle pass (' + cfg.userId + ')'});
setInterval(() => { document.getElementById('state').textContent = 'updates: ' + BrightMatter.liveState(); }, 500);
</script></body></html>`;

const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/' || u.pathname === '/index.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    return res.end(page);
  }
  const m = /^\/sdk\/(brightmatter(?:\.min)?\.m?js)$/.exec(u.pathname);
  if (m && fs.existsSync(path.join(dist, m[1]))) {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    return res.end(fs.readFileSync(path.join(dist, m[1])));
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
});
server.listen(Number(process.env.BM_DEMO_PAGE_PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`http://127.0.0.1:${server.address().port}/\n`);
});
