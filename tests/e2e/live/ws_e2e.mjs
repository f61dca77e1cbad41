// WebSocket channels against a running engine (started by test_live_ws.c):
// auth by subprotocol and by first message, channel permissions, live and
// coalesced leaderboard updates with per-channel seq, app-level ping, caps,
// a slow client closed with 1008, and (last) the 1001 close on shutdown.
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(process.env.BM_NODE_MODULES + '/');
const WebSocket = require('ws');

const base = process.env.BM_URL;
const wsUrl = base.replace(/^http/, 'ws') + '/v1/ws';
const key = process.env.BM_KEY;
const board = process.env.BM_BOARD;
const otherBoard = process.env.BM_BOARD_OTHER;
const tokenP1 = process.env.BM_TOKEN_P1;
const tokenMapped = process.env.BM_TOKEN_MAPPED; // sub firebase-uid-9, userId claim p1
const maxPerIp = Number(process.env.BM_MAX_PER_IP);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A client that records every message and lets the test wait for one.
function open(protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, protocols);
    const c = { ws, msgs: [], waiters: [], closed: null, lastSeq: {} };
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString());
      if (m.seq && m.payload) c.lastSeq[m.channel] = m.seq;
      c.msgs.push(m);
      c.waiters = c.waiters.filter((w) => !(w.pred(m) && (w.resolve(m), true)));
    });
    ws.on('close', (code, reason) => {
      c.closed = { code, reason: reason.toString() };
      for (const w of c.waiters) w.onClose?.(c.closed);
    });
    ws.on('open', () => resolve(c));
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => reject(Object.assign(new Error('http ' + res.statusCode), { status: res.statusCode, body })));
    });
    ws.on('error', reject);
  });
}

function next(c, pred, ms = 5000, what = 'message') {
  const seen = c.msgs.find(pred);
  if (seen) {
    c.msgs.splice(c.msgs.indexOf(seen), 1);
    return Promise.resolve(seen);
  }
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout waiting for ' + what + '; got ' + JSON.stringify(c.msgs.slice(-5)))), ms);
    c.waiters.push({
      pred,
      resolve: (m) => {
        clearTimeout(t);
        c.msgs.splice(c.msgs.indexOf(m), 1);
        resolve(m);
      },
    });
  });
}

function closed(c, ms = 10000) {
  if (c.closed) return Promise.resolve(c.closed);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('not closed')), ms);
    c.ws.once('close', (code, reason) => {
      clearTimeout(t);
      resolve({ code, reason: reason.toString() });
    });
  });
}

const send = (c, m) => c.ws.send(JSON.stringify(m));

let n = 0;
async function post(events) {
  const body = {
    events: events.map(([user, score]) => ({
      eventId: `ws-e2e-${process.pid}-${n++}`,
      gameId: 'gw-game',
      userId: user,
      eventType: 'MATCH_END',
      data: { score },
      timestamp: new Date().toISOString(),
    })),
  };
  const r = await fetch(base + '/v1/events', {
    method: 'POST',
    headers: { authorization: 'Bearer ' + key, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(r.status, 202, await r.text());
}

async function step(name, fn) {
  const t0 = Date.now();
  await fn();
  console.log(`ok ${name} (${Date.now() - t0} ms)`);
}

await step('handshake refusals', async () => {
  await assert.rejects(open(['brightmatter.v1', 'bm.auth.bmk_' + '0'.repeat(64)]), (e) => e.status === 401 && /unknown or revoked/.test(e.body));
  await assert.rejects(open(['bm.auth.' + key]), (e) => e.status === 400 && /brightmatter.v1/.test(e.body));
  const r = await fetch(base + '/v1/ws?token=' + key);
  assert.equal(r.status, 400); // a plain GET, and a credential in the URL alone is never enough
});

const game = await open(['brightmatter.v1', 'bm.auth.' + key]);
assert.equal(game.ws.protocol, 'brightmatter.v1');

await step('channel permissions for a game key', async () => {
  send(game, { type: 'subscribe', channel: 'campaign:' + otherBoard, id: 1 });
  let m = await next(game, (m) => m.id === 1);
  assert.deepEqual([m.type, m.error, m.channel], ['error', 'not_found', 'campaign:' + otherBoard]);
  send(game, { type: 'subscribe', channel: 'leaderboard:' + board, id: 2 });
  m = await next(game, (m) => m.id === 2);
  assert.equal(m.error, 'invalid_channel');
  send(game, { type: 'subscribe', channels: ['campaign:' + board, 'user:p1'], id: 3 });
  m = await next(game, (m) => m.id === 3 && m.channel === 'campaign:' + board);
  assert.deepEqual([m.type, m.seq], ['subscribed', 0]);
  m = await next(game, (m) => m.id === 3 && m.channel === 'user:p1');
  assert.equal(m.type, 'subscribed');
});

const player = await open([]); // no subprotocol: authenticates with its first message
await step('player token in the first message; own channel only', async () => {
  send(player, { type: 'subscribe', channel: 'campaign:' + board, id: 1 });
  let m = await next(player, (m) => m.id === 1);
  assert.equal(m.error, 'unauthorized');
  send(player, { type: 'auth', token: tokenP1, id: 2 });
  m = await next(player, (m) => m.id === 2);
  assert.deepEqual([m.type, m.as, m.userId], ['authenticated', 'player', 'p1']);
  send(player, { type: 'subscribe', channel: 'user:p2', id: 3 });
  m = await next(player, (m) => m.id === 3);
  assert.equal(m.error, 'forbidden');
  send(player, { type: 'subscribe', channel: 'campaign:' + otherBoard, id: 4 });
  m = await next(player, (m) => m.id === 4);
  assert.equal(m.error, 'not_found');
  send(player, { type: 'subscribe', channels: ['user:p1', 'campaign:' + board], id: 5 });
  await next(player, (m) => m.id === 5 && m.channel === 'user:p1' && m.type === 'subscribed');
  await next(player, (m) => m.id === 5 && m.channel === 'campaign:' + board && m.type === 'subscribed');
  send(player, { type: 'ping', id: 6 });
  m = await next(player, (m) => m.id === 6);
  assert.equal(m.type, 'pong');
});

await step('a userId claim names the player, not its sub', async () => {
  const mapped = await open(['brightmatter.v1', 'bm.auth.' + tokenMapped]);
  send(mapped, { type: 'subscribe', channel: 'user:firebase-uid-9', id: 1 });
  let m = await next(mapped, (m) => m.id === 1);
  assert.equal(m.error, 'forbidden');
  send(mapped, { type: 'subscribe', channel: 'user:p1', id: 2 });
  m = await next(mapped, (m) => m.id === 2);
  assert.equal(m.type, 'subscribed');
  mapped.ws.close();
  await closed(mapped);
});

await step('a committed event reaches both subscribers with seq 1', async () => {
  const t0 = Date.now();
  await post([['p1', 7], ['p2', 3]]);
  for (const c of [game, player]) {
    // p1 and p2 may be committed by different batches: one or two updates, seq 1 first.
    const byUser = {};
    for (let seq = 1; Object.keys(byUser).length < 2; seq++) {
      const m = await next(c, (m) => m.type === 'leaderboard_update', 10000, 'leaderboard_update');
      assert.equal(m.channel, 'campaign:' + board);
      assert.equal(m.seq, seq);
      for (const e of m.payload.entries) byUser[e.userId] = e.score;
      assert.ok(m.ts >= t0 - 1000 && m.ts <= Date.now(), 'ts is the publish time');
    }
    assert.deepEqual(byUser, { p1: 7, p2: 3 });
  }
});

await step('updates are coalesced to at most 4 per second per campaign', async () => {
  const t0 = Date.now();
  await sleep(300);
  const seqBefore = game.lastSeq['campaign:' + board];
  game.msgs.length = 0;
  for (let i = 0; i < 20; i++) {
    await post([['p3', 1]]);
    await sleep(50);
  }
  // Every post is visible in the end: p3's last score is 20.
  let last;
  for (;;) {
    last = await next(game, (m) => m.type === 'leaderboard_update', 10000, 'update');
    const e = last.payload.entries.find((e) => e.userId === 'p3');
    if (e && e.score === 20) break;
  }
  const elapsed = (Date.now() - t0) / 1000;
  const frames = last.seq - seqBefore;
  assert.ok(frames <= Math.ceil(elapsed * 4) + 1, `${frames} updates in ${elapsed} s`);
  assert.ok(frames >= 2, `only ${frames} updates`);
  // The player sees the same channel with the same sequence numbers.
  let pm;
  do pm = await next(player, (m) => m.type === 'leaderboard_update', 10000, 'player update');
  while (pm.seq < last.seq);
  assert.equal(pm.seq, last.seq);
});

await step('unsubscribe stops updates', async () => {
  send(player, { type: 'unsubscribe', channel: 'campaign:' + board, id: 9 });
  await next(player, (m) => m.id === 9 && m.type === 'unsubscribed');
  player.msgs.length = 0;
  await post([['p1', 1]]);
  await next(game, (m) => m.type === 'leaderboard_update', 10000, 'update');
  await sleep(300);
  assert.equal(player.msgs.filter((m) => m.type === 'leaderboard_update').length, 0);
});

await step('bad messages get JSON errors and the connection stays', async () => {
  player.ws.send('not json');
  let m = await next(player, (m) => m.type === 'error');
  assert.equal(m.error, 'bad_message');
  player.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  m = await next(player, (m) => m.type === 'error');
  assert.equal(m.error, 'bad_message');
  send(player, { type: 'ping', id: 10 });
  await next(player, (m) => m.id === 10);
});

await step('per-address cap', async () => {
  const extra = [];
  // game and player are open: fill up to the cap, then one more is refused with 429.
  for (let i = 2; i < maxPerIp; i++) extra.push(await open(['brightmatter.v1', 'bm.auth.' + key]));
  await assert.rejects(open(['brightmatter.v1', 'bm.auth.' + key]), (e) => e.status === 429);
  for (const c of extra) c.ws.close(1000);
  await Promise.all(extra.map((c) => closed(c)));
  await sleep(200);
  const again = await open(['brightmatter.v1', 'bm.auth.' + key]);
  again.ws.close(1000);
  await closed(again);
});

await step('a client that stops reading is closed with 1008', async () => {
  const slow = await open(['brightmatter.v1', 'bm.auth.' + key]);
  const boards = [board, ...process.env.BM_EXTRA_BOARDS.split(',')];
  send(slow, { type: 'subscribe', channels: boards.map((b) => 'campaign:' + b), id: 1 });
  for (const b of boards) await next(slow, (m) => m.id === 1 && m.channel === 'campaign:' + b);
  slow.ws._socket.pause();
  const pad = 'x'.repeat(180);
  let round = 0;
  const deadline = Date.now() + 40000;
  const slowClosed = async () => {
    const t = await (await fetch(base + '/metrics')).text();
    return Number(/^brightmatter_ws_slow_closed_total (\d+)/m.exec(t)[1]);
  };
  assert.equal(await slowClosed(), 0);
  while ((await slowClosed()) === 0 && Date.now() < deadline) {
    const evs = [];
    for (let i = 0; i < 400; i++) evs.push([`slow-${pad}-${round}-${i}`, 1]);
    await post(evs);
    round++;
    await sleep(20);
  }
  console.log(`  closed after ${round} posts of 400 events`);
  // The close frame goes out first once the client reads again (within the grace period).
  slow.ws._socket.resume();
  const c = await closed(slow, 5000);
  assert.equal(c.code, 1008, JSON.stringify(c));
  assert.match(c.reason, /send queue full/);
  // The other subscriber still gets updates.
  game.msgs.length = 0;
  await post([['p1', 1]]);
  await next(game, (m) => m.type === 'leaderboard_update', 10000, 'update after slow close');
});

// The harness stops the engine now; every client gets 1001.
console.log('READY_FOR_SHUTDOWN');
const c1 = await closed(game, 30000);
const c2 = await closed(player, 30000);
assert.equal(c1.code, 1001);
assert.equal(c2.code, 1001);
console.log('ok shutdown closes with 1001');
process.exit(0);
