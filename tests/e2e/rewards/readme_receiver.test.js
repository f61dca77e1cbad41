// Runs the example receiver printed in README.md (the js block after the
// "example-receiver" marker) and checks what the README promises: a correctly
// signed webhook is accepted once, a duplicate is answered 2xx but not acted
// on twice, and an expired, wrongly signed, wrongly keyed or unsigned one is
// rejected with 400. Signatures here are made with node's crypto, independently
// of the engine's C signer (the engine's own are checked by
// test_e2e_rewards_webhook).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const crypto = require('crypto');
const { spawn } = require('child_process');

const readme = fs.readFileSync(process.argv[2], 'utf8');
const m = readme.match(/<!-- example-receiver[^\n]*\n```js\n([\s\S]*?)```/);
if (!m) { console.error('README.md has no example-receiver block'); process.exit(1); }
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bm-readme-recv-'));
const file = path.join(dir, 'receiver.js');
fs.writeFileSync(file, m[1]);
const lines = m[1].trim().split('\n').length;
if (lines > 25) { console.error(`example receiver is ${lines} lines, the README promises ~20`); process.exit(1); }

const secret = 'whsec_' + crypto.randomBytes(24).toString('base64');
const other = 'whsec_' + crypto.randomBytes(24).toString('base64');
const child = spawn(process.execPath, [file], { env: { ...process.env, WEBHOOK_SECRET: secret, PORT: '0' } });
let out = '';
child.stdout.on('data', (d) => { out += d; });
child.stderr.on('data', (d) => process.stderr.write(d));

function sign(sec, id, ts, body) {
  const key = Buffer.from(sec.replace(/^whsec_/, ''), 'base64');
  return 'v1,' + crypto.createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
}
function post(port, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  for (let i = 0; i < 100 && !/listening (\d+)/.test(out); i++) await new Promise((r) => setTimeout(r, 50));
  const port = Number((out.match(/listening (\d+)/) || [])[1]);
  if (!port) throw new Error('example receiver did not start: ' + out);
  const body = JSON.stringify({ type: 'reward.granted', data: { userId: 'u1', reward: { points: 5 } } });
  const now = Math.floor(Date.now() / 1000);
  const h = (id, ts, sig) => ({ 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': sig });
  const cases = [
    ['valid', h('grant-1', now, sign(secret, 'grant-1', now, body)), 200],
    ['duplicate', h('grant-1', now, sign(secret, 'grant-1', now, body)), 200],
    ['rotation (two signatures, one ours)', h('grant-2', now, sign(other, 'grant-2', now, body) + ' ' + sign(secret, 'grant-2', now, body)), 200],
    ['expired', h('grant-3', now - 600, sign(secret, 'grant-3', now - 600, body)), 400],
    ['from the future', h('grant-4', now + 600, sign(secret, 'grant-4', now + 600, body)), 400],
    ['wrong secret', h('grant-5', now, sign(other, 'grant-5', now, body)), 400],
    ['body changed', h('grant-6', now, sign(secret, 'grant-6', now, body + ' ')), 400],
    ['id changed', h('grant-7', now, sign(secret, 'grant-x', now, body)), 400],
    ['unsigned', { 'webhook-id': 'grant-8', 'webhook-timestamp': String(now) }, 400],
  ];
  let failed = 0;
  for (const [name, headers, want] of cases) {
    const got = await post(port, headers, body);
    const ok = got === want;
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: HTTP ${got} (want ${want})`);
  }
  await new Promise((r) => setTimeout(r, 100));
  const grants = out.split('\n').filter((l) => l.startsWith('grant ')).map((l) => l.split(' ')[1]);
  const wantGrants = ['grant-1', 'grant-2'];
  if (JSON.stringify(grants) !== JSON.stringify(wantGrants)) {
    failed++;
    console.log(`FAIL acted on ${JSON.stringify(grants)}, want ${JSON.stringify(wantGrants)} (each once)`);
  } else {
    console.log('ok   acted once per webhook-id');
  }
  return failed;
}

main().then((failed) => {
  child.kill();
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(failed ? 1 : 0);
}, (e) => {
  console.error(e);
  child.kill();
  process.exit(1);
});
