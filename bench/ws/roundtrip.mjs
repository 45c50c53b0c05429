#!/usr/bin/env node
// WebSocket chat round trip under load: PAIRS pairs of friends; each sender sends a
// message (type 1) and waits until its receiver's connection gets the live push, then
// sends the next (closed loop per pair). Senders connect to --send, receivers to
// --recv: two different gateways measure the relay between gateways (Redis pub/sub).
//
//   node roundtrip.mjs --send http://gw0 --recv http://gw1 [--pairs 16] [--secs 10]
//
// Prints one line: `pairs,secs,messages,msgs_per_s,p50_ms,p90_ms,p99_ms,lost` (lost =
// pushes that did not arrive within 5 s). Every message is stored before it is pushed,
// so each round trip is a write and a push. The `ws` package comes from tests/contract
// (npm ci there).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../tests/contract/package.json', import.meta.url));
const WebSocket = require('ws');

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const SEND = arg('send', 'http://127.0.0.1:10001').replace(/\/+$/, '');
const RECV = arg('recv', SEND).replace(/\/+$/, '');
const PAIRS = Number(arg('pairs', '16'));
const SECS = Number(arg('secs', '10'));
const TAG = Math.random().toString(16).slice(2, 8);

async function form(base, path, fields, tokens) {
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (tokens) {
    headers['Access-Token'] = tokens.access;
    headers['Refresh-Token'] = tokens.refresh;
  }
  const r = await fetch(base + path, { method: 'POST', headers, body: new URLSearchParams(fields) });
  const body = await r.json();
  if (body.base?.code !== 10000) throw new Error(`${path}: ${JSON.stringify(body)}`);
  return { body, headers: r.headers };
}

async function user(name) {
  await form(SEND, '/user/register', { username: name, password: 'secret12' });
  const { body, headers } = await form(SEND, '/user/login', { username: name, password: 'secret12' });
  return {
    id: body.data.id,
    tokens: { access: headers.get('access-token'), refresh: headers.get('refresh-token') },
  };
}

function connect(base, u) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, {
      headers: { 'Access-Token': u.tokens.access, 'Refresh-Token': u.tokens.refresh },
    });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

async function main() {
  const pairs = [];
  for (let i = 0; i < PAIRS; i++) {
    const a = await user(`wsa${TAG}${i}`);
    const b = await user(`wsb${TAG}${i}`);
    await form(SEND, '/relation/action', { to_user_id: b.id, action_type: '1' }, a.tokens);
    await form(SEND, '/relation/action', { to_user_id: a.id, action_type: '1' }, b.tokens);
    pairs.push({ a, b, sender: await connect(SEND, a), receiver: await connect(RECV, b) });
  }
  const latencies = [];
  let lost = 0;
  const until = Date.now() + SECS * 1000;
  const started = Date.now();
  await Promise.all(
    pairs.map(async (p) => {
      let seq = 0;
      let waiting = null;
      p.receiver.on('message', (raw) => {
        const f = JSON.parse(raw.toString());
        if (f.type === 1 && waiting && f.data?.content === waiting.content) {
          latencies.push(Date.now() - waiting.at);
          const w = waiting;
          waiting = null;
          w.done();
        }
      });
      p.sender.on('message', () => {}); // acks
      while (Date.now() < until) {
        const content = `m${seq++}`;
        await new Promise((done) => {
          const timer = setTimeout(() => {
            lost += 1;
            waiting = null;
            done();
          }, 5000);
          waiting = {
            content,
            at: Date.now(),
            done: () => {
              clearTimeout(timer);
              done();
            },
          };
          p.sender.send(JSON.stringify({ type: 1, data: { to_user_id: p.b.id, content } }));
        });
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  for (const p of pairs) {
    p.sender.close();
    p.receiver.close();
  }
  latencies.sort((x, y) => x - y);
  const rate = latencies.length / elapsed;
  console.log(
    [PAIRS, SECS, latencies.length, rate.toFixed(0), pct(latencies, 50), pct(latencies, 90), pct(latencies, 99), lost].join(','),
  );
  if (latencies.length === 0) process.exit(1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
