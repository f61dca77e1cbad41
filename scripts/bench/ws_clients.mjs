// WebSocket load client of scripts/bench/ws: opens N connections (the `ws`
// package), each subscribed to user:<prefix><i> and campaign:<board i % B>,
// prints READY on stderr once all are subscribed, then measures for S seconds
// from the first update: messages, messages/s and the age of each update on
// arrival (now - ts, ts being the broker timestamp the gateway forwards).
// Prints one JSON object on stdout.
//   node ws_clients.mjs URL KEY BOARDS(comma) N SECONDS USER_PREFIX
import { createRequire } from 'node:module';

const require = createRequire(process.env.BM_NODE_MODULES + '/');
const WebSocket = require('ws');

const [url, key, boardList, nStr, secStr, prefix] = process.argv.slice(2);
const boards = boardList.split(',');
const n = Number(nStr);
const seconds = Number(secStr);
const wsUrl = url.replace(/^http/, 'ws') + '/v1/ws';

let subscribed = 0;
let failed = 0;
let measuring = false;
let t0 = 0;
const stats = { user: [], campaign: [] };
let messages = 0;
let closedEarly = 0;

function open(i) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, ['brightmatter.v1', 'bm.auth.' + key], { perMessageDeflate: false });
    let pending = 2;
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'subscribe', channels: [`user:${prefix}${i}`, `campaign:${boards[i % boards.length]}`] }));
    });
    ws.on('message', (data) => {
      const m = JSON.parse(data);
      if (m.type === 'subscribed') {
        if (--pending === 0) {
          subscribed++;
          resolve(ws);
        }
        return;
      }
      if (m.type === 'error') {
        failed++;
        resolve(ws);
        return;
      }
      if (!m.ts) return;
      const now = Date.now();
      if (!measuring) {
        measuring = true;
        t0 = now;
        setTimeout(finish, seconds * 1000);
      }
      messages++;
      (m.channel.startsWith('user:') ? stats.user : stats.campaign).push(now - m.ts);
    });
    ws.on('error', () => {
      failed++;
      resolve(null);
    });
    ws.on('close', () => {
      if (measuring) closedEarly++;
    });
  });
}

function pct(a, p) {
  if (!a.length) return null;
  const s = Float64Array.from(a).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function finish() {
  const secs = (Date.now() - t0) / 1000;
  const all = stats.user.concat(stats.campaign);
  const out = {
    clients: n,
    connected: subscribed,
    failed,
    closed_during_run: closedEarly,
    seconds: Number(secs.toFixed(1)),
    messages,
    messages_per_s: Math.round(messages / secs),
    latency_ms: {
      p50: pct(all, 50),
      p99: pct(all, 99),
      user_p99: pct(stats.user, 99),
      campaign_p99: pct(stats.campaign, 99),
      user_messages: stats.user.length,
      campaign_messages: stats.campaign.length,
    },
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

const batch = 200;
for (let i = 0; i < n; i += batch) {
  const ps = [];
  for (let k = i; k < Math.min(n, i + batch); k++) ps.push(open(k));
  await Promise.all(ps);
}
process.stderr.write(`READY ${subscribed} subscribed, ${failed} failed\n`);
setTimeout(() => {
  if (!measuring) {
    process.stderr.write('no update arrived\n');
    finish();
  }
}, 120000);
