// Test receiver for reward webhooks: verifies every Standard Webhooks
// signature and, with --fail-rate, answers a share of the requests at random
// with 500, 429 + Retry-After, no answer (the sender times out) or a reset
// connection. One JSON line per request goes to --log:
//   {"id": webhook-id, "outcome": "ok"|"500"|"429"|"timeout"|"reset"|"400",
//    "sig": true|false, "nsig": signatures sent, "path": "/...",
//    "inflight": requests open at this one's arrival (itself included), "at": ms}
// Paths: /4xx answers 400 to everything; anything else follows --fail-rate.
// Listens on 127.0.0.1, a kernel-chosen port written to --port-file.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].slice(2)] = process.argv[i + 1];
const secrets = (args.secret || '').split(',').filter(Boolean);
const failRate = Number(args['fail-rate'] || 0);
const delayMs = Number(args['delay-ms'] || 0);
const log = args.log ? fs.openSync(args.log, 'a') : null;
let seed = Number(args.seed || 1);
function rnd() { // deterministic xorshift, so a failing run can be replayed
  seed ^= seed << 13; seed >>>= 0; seed ^= seed >>> 17; seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296;
}

function verify(headers, body) {
  const id = headers['webhook-id'], ts = headers['webhook-timestamp'];
  const sigs = (headers['webhook-signature'] || '').split(' ');
  if (!id || !ts || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  return secrets.some((s) => {
    const key = Buffer.from(s.replace(/^whsec_/, ''), 'base64');
    const want = 'v1,' + crypto.createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
    return sigs.some((g) => g.length === want.length && crypto.timingSafeEqual(Buffer.from(g), Buffer.from(want)));
  });
}

let inflight = 0;
const server = http.createServer((req, res) => {
  inflight++;
  const atArrival = inflight;
  res.on('close', () => { inflight--; });
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    const sig = verify(req.headers, body);
    let outcome = 'ok';
    if (req.url.startsWith('/4xx')) outcome = '400';
    else if (!sig) outcome = '401';
    else if (rnd() < failRate) outcome = ['500', '429', 'timeout', 'reset'][Math.floor(rnd() * 4)];
    const nsig = (req.headers["webhook-signature"] || "").split(" ").filter(Boolean).length;
    if (log) fs.writeSync(log, JSON.stringify({ id: req.headers["webhook-id"], outcome, sig, nsig, path: req.url, inflight: atArrival, at: Date.now() }) + "\n");
    const answer = () => {
      if (outcome === 'ok') { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"received":true}'); }
      else if (outcome === '429') { res.writeHead(429, { 'retry-after': '1' }); res.end('slow down'); }
      else if (outcome === 'timeout') { setTimeout(() => req.socket.destroy(), 5000); }
      else if (outcome === 'reset') { req.socket.destroy(); }
      else { res.writeHead(Number(outcome)); res.end('no'); }
    };
    if (delayMs) setTimeout(answer, delayMs); else answer();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  if (args['port-file']) fs.writeFileSync(args['port-file'] + '.tmp', String(server.address().port));
  if (args['port-file']) fs.renameSync(args['port-file'] + '.tmp', args['port-file']);
});
process.on('SIGTERM', () => process.exit(0));
