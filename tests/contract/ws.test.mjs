#!/usr/bin/env node
// Contract test of the WebSocket chat (CONTRACT.md §5, GET /ws).
//
//   node ws.test.mjs [--base http://127.0.0.1:10001] [--junit ../../build/contract/ws.xml]
//
// (or env FANONE_BASE_URL / WS_JUNIT). Registers three fresh users over HTTP, makes a and b
// friends (mutual follow) and has a follow c one way, then checks the handshake refusal,
// live push + ack, the non-friend refusal (10010), error frames (10002), history paging
// and offline delivery through the unread query. Exit code 1 if any case failed.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import WebSocket from 'ws';

// ------------------------------------------------------------------ options
function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const BASE = (arg('base') || process.env.FANONE_BASE_URL || 'http://127.0.0.1:10001').replace(/\/+$/, '');
const WS_URL = BASE.replace(/^http/, 'ws') + '/ws';
const JUNIT = arg('junit') || process.env.WS_JUNIT || '';
const WAIT_MS = Number(process.env.WS_WAIT_MS || 5000);
const RUN = Date.now().toString(36) + Math.floor(Math.random() * 1296).toString(36).padStart(2, '0');

// ------------------------------------------------------------------ tiny runner
const results = [];
let aborted = null;

async function step(name, fn, { critical = false } = {}) {
  if (aborted) {
    results.push({ name, skipped: `not run: "${aborted}" failed` });
    console.log(`  -  ${name} (skipped)`);
    return;
  }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ms: Date.now() - t0 });
    console.log(`  \u2713  ${name}`);
  } catch (e) {
    results.push({ name, ms: Date.now() - t0, error: e });
    console.log(`  \u2717  ${name}\n       ${String(e && e.message).split('\n').join('\n       ')}`);
    if (critical) aborted = name;
  }
}

const xml = (s) => String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c])
  // characters XML 1.0 cannot carry
  .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');

function writeJunit(path, totalMs) {
  const failures = results.filter((r) => r.error).length;
  const skipped = results.filter((r) => r.skipped).length;
  const cases = results.map((r) => {
    const open = `    <testcase classname="fanone.ws" name="${xml(r.name)}" time="${((r.ms || 0) / 1000).toFixed(3)}"`;
    if (r.error) {
      return `${open}>\n      <failure message="${xml(r.error.message)}" type="${xml(r.error.name || 'Error')}">${xml(r.error.stack || r.error.message)}</failure>\n    </testcase>`;
    }
    if (r.skipped) return `${open}>\n      <skipped message="${xml(r.skipped)}"/>\n    </testcase>`;
    return `${open}/>`;
  });
  const attrs = `tests="${results.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${(totalMs / 1000).toFixed(3)}"`;
  const doc = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="fanone-ws" ${attrs}>`,
    `  <testsuite name="WebSocket chat (GET /ws)" ${attrs} timestamp="${new Date().toISOString()}">`,
    `    <properties><property name="baseUrl" value="${xml(BASE)}"/></properties>`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, doc);
}

// ------------------------------------------------------------------ HTTP helpers
async function call(method, path, fields = {}, headers = {}) {
  const body = method === 'GET' ? undefined : new URLSearchParams(fields);
  const qs = method === 'GET' && Object.keys(fields).length ? '?' + new URLSearchParams(fields) : '';
  const res = await fetch(BASE + path + qs, { method, body, headers });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`);
  }
  return { res, json };
}
async function expectOk(method, path, fields, headers) {
  const { res, json } = await call(method, path, fields, headers);
  assert.equal(json?.base?.code, 10000, `${method} ${path} → ${JSON.stringify(json)}`);
  return { res, json };
}

const users = {};
async function newUser(tag) {
  const username = `ws_${tag}_${RUN}`;
  const password = 'secret12';
  await expectOk('POST', '/user/register', { username, password });
  const { res, json } = await expectOk('POST', '/user/login', { username, password });
  const access = res.headers.get('access-token');
  const refresh = res.headers.get('refresh-token');
  assert.ok(access && refresh, 'login must return Access-Token and Refresh-Token headers');
  users[tag] = { id: json.data.id, username, access, refresh, headers: { 'Access-Token': access, 'Refresh-Token': refresh } };
}

// ------------------------------------------------------------------ WebSocket client
class Client {
  constructor(name, ws) {
    this.name = name;
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    ws.on('message', (raw, isBinary) => {
      let frame;
      try {
        frame = JSON.parse(raw.toString());
      } catch {
        frame = { unparsable: raw.toString(), isBinary };
      }
      const i = this.waiters.findIndex((w) => w.pred(frame));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        clearTimeout(w.timer);
        w.resolve(frame);
      } else {
        this.queue.push(frame);
      }
    });
  }

  /** Open a socket; rejects with the HTTP answer when the server does not upgrade. */
  static connect(name, { headers = {}, query = '' } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(WS_URL + query, { headers, handshakeTimeout: WAIT_MS });
      ws.once('open', () => resolve(new Client(name, ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          const err = new Error(`${name}: no upgrade, HTTP ${res.statusCode}: ${body.slice(0, 300)}`);
          err.status = res.statusCode;
          err.body = body;
          reject(err);
        });
      });
      ws.once('error', reject);
    });
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /** The first frame (queued or future) matching `pred`, within WAIT_MS. */
  next(pred, what) {
    const i = this.queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: no ${what} within ${WAIT_MS} ms; other frames: ${JSON.stringify(this.queue).slice(0, 500)}`));
      }, WAIT_MS);
      this.waiters.push(w);
    });
  }

  /** Send a frame and wait for the reply of `type` (or an error frame, type 0). */
  async ask(type, data) {
    this.send({ type, data });
    const frame = await this.next((f) => f.type === type || f.type === 0, `reply of type ${type}`);
    assert.equal(frame.type, type, `${this.name}: expected a type ${type} reply, got ${JSON.stringify(frame)}`);
    return frame.data;
  }

  close() {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

const isType = (t) => (f) => f.type === t;
const msgWith = (content) => (f) => f.type === 1 && f.data && f.data.content === content;

function assertMessage(m, { from, to, content }) {
  assert.equal(typeof m, 'object', 'message is an object');
  assert.match(String(m.id), /^[0-9]+$/, 'id is a string of digits');
  assert.equal(typeof m.id, 'string', 'id is a string');
  assert.equal(m.from_user_id, from, 'from_user_id');
  assert.equal(m.to_user_id, to, 'to_user_id');
  assert.equal(m.content, content, 'content');
  assert.ok(Number.isInteger(m.created_at), `created_at is an integer (unix seconds), got ${JSON.stringify(m.created_at)}`);
  const now = Date.now() / 1000;
  assert.ok(Math.abs(m.created_at - now) < 600, `created_at ${m.created_at} is unix seconds near now (${Math.round(now)})`);
}

async function expectRefused(query, headers) {
  let opened = null;
  try {
    opened = await Client.connect('anonymous', { query, headers });
  } catch (e) {
    assert.equal(e.status, 200, `refused handshake answers HTTP 200 (${e.message})`);
    const body = JSON.parse(e.body);
    assert.equal(body.base.code, 10004, `envelope code 10004, got ${e.body}`);
    return;
  }
  await opened.close();
  assert.fail('the server upgraded a connection without valid auth');
}

// ------------------------------------------------------------------ the scenario
const started = Date.now();
console.log(`WebSocket chat contract: ${WS_URL}`);
const open = [];
let A, B;
const text = (n) => `ws-${n}-${RUN}`;

await step('setup: register and log in users a, b, c', async () => {
  for (const t of ['a', 'b', 'c']) await newUser(t);
}, { critical: true });

await step('handshake without token: no upgrade, HTTP 200 + code 10004', () => expectRefused('', {}));
await step('handshake with an invalid ?token=: no upgrade, HTTP 200 + code 10004', () => expectRefused('?token=not.a.jwt', {}));
await step('handshake with invalid header tokens: no upgrade, HTTP 200 + code 10004', () =>
  expectRefused('', { 'Access-Token': 'not.a.jwt', 'Refresh-Token': 'not.a.jwt' }));

await step('setup: a and b follow each other (friends), a follows c (one way)', async () => {
  const { a, b, c } = users;
  await expectOk('POST', '/relation/action', { to_user_id: b.id, action_type: '1' }, a.headers);
  await expectOk('POST', '/relation/action', { to_user_id: a.id, action_type: '1' }, b.headers);
  await expectOk('POST', '/relation/action', { to_user_id: c.id, action_type: '1' }, a.headers);
}, { critical: true });

await step('a connects with Access-Token/Refresh-Token headers', async () => {
  A = await Client.connect('a', { headers: users.a.headers });
  open.push(A);
}, { critical: true });

await step('b connects with ?token=<access>', async () => {
  B = await Client.connect('b', { query: `?token=${encodeURIComponent(users.b.access)}` });
  open.push(B);
}, { critical: true });

await step('a → b: pushed to b as type 1, echoed to a as ack', async () => {
  const { a, b } = users;
  A.send({ type: 1, data: { to_user_id: b.id, content: text(1) } });
  const push = await B.next(msgWith(text(1)), 'push of message 1');
  assertMessage(push.data, { from: a.id, to: b.id, content: text(1) });
  const ack = await A.next(msgWith(text(1)), 'ack of message 1');
  assertMessage(ack.data, { from: a.id, to: b.id, content: text(1) });
  assert.equal(ack.data.id, push.data.id, 'ack and push carry the same message id');
});

await step('b → a: pushed to a, echoed to b', async () => {
  const { a, b } = users;
  B.send({ type: 1, data: { to_user_id: a.id, content: text(2) } });
  const push = await A.next(msgWith(text(2)), 'push of message 2');
  assertMessage(push.data, { from: b.id, to: a.id, content: text(2) });
  const ack = await B.next(msgWith(text(2)), 'ack of message 2');
  assert.equal(ack.data.id, push.data.id, 'same id');
});

await step('a → c (a follows c, c does not follow a): type 0 with code 10010', async () => {
  A.send({ type: 1, data: { to_user_id: users.c.id, content: text('nf') } });
  const f = await A.next((x) => x.type === 0 || msgWith(text('nf'))(x), 'error frame');
  assert.equal(f.type, 0, `expected an error frame, got ${JSON.stringify(f)}`);
  assert.equal(f.data.code, 10010);
  assert.equal(typeof f.data.msg, 'string', 'error msg is a string');
});

await step('malformed JSON: type 0 with code 10002', async () => {
  A.send('{this is not json');
  const f = await A.next(isType(0), 'error frame');
  assert.equal(f.data.code, 10002);
});

await step('unknown message type: type 0 with code 10002', async () => {
  A.send({ type: 99, data: {} });
  const f = await A.next(isType(0), 'error frame');
  assert.equal(f.data.code, 10002);
});

await step('empty content: type 0 with code 10002 or 10010', async () => {
  A.send({ type: 1, data: { to_user_id: users.b.id, content: '' } });
  const f = await A.next((x) => x.type === 0 || x.type === 1, 'error frame');
  assert.equal(f.type, 0, `expected an error frame, got ${JSON.stringify(f)}`);
  assert.ok([10002, 10010].includes(f.data.code), `code ${f.data.code}`);
});

await step('history a↔b (type 2): both messages, total 2', async () => {
  const { a, b } = users;
  const d = await A.ask(2, { to_user_id: b.id, page_num: 0, page_size: 10 });
  assert.ok(Array.isArray(d.items), 'items is an array');
  assert.equal(d.total, 2, 'total');
  assert.deepEqual(d.items.map((m) => m.content).sort(), [text(1), text(2)].sort());
  for (const m of d.items) {
    const mine = m.from_user_id === a.id;
    assertMessage(m, { from: mine ? a.id : b.id, to: mine ? b.id : a.id, content: m.content });
  }
});

await step('history paging: page_size 1 gives one message per page, total 2', async () => {
  const p0 = await A.ask(2, { to_user_id: users.b.id, page_num: 0, page_size: 1 });
  const p1 = await A.ask(2, { to_user_id: users.b.id, page_num: 1, page_size: 1 });
  assert.equal(p0.items.length, 1);
  assert.equal(p1.items.length, 1);
  assert.equal(p0.total, 2);
  assert.notEqual(p0.items[0].id, p1.items[0].id, 'pages differ');
});

await step('history seen from b is the same conversation', async () => {
  const d = await B.ask(2, { to_user_id: users.a.id, page_num: 0, page_size: 10 });
  assert.equal(d.total, 2);
});

await step('offline delivery: b disconnects, a sends, a still gets its ack', async () => {
  await B.close();
  await new Promise((r) => setTimeout(r, 300)); // let the server see the close
  A.send({ type: 1, data: { to_user_id: users.b.id, content: text(3) } });
  const ack = await A.next(msgWith(text(3)), 'ack of the offline message');
  assertMessage(ack.data, { from: users.a.id, to: users.b.id, content: text(3) });
});

await step('offline delivery: b reconnects, unread (type 3) returns the message', async () => {
  B = await Client.connect('b', { headers: users.b.headers });
  open.push(B);
  const d = await B.ask(3, { to_user_id: users.a.id });
  assert.ok(Array.isArray(d.items), 'items is an array');
  const got = d.items.find((m) => m.content === text(3));
  assert.ok(got, `the offline message is among the unread: ${JSON.stringify(d.items)}`);
  assertMessage(got, { from: users.a.id, to: users.b.id, content: text(3) });
  for (const m of d.items) assert.equal(m.to_user_id, users.b.id, 'only messages addressed to b');
});

await step('unread again: empty (the first query marked them read)', async () => {
  const d = await B.ask(3, { to_user_id: users.a.id });
  assert.deepEqual(d.items, []);
});

await step('unread from everyone (no to_user_id): items array, nothing left', async () => {
  const d = await B.ask(3, {});
  assert.deepEqual(d.items, []);
});

await step('the offline message is in the history too', async () => {
  const d = await B.ask(2, { to_user_id: users.a.id, page_num: 0, page_size: 10 });
  assert.equal(d.total, 3);
  assert.ok(d.items.some((m) => m.content === text(3)));
});

for (const c of open) await c.close().catch(() => {});

const total = Date.now() - started;
if (JUNIT) writeJunit(JUNIT, total);
const failed = results.filter((r) => r.error).length;
const skipped = results.filter((r) => r.skipped).length;
console.log(`\n${results.length} cases, ${failed} failed, ${skipped} skipped (${total} ms)${JUNIT ? `; JUnit: ${JUNIT}` : ''}`);
process.exit(failed || skipped ? 1 : 0);
