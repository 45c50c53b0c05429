#!/usr/bin/env node
// Browser test of the web page (GET /): headless Chromium from the system (apt
// `chromium`, never a downloaded browser) driven by playwright-core.
//
//   node web.test.mjs --base http://127.0.0.1:10001 [--out ../../build/web]
//
// Two browser contexts (two users): A registers and publishes a video with the
// chunked upload (progress observed chunk by chunk); B logs in, plays it, likes and
// comments, follows A; A follows back from the followers list; they chat both ways
// over the WebSocket; A replies to B's comment; then a picture dropped on the search
// zone finds the video's cover. Screenshots and JUnit land in --out. Exit 1 on failure.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const BASE = (arg('base') || process.env.FANONE_BASE_URL || 'http://127.0.0.1:10001').replace(/\/+$/, '');
const OUT = arg('out') || process.env.WEB_OUT || '../../build/web';
const BROWSER = process.env.CHROMIUM || '/usr/bin/chromium';
const RUN = Date.now().toString(36) + Math.floor(Math.random() * 1296).toString(36);
const WAIT = 15000;
mkdirSync(OUT, { recursive: true });

// ------------------------------------------------------------------ tiny runner
const results = [];
let aborted = null;
async function step(name, fn) {
  if (aborted) { results.push({ name, skipped: `not run: "${aborted}" failed` }); console.log(`  -  ${name} (skipped)`); return; }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ms: Date.now() - t0 });
    console.log(`  \u2713  ${name}`);
  } catch (e) {
    results.push({ name, ms: Date.now() - t0, error: e });
    console.log(`  \u2717  ${name}\n       ${String(e && e.message).split('\n').join('\n       ')}`);
    aborted = name; // later steps build on earlier ones
  }
}
const xml = (s) => String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c])
  .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g, '');
function writeJunit(path, ms) {
  const failures = results.filter((r) => r.error).length;
  const skipped = results.filter((r) => r.skipped).length;
  const cases = results.map((r) => {
    const open = `    <testcase classname="fanone.web" name="${xml(r.name)}" time="${((r.ms || 0) / 1000).toFixed(3)}"`;
    if (r.error) return `${open}>\n      <failure message="${xml(r.error.message)}">${xml(r.error.stack || r.error.message)}</failure>\n    </testcase>`;
    if (r.skipped) return `${open}>\n      <skipped message="${xml(r.skipped)}"/>\n    </testcase>`;
    return `${open}/>`;
  });
  writeFileSync(path, `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="fanone web page" tests="${results.length}" failures="${failures}" skipped="${skipped}" time="${(ms / 1000).toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>\n</testsuites>\n`);
}

// ------------------------------------------------------------------ helpers
const shot = (page, name) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

async function register(page, username) {
  await page.goto(BASE + '/');
  await page.fill('#login-username', username);
  await page.fill('#login-password', 'secret12');
  await page.click('#register-button');
  await page.waitForSelector('#whoami-name', { state: 'visible', timeout: WAIT });
  assert.equal(await page.textContent('#whoami-name'), username);
  await page.waitForFunction(() => document.body.dataset.chat === 'open', null, { timeout: WAIT });
}

// The file to publish: the H.264 fixture padded to ~300 KB, so that with 64 KiB
// chunks it is sent in five chunks.
function videoFile() {
  const tiny = readFileSync(new URL('../contract/fixtures/tiny.mp4', import.meta.url));
  const file = Buffer.alloc(300_000);
  tiny.copy(file);
  return file;
}

// ------------------------------------------------------------------ the scenario
const t0 = Date.now();
const browser = await chromium.launch({
  executablePath: BROWSER,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const ctxA = await browser.newContext({ viewport: { width: 1200, height: 900 } });
const ctxB = await browser.newContext({ viewport: { width: 1200, height: 900 } });
const a = await ctxA.newPage();
const b = await ctxB.newPage();
for (const [who, page] of [['A', a], ['B', b]]) {
  page.on('pageerror', (e) => console.log(`     [${who} page error] ${e.message}`));
}
const nameA = `web_a_${RUN}`;
const nameB = `web_b_${RUN}`;
const title = `Browser clip ${RUN}`;
let video = null;

try {
  await step('the page is served at / with its script and style, no third party', async () => {
    const resp = await a.goto(BASE + '/');
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()['content-type'], /text\/html/);
    assert.match(resp.headers()['content-security-policy'], /script-src 'self'/);
    assert.equal(await a.title(), 'FanOne');
    await a.waitForSelector('#feed-list');
  });

  await step('two users register and log in (two browser contexts)', async () => {
    await register(a, nameA);
    await register(b, nameB);
  });

  await step('A publishes a video with the chunked upload, progress shown chunk by chunk', async () => {
    await a.evaluate(() => localStorage.setItem('fanone.chunk_bytes', String(64 * 1024)));
    await a.reload();
    await a.click('nav a[data-tab=upload]');
    // record every status text and progress value the page shows
    await a.evaluate(() => {
      window.__progress = [];
      const note = () => window.__progress.push([document.querySelector('#upload-progress').value, document.querySelector('#upload-status').textContent]);
      new MutationObserver(note).observe(document.querySelector('#upload-status'), { childList: true, characterData: true, subtree: true });
    });
    await a.fill('#upload-title', title);
    await a.fill('#upload-description', 'uploaded by the browser test');
    await a.setInputFiles('#upload-file', { name: 'clip.mp4', mimeType: 'video/mp4', buffer: videoFile() });
    await a.click('#upload-button');
    await a.waitForFunction(() => document.querySelector('#upload-status').textContent.startsWith('Published'), null, { timeout: 30000 });
    const seen = await a.evaluate(() => window.__progress);
    const chunks = seen.filter(([, text]) => /^Uploading chunk \d+ of 5$/.test(text)).map(([, text]) => text);
    assert.deepEqual([...new Set(chunks)], [1, 2, 3, 4, 5].map((n) => `Uploading chunk ${n} of 5`), JSON.stringify(seen));
    const values = seen.map(([v]) => v);
    assert.ok(values.some((v) => v > 0 && v < 100), `intermediate progress: ${values}`);
    for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1], `progress never goes back: ${values}`);
    assert.equal(await a.evaluate(() => document.querySelector('#upload-progress').value), 100);
    const id = await a.evaluate(() => document.querySelector('#upload-status').dataset.videoId);
    assert.match(id, /^\d+$/);
    await shot(a, '1-upload-progress');
    const list = await (await fetch(`${BASE}/video/feed?page_size=30`)).json();
    video = list.data.items.find((v) => v.id === id);
    assert.ok(video, 'the video is in the feed');
    assert.equal(video.title, title);
  });

  await step('B plays the video from the feed, likes it, comments, follows A', async () => {
    await b.click('nav a[data-tab=feed]');
    await b.click(`.card[data-video-id="${video.id}"]`);
    await b.waitForFunction((t) => document.querySelector('#video-title').textContent === t, title, { timeout: WAIT });
    assert.equal(await b.getAttribute('#player', 'src'), video.video_url);
    // the author's name comes from a second request, after the title
    await b.waitForFunction((n) => document.querySelector('#video-author').textContent === n, nameA, { timeout: WAIT });
    await b.click('#like-button');
    await b.waitForSelector('#like-button.on', { timeout: WAIT });
    await b.fill('#comment-input', 'nice clip from B');
    await b.click('#comment-form button[type=submit]');
    await b.waitForSelector('#comment-list .comment .text >> text=nice clip from B', { timeout: WAIT });
    await b.click('#follow-button');
    await b.waitForFunction(() => document.querySelector('#follow-button').textContent === 'Following', null, { timeout: WAIT });
    await shot(b, '2-player-like-comment');
  });

  await step('A replies to the comment (replies nest under it)', async () => {
    await a.goto(`${BASE}/#video/${video.id}`);
    await a.waitForSelector('#comment-list .comment', { timeout: WAIT });
    await a.click('#comment-list .comment button.reply');
    await a.fill('#comment-list .reply-input', 'thanks, B');
    await a.click('#comment-list form button[type=submit]');
    await a.waitForSelector('#comment-list .comment ul .comment .text >> text=thanks, B', { timeout: WAIT });
    assert.match(await a.textContent('#video-counts'), /1 likes/);
    await shot(a, '3-comment-reply');
  });

  await step('A follows B back from the followers list: they are friends', async () => {
    await a.click('nav a[data-tab=friends]');
    await a.click(`#follower-list li >> text=${nameB}`);
    await a.waitForSelector(`#friend-list li >> text=${nameB}`, { timeout: WAIT });
    await b.click('nav a[data-tab=friends]');
    await b.waitForSelector(`#friend-list li >> text=${nameA}`, { timeout: WAIT });
  });

  await step('A and B chat live over the WebSocket, both ways', async () => {
    await a.click(`#friend-list li >> text=${nameB}`);
    await b.click(`#friend-list li >> text=${nameA}`);
    await a.fill('#chat-input', `hello B ${RUN}`);
    await a.press('#chat-input', 'Enter');
    await b.waitForSelector(`#chat-log li >> text=hello B ${RUN}`, { timeout: WAIT });
    await a.waitForSelector(`#chat-log li.mine >> text=hello B ${RUN}`, { timeout: WAIT });
    await b.fill('#chat-input', `hi A ${RUN}`);
    await b.press('#chat-input', 'Enter');
    await a.waitForSelector(`#chat-log li:not(.mine) >> text=hi A ${RUN}`, { timeout: WAIT });
    await shot(a, '4-chat-a');
    await shot(b, '4-chat-b');
  });

  await step('a picture dropped on the search zone finds the video cover', async () => {
    const cover = Buffer.from(await (await fetch(video.cover_url)).arrayBuffer());
    const type = video.cover_url.endsWith('.png') ? 'image/png' : 'image/jpeg';
    await b.click('nav a[data-tab=search]');
    // covers are indexed by the image service shortly after publishing
    const deadline = Date.now() + 30000;
    for (;;) {
      await b.evaluate(({ bytes, type }) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], 'cover', { type }));
        document.querySelector('#drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      }, { bytes: [...cover], type });
      await b.waitForFunction(() => !document.querySelector('#search-results').textContent.includes('Searching'), null, { timeout: WAIT });
      const urls = await b.$$eval('#search-results .result', (cards) => cards.map((c) => c.dataset.url));
      if (urls[0] === video.cover_url) break;
      if (Date.now() > deadline) assert.fail(`the cover was not found: ${urls}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.match(await b.textContent('#search-results .result .meta'), /similarity (0\.99|1\.00)/);
    await shot(b, '5-image-search');
  });

  await step('MFA: A binds an authenticator and must give a code at login', async () => {
    await a.click('nav a[data-tab=me]');
    await a.click('#mfa-start');
    await a.waitForSelector('#mfa-qrcode[src^="data:image/png;base64,"]', { timeout: WAIT });
    const secret = await a.textContent('#mfa-secret');
    // a wrong code is refused with the contract's message
    await a.fill('#mfa-code', '000000');
    await a.click('#mfa-form button[type=submit]');
    // the notice may still show the previous step's message: wait for this answer's
    await a
      .waitForFunction(
        () => /\((10006|10002)\)/.test(document.querySelector('#notice')?.textContent ?? ''),
        null,
        { timeout: WAIT },
      )
      .catch(() => {});
    assert.match(await a.textContent('#notice'), /\(10006\)|\(10002\)/);
    await a.fill('#mfa-code', totp(secret));
    await a.click('#mfa-form button[type=submit]');
    await a.waitForSelector('#mfa-setup[hidden]', { state: 'attached', timeout: WAIT });
    await a.click('#logout-button');
    await a.fill('#login-username', nameA);
    await a.fill('#login-password', 'secret12');
    await a.click('#login-button');
    await a.waitForSelector('#login-code:not([hidden])', { timeout: WAIT });
    // the code of the next time step: the bind used the current one
    await a.fill('#login-code', totp(secret, 30));
    await a.click('#login-button');
    await a.waitForSelector('#whoami-name', { state: 'visible', timeout: WAIT });
    await shot(a, '6-mfa-login');
  });
} finally {
  await browser.close();
  writeJunit(join(OUT, 'web.xml'), Date.now() - t0);
}

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret, `skew` seconds ahead.
function totp(secret, skew = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor((Date.now() / 1000 + skew) / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

const failed = results.filter((r) => r.error).length;
const skipped = results.filter((r) => r.skipped).length;
console.log(`web: ${results.length - failed - skipped} passed, ${failed} failed, ${skipped} skipped; screenshots and web.xml in ${OUT}`);
process.exit(failed ? 1 : 0);
