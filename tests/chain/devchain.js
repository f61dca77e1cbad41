// A local chain for the on-chain reward tests.
//
//   node devchain.js serve INFO_FILE
//     compiles contracts/*.sol with solc (OpenZeppelin from node_modules),
//     starts ganache on 127.0.0.1 (kernel-chosen port), deploys BMToken
//     (supply 1e9 tokens, 18 decimals) and BMItem from account 0, and writes
//     {"rpc","from","chainId","token","nft","accounts":[...]} to INFO_FILE.
//     Runs until killed.
//   node devchain.js query RPC TOKEN NFT ADDR...
//     prints {"balances":{addr: tokenBaseUnits},"nfts":{addr: count},
//             "nonce": n (of account 0)} as JSON.
'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');

const here = __dirname;

function compile() {
  const solc = require('solc');
  const sources = {};
  for (const f of ['BMToken.sol', 'BMItem.sol']) {
    sources[f] = { content: fs.readFileSync(path.join(here, 'contracts', f), 'utf8') };
  }
  const input = {
    language: 'Solidity',
    sources,
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris',
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const findImports = (p) => {
    try { return { contents: fs.readFileSync(path.join(here, 'node_modules', p), 'utf8') }; }
    catch (e) { return { error: 'not found: ' + p }; }
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (out.errors || []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join('\n'));
  return {
    token: out.contracts['BMToken.sol'].BMToken.evm.bytecode.object,
    nft: out.contracts['BMItem.sol'].BMItem.evm.bytecode.object,
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function rpc(url, method, params) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const j = await res.json();
  if (j.error) throw new Error(`${method}: ${j.error.message}`);
  return j.result;
}

async function serve(infoFile) {
  const code = compile();
  const ganache = require('ganache');
  const server = ganache.server({
    logging: { quiet: true },
    chain: { chainId: 1337 },
    wallet: { deterministic: true, totalAccounts: 4, defaultBalance: 1000 },
  });
  const port = await freePort();
  await server.listen(port, '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const accounts = await rpc(url, 'eth_accounts', []);
  const from = accounts[0];
  const deploy = async (data) => {
    const hash = await rpc(url, 'eth_sendTransaction', [{ from, data: '0x' + data, gas: '0x' + (6000000).toString(16) }]);
    const r = await rpc(url, 'eth_getTransactionReceipt', [hash]);
    if (r.status !== '0x1') throw new Error('deploy failed');
    return r.contractAddress;
  };
  const supply = (10n ** 27n).toString(16).padStart(64, '0'); // 1e9 tokens of 18 decimals
  const token = await deploy(code.token + supply);
  const nft = await deploy(code.nft);
  const info = { rpc: url, from, chainId: 1337, token, nft, accounts };
  fs.writeFileSync(infoFile + '.tmp', JSON.stringify(info));
  fs.renameSync(infoFile + '.tmp', infoFile);
  process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
}

function word(addr) { return addr.toLowerCase().replace(/^0x/, '').padStart(64, '0'); }

async function query(url, token, nft, addrs) {
  const out = { balances: {}, nfts: {} };
  for (const a of addrs) {
    out.balances[a] = BigInt(await rpc(url, 'eth_call', [{ to: token, data: '0x70a08231' + word(a) }, 'latest'])).toString();
    out.nfts[a] = Number(BigInt(await rpc(url, 'eth_call', [{ to: nft, data: '0x70a08231' + word(a) }, 'latest'])));
  }
  const accounts = await rpc(url, 'eth_accounts', []);
  out.nonce = Number(BigInt(await rpc(url, 'eth_getTransactionCount', [accounts[0], 'latest'])));
  out.pending = Number(BigInt(await rpc(url, 'eth_getTransactionCount', [accounts[0], 'pending'])));
  console.log(JSON.stringify(out));
}

const [cmd, ...rest] = process.argv.slice(2);
(cmd === 'serve' ? serve(rest[0]) : cmd === 'query' ? query(rest[0], rest[1], rest[2], rest.slice(3))
  : Promise.reject(new Error('usage: devchain.js serve INFO | query RPC TOKEN NFT ADDR...')))
  .catch((e) => { console.error(e.message || e); process.exit(1); });
