// FanOne web page: plain JavaScript, no build step, nothing loaded from elsewhere.
// It speaks the same HTTP API as every other client (the contract's envelope and
// token headers), the chat protocol of docs/chat.md, and the chunked upload.
'use strict';

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
};

// ---------- session: the token pair, renewed from any answer ----------
const session = {
  get access() { return localStorage.getItem('fanone.access') || ''; },
  get refresh() { return localStorage.getItem('fanone.refresh') || ''; },
  get user() { try { return JSON.parse(localStorage.getItem('fanone.user')); } catch { return null; } },
  save(access, refresh, user) {
    if (access) localStorage.setItem('fanone.access', access);
    if (refresh) localStorage.setItem('fanone.refresh', refresh);
    if (user) localStorage.setItem('fanone.user', JSON.stringify(user));
  },
  clear() { for (const k of ['access', 'refresh', 'user']) localStorage.removeItem('fanone.' + k); },
};

class ApiError extends Error {
  constructor(code, msg) { super(msg); this.code = code; }
}

function authHeaders() {
  const h = {};
  if (session.access) h['Access-Token'] = session.access;
  if (session.refresh) h['Refresh-Token'] = session.refresh;
  return h;
}

function keepTokens(headers) {
  session.save(headers.get('Access-Token'), headers.get('Refresh-Token'));
}

// Call a route: `form` as urlencoded (or multipart when `files` is given), `query`
// in the URL. Resolves to `data`; rejects with ApiError on a business error.
async function api(method, path, { form, query, files } = {}) {
  let url = path;
  if (query) url += '?' + new URLSearchParams(query);
  const init = { method, headers: authHeaders() };
  if (files) {
    const fd = new FormData();
    for (const [k, v] of Object.entries(form || {})) fd.append(k, v);
    for (const [k, f] of Object.entries(files)) fd.append(k, f, f.name || k);
    init.body = fd;
  } else if (form) {
    init.body = new URLSearchParams(form);
  }
  const resp = await fetch(url, init);
  keepTokens(resp.headers);
  const body = await resp.json().catch(() => ({ base: { code: 10001, msg: 'bad answer' } }));
  if (body.base.code !== 10000) throw new ApiError(body.base.code, body.base.msg);
  return { data: body.data, headers: resp.headers };
}

function notice(text, ok = false) {
  const n = $('#notice');
  n.textContent = text;
  n.className = ok ? 'ok' : '';
  n.hidden = !text;
  clearTimeout(notice.timer);
  if (text) notice.timer = setTimeout(() => { n.hidden = true; }, 6000);
}

const fail = (e) => notice(e instanceof ApiError ? `${e.message} (${e.code})` : String(e));

// ---------- users (names shown next to ids, fetched once) ----------
const names = new Map();
async function userName(id) {
  if (!names.has(id)) {
    names.set(id, api('GET', '/user/info', { query: { user_id: id } })
      .then((r) => r.data.username).catch(() => 'user ' + id));
  }
  return names.get(id);
}

// ---------- login, register, MFA ----------
function showSession() {
  const u = session.user;
  $('#login-form').hidden = !!u;
  $('#whoami').hidden = !u;
  $('#whoami-name').textContent = u ? u.username : '';
  if (u) chat.connect(); else chat.close();
}

$('#login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const form = { username: $('#login-username').value, password: $('#login-password').value };
  const code = $('#login-code');
  if (!code.hidden && code.value) form.code = code.value;
  try {
    const { data, headers } = await api('POST', '/user/login', { form });
    session.save(headers.get('Access-Token'), headers.get('Refresh-Token'), data);
    code.hidden = true; code.value = '';
    showSession();
    notice('Welcome, ' + data.username, true);
    route();
  } catch (e) {
    if (e.code === 10006) { code.hidden = false; code.focus(); notice('Enter the code of your authenticator app'); return; }
    fail(e);
  }
});

$('#register-button').addEventListener('click', async () => {
  const form = { username: $('#login-username').value, password: $('#login-password').value };
  try {
    await api('POST', '/user/register', { form });
    $('#login-form').requestSubmit();
  } catch (e) { fail(e); }
});

$('#logout-button').addEventListener('click', async () => {
  await api('POST', '/auth/logout').catch(() => {});
  session.clear();
  showSession();
  location.hash = '#feed';
});

$('#mfa-start').addEventListener('click', async () => {
  try {
    const { data } = await api('GET', '/auth/mfa/qrcode');
    $('#mfa-qrcode').src = data.qrcode;
    $('#mfa-secret').textContent = data.secret;
    $('#mfa-setup').hidden = false;
  } catch (e) { fail(e); }
});

$('#mfa-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await api('POST', '/auth/mfa/bind', { form: { secret: $('#mfa-secret').textContent, code: $('#mfa-code').value } });
    $('#mfa-setup').hidden = true;
    notice('Two-factor login is on: log in with a code from now on', true);
  } catch (e) { fail(e); }
});

// ---------- video lists and the player ----------
function card(v) {
  const c = el('div', { className: 'card', title: v.title },
    el('img', { src: v.cover_url, alt: '', loading: 'lazy' }),
    el('div', { className: 'body' },
      el('div', { className: 'title', textContent: v.title }),
      el('div', { className: 'meta', textContent: `▶ ${v.visit_count} · ♥ ${v.like_count} · 💬 ${v.comment_count}` })));
  c.dataset.videoId = v.id;
  c.addEventListener('click', () => { location.hash = '#video/' + v.id; });
  videos.set(v.id, v);
  return c;
}

const videos = new Map();

async function fillList(target, path, query) {
  try {
    const { data } = await api('GET', path, { query });
    const items = data.items || [];
    $(target).replaceChildren(...(items.length ? items.map(card) : [el('p', { className: 'hint', textContent: 'Nothing here yet.' })]));
  } catch (e) { fail(e); }
}

let current = null; // the video on the player

async function openVideo(id) {
  // fresh counts: the uploader's list if we know the uploader, else the feed and the
  // popular list (there is no single-video route in the contract)
  const known = videos.get(id);
  const sources = known
    ? [['/video/list', { user_id: known.user_id, page_size: 100 }]]
    : [['/video/popular', { page_size: 100 }], ['/video/feed', { page_size: 30 }]];
  for (const [path, query] of sources) {
    const { data } = await api('GET', path, { query }).catch(() => ({ data: { items: [] } }));
    for (const item of data.items || []) videos.set(item.id, item);
  }
  const v = videos.get(id);
  if (!v) { notice('Video not found'); return; }
  current = v;
  $('#player').src = v.video_url;
  $('#video-title').textContent = v.title;
  $('#video-description').textContent = v.description;
  $('#video-counts').textContent = `${v.visit_count} plays · ${v.like_count} likes · ${v.comment_count} comments`;
  $('#video-author').textContent = await userName(v.user_id);
  await refreshLike();
  await refreshFollow();
  await loadComments();
}

async function refreshLike() {
  const b = $('#like-button');
  b.classList.remove('on');
  const me = session.user;
  if (!me || !current) return;
  const { data } = await api('GET', '/like/list', { query: { user_id: me.id, page_size: 100 } }).catch(() => ({ data: { items: [] } }));
  b.classList.toggle('on', (data.items || []).some((v) => v.id === current.id));
}

async function refreshFollow() {
  const b = $('#follow-button');
  const me = session.user;
  b.hidden = !me || !current || me.id === current.user_id;
  if (b.hidden) return;
  const { data } = await api('GET', '/following/list', { query: { user_id: me.id, page_size: 100 } }).catch(() => ({ data: { items: [] } }));
  const following = (data.items || []).some((u) => u.id === current.user_id);
  b.classList.toggle('on', following);
  b.textContent = following ? 'Following' : 'Follow';
}

$('#like-button').addEventListener('click', async () => {
  const on = $('#like-button').classList.contains('on');
  try {
    await api('POST', '/like/action', { form: { video_id: current.id, action_type: on ? 2 : 1 } });
    current.like_count += on ? -1 : 1;
    $('#video-counts').textContent = `${current.visit_count} plays · ${current.like_count} likes · ${current.comment_count} comments`;
    $('#like-button').classList.toggle('on', !on);
  } catch (e) { fail(e); }
});

$('#follow-button').addEventListener('click', async () => {
  const on = $('#follow-button').classList.contains('on');
  try {
    await api('POST', '/relation/action', { form: { to_user_id: current.user_id, action_type: on ? 2 : 1 } });
    await refreshFollow();
  } catch (e) { fail(e); }
});

// ---------- comments with replies ----------
function commentItem(c) {
  const li = el('li', { className: 'comment' });
  li.dataset.commentId = c.id;
  const who = el('span', { className: 'who', textContent: 'user ' + c.user_id });
  userName(c.user_id).then((n) => { who.textContent = n; });
  const replies = el('ul');
  const showReplies = el('button', { type: 'button', textContent: `replies (${c.child_count})` });
  showReplies.addEventListener('click', () => loadReplies(c.id, replies));
  const like = el('button', { type: 'button', textContent: `♥ ${c.like_count}` });
  like.addEventListener('click', async () => {
    try {
      await api('POST', '/like/action', { form: { comment_id: c.id, action_type: 1 } });
      like.textContent = `♥ ${++c.like_count}`;
    } catch (e) { fail(e); }
  });
  const reply = el('button', { type: 'button', textContent: 'reply', className: 'reply' });
  reply.addEventListener('click', () => {
    const input = el('input', { placeholder: 'Reply', required: true, className: 'reply-input' });
    const form = el('form', {}, input, el('button', { type: 'submit', textContent: 'Reply' }));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/comment/publish', { form: { comment_id: c.id, content: input.value } });
        form.remove();
        showReplies.textContent = `replies (${++c.child_count})`;
        await loadReplies(c.id, replies);
      } catch (e) { fail(e); }
    });
    li.insertBefore(form, replies);
    input.focus();
  });
  li.append(who, el('span', { className: 'text', textContent: c.content }), like, reply, showReplies, replies);
  return li;
}

async function loadComments() {
  const { data } = await api('GET', '/comment/list', { query: { video_id: current.id, page_size: 50 } })
    .catch((e) => { fail(e); return { data: { items: [] } }; });
  $('#comment-list').replaceChildren(...(data.items || []).map(commentItem));
}

async function loadReplies(id, target) {
  const { data } = await api('GET', '/comment/list', { query: { comment_id: id, page_size: 50 } })
    .catch((e) => { fail(e); return { data: { items: [] } }; });
  target.replaceChildren(...(data.items || []).map(commentItem));
}

$('#comment-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    await api('POST', '/comment/publish', { form: { video_id: current.id, content: $('#comment-input').value } });
    $('#comment-input').value = '';
    await loadComments();
  } catch (e) { fail(e); }
});

// ---------- chunked upload with progress and resume ----------
// MD5 (RFC 1321), incremental, so a large file is hashed slice by slice.
const MD5_S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const MD5_K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) >>> 0);
class Md5 {
  constructor() { this.h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]; this.buf = new Uint8Array(64); this.n = 0; this.len = 0; }
  update(bytes) {
    let i = 0;
    this.len += bytes.length;
    if (this.n) {
      i = Math.min(64 - this.n, bytes.length);
      this.buf.set(bytes.subarray(0, i), this.n);
      this.n += i;
      if (this.n < 64) return this;
      this.block(this.buf, 0);
      this.n = 0;
    }
    for (; i + 64 <= bytes.length; i += 64) this.block(bytes, i);
    this.buf.set(bytes.subarray(i), 0);
    this.n = bytes.length - i;
    return this;
  }
  block(b, o) {
    const m = new Array(16);
    for (let j = 0; j < 16; j++) m[j] = b[o + 4 * j] | (b[o + 4 * j + 1] << 8) | (b[o + 4 * j + 2] << 16) | (b[o + 4 * j + 3] << 24);
    let [a, bb, c, d] = this.h;
    for (let i = 0; i < 64; i++) {
      let f, g;
      if (i < 16) { f = (bb & c) | (~bb & d); g = i; } else if (i < 32) { f = (d & bb) | (~d & c); g = (5 * i + 1) % 16; } else if (i < 48) { f = bb ^ c ^ d; g = (3 * i + 5) % 16; } else { f = c ^ (bb | ~d); g = (7 * i) % 16; }
      const s = MD5_S[(i >> 4) * 4 + (i % 4)];
      f = (f + a + MD5_K[i] + m[g]) | 0;
      a = d; d = c; c = bb;
      bb = (bb + ((f << s) | (f >>> (32 - s)))) | 0;
    }
    this.h = [(this.h[0] + a) | 0, (this.h[1] + bb) | 0, (this.h[2] + c) | 0, (this.h[3] + d) | 0];
  }
  hex() {
    const bits = this.len * 8;
    const tail = new Uint8Array((this.n < 56 ? 56 : 120) - this.n + 8);
    tail[0] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, bits % 4294967296, true);
    view.setUint32(tail.length - 4, Math.floor(bits / 4294967296), true);
    this.update(tail);
    return this.h.map((w) => Array.from({ length: 4 }, (_, k) => ((w >>> (8 * k)) & 255).toString(16).padStart(2, '0')).join('')).join('');
  }
}
const md5Hex = (bytes) => new Md5().update(bytes).hex();

// bytes per chunk (the gateway takes up to upload.max_chunk_bytes); a test may set less
const CHUNK = Number(localStorage.getItem('fanone.chunk_bytes')) || 4 << 20;
let uploading = null;

function progress(pct, text) {
  $('#upload-progress').value = pct;
  if (text !== undefined) $('#upload-status').textContent = text;
}

// POST one chunk with XMLHttpRequest, for its upload progress events.
function sendChunk(uploadId, number, blob, md5, onBytes) {
  return new Promise((resolve, reject) => {
    const fd = new FormData();
    fd.append('upload_id', uploadId);
    fd.append('chunk_number', number);
    fd.append('chunk_md5', md5);
    fd.append('data', blob, 'chunk-' + number);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/video/publish/uploading');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (ev) => onBytes(ev.loaded);
    xhr.onload = () => {
      const token = xhr.getResponseHeader('Access-Token');
      if (token) session.save(token);
      try {
        const body = JSON.parse(xhr.responseText);
        if (body.base.code === 10000) resolve(body.data); else reject(new ApiError(body.base.code, body.base.msg));
      } catch { reject(new ApiError(10001, 'bad answer')); }
    };
    xhr.onerror = () => reject(new Error('connection lost'));
    xhr.send(fd);
  });
}

async function upload(file, title, description) {
  const count = Math.max(1, Math.ceil(file.size / CHUNK));
  progress(0, 'Checking the file…');
  const whole = new Md5();
  const sums = [];
  for (let n = 0; n < count; n++) {
    const bytes = new Uint8Array(await file.slice(n * CHUNK, (n + 1) * CHUNK).arrayBuffer());
    sums.push(md5Hex(bytes));
    whole.update(bytes);
    progress(0, `Checking the file… ${Math.round(((n + 1) / count) * 100)}%`);
  }
  const fileMd5 = whole.hex();
  const resumeKey = `fanone.upload.${fileMd5}.${file.size}`;
  let uploadId = localStorage.getItem(resumeKey);
  let received = new Set();
  if (uploadId) {
    try {
      const { data } = await api('GET', '/video/publish/status', { query: { upload_id: uploadId } });
      if (data.state === 'open') received = new Set(data.received); else uploadId = null;
    } catch { uploadId = null; }
  }
  if (!uploadId) {
    const { data } = await api('POST', '/video/publish/start', {
      form: { title, description, total_size: file.size, chunk_count: count, file_md5: fileMd5 },
    });
    uploadId = data.upload_id;
    localStorage.setItem(resumeKey, uploadId);
  }
  uploading = { uploadId, resumeKey };
  $('#upload-cancel').hidden = false;
  let done = [...received].reduce((sum, n) => sum + Math.min(CHUNK, file.size - (n - 1) * CHUNK), 0);
  if (received.size) progress(Math.round((done / file.size) * 100), `Resuming: ${received.size} of ${count} chunks already there`);
  for (let n = 1; n <= count; n++) {
    if (received.has(n)) continue;
    if (!uploading) return;
    const blob = file.slice((n - 1) * CHUNK, n * CHUNK);
    await sendChunk(uploadId, n, blob, sums[n - 1], (sent) => {
      progress(Math.round(((done + sent) / file.size) * 100), `Uploading chunk ${n} of ${count}`);
    });
    done += blob.size;
    progress(Math.round((done / file.size) * 100));
  }
  progress(100, 'Publishing…');
  const { data } = await api('POST', '/video/publish/complete', { form: { upload_id: uploadId } });
  localStorage.removeItem(resumeKey);
  uploading = null;
  $('#upload-cancel').hidden = true;
  progress(100, 'Published: ' + data.title);
  notice('Video published', true);
  return data;
}

$('#upload-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = $('#upload-file').files[0];
  if (!file) return;
  $('#upload-button').disabled = true;
  try {
    const v = await upload(file, $('#upload-title').value, $('#upload-description').value);
    if (v) { videos.set(v.id, v); $('#upload-status').dataset.videoId = v.id; }
  } catch (e) {
    fail(e);
    $('#upload-status').textContent = 'Stopped: ' + e.message + ' — upload the same file again to resume.';
  } finally {
    $('#upload-button').disabled = false;
  }
});

$('#upload-cancel').addEventListener('click', async () => {
  if (!uploading) return;
  const { uploadId, resumeKey } = uploading;
  uploading = null;
  localStorage.removeItem(resumeKey);
  await api('POST', '/video/publish/cancel', { form: { upload_id: uploadId } }).catch(fail);
  $('#upload-cancel').hidden = true;
  progress(0, 'Cancelled');
});

// ---------- friends and chat over the WebSocket ----------
const chat = {
  ws: null,
  peer: null,
  connect() {
    if (this.ws || !session.access) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws?token=${encodeURIComponent(session.access)}&refresh_token=${encodeURIComponent(session.refresh)}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => { document.body.dataset.chat = 'open'; ws.send(JSON.stringify({ type: 3, data: {} })); };
    ws.onclose = () => {
      document.body.dataset.chat = 'closed';
      if (this.ws === ws) { this.ws = null; if (session.user) setTimeout(() => this.connect(), 3000); }
    };
    ws.onmessage = (ev) => this.receive(JSON.parse(ev.data));
  },
  close() { const ws = this.ws; this.ws = null; if (ws) ws.close(); },
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) { notice('Chat is not connected'); return; }
    this.ws.send(JSON.stringify(frame));
  },
  receive(frame) {
    if (frame.type === 0) { notice(`${frame.data.msg} (${frame.data.code})`); return; }
    if (frame.type === 1) this.show(frame.data);
    if (frame.type === 2) for (const m of [...frame.data.items].reverse()) this.show(m);
    if (frame.type === 3) for (const m of frame.data.items) { this.show(m); if (m.to_user_id === session.user?.id && this.peer !== m.from_user_id) notice('New message from ' + m.from_user_id, true); }
  },
  show(m) {
    const me = session.user?.id;
    const other = m.from_user_id === me ? m.to_user_id : m.from_user_id;
    if (other !== this.peer) {
      if (m.from_user_id !== me) userName(m.from_user_id).then((n) => notice('New message from ' + n, true));
      return;
    }
    const log = $('#chat-log');
    if (log.querySelector(`[data-id="${m.id}"]`)) return;
    const li = el('li', { className: m.from_user_id === me ? 'mine' : '', textContent: m.content });
    li.dataset.id = m.id;
    li.title = new Date(m.created_at * 1000).toLocaleString();
    log.append(li);
    log.scrollTop = log.scrollHeight;
  },
  open(id, name) {
    this.peer = id;
    $('#chat').hidden = false;
    $('#chat-peer').textContent = name;
    $('#chat-log').replaceChildren();
    this.send({ type: 2, data: { to_user_id: id, page_size: 50 } });
    $('#chat-input').focus();
  },
};

$('#chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('#chat-input');
  if (!input.value.trim() || !chat.peer) return;
  chat.send({ type: 1, data: { to_user_id: chat.peer, content: input.value } });
  input.value = '';
});

function personItem(u, onClick) {
  const li = el('li', { textContent: u.username });
  li.dataset.userId = u.id;
  if (onClick) li.addEventListener('click', () => onClick(u));
  return li;
}

async function loadFriends() {
  const me = session.user;
  if (!me) { notice('Log in to see your friends'); return; }
  try {
    const [friends, following, followers] = await Promise.all([
      api('GET', '/friends/list', { query: { page_size: 100 } }),
      api('GET', '/following/list', { query: { user_id: me.id, page_size: 100 } }),
      api('GET', '/follower/list', { query: { user_id: me.id, page_size: 100 } }),
    ]);
    $('#friend-list').replaceChildren(...friends.data.items.map((u) => personItem(u, (f) => chat.open(f.id, f.username))));
    $('#following-list').replaceChildren(...following.data.items.map((u) => personItem(u)));
    const follow = async (u) => {
      try { await api('POST', '/relation/action', { form: { to_user_id: u.id, action_type: 1 } }); notice('Following ' + u.username, true); loadFriends(); } catch (e) { fail(e); }
    };
    $('#follower-list').replaceChildren(...followers.data.items.map((u) => personItem(u, follow)));
  } catch (e) { fail(e); }
}

// ---------- image search by dropping a picture ----------
async function searchImage(file) {
  $('#search-results').replaceChildren(el('p', { className: 'hint', textContent: 'Searching…' }));
  try {
    const { data } = await api('POST', '/user/image/search', { form: { top_k: 5 }, files: { data: file } });
    $('#search-results').replaceChildren(...data.items.map((hit) => {
      const c = el('div', { className: 'card result' },
        el('img', { src: hit.url, alt: '' }),
        el('div', { className: 'body meta', textContent: `similarity ${hit.score.toFixed(3)}` }));
      c.dataset.url = hit.url;
      c.addEventListener('click', () => window.open(hit.url, '_blank'));
      return c;
    }));
  } catch (e) { $('#search-results').replaceChildren(); fail(e); }
}

const drop = $('#drop-zone');
drop.addEventListener('click', () => $('#search-file').click());
drop.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') $('#search-file').click(); });
$('#search-file').addEventListener('change', () => { const f = $('#search-file').files[0]; if (f) searchImage(f); });
drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const f = ev.dataTransfer.files[0];
  if (f) searchImage(f);
});

// ---------- "Me" ----------
async function loadMe() {
  const me = session.user;
  if (!me) { $('#me-info').textContent = 'Not logged in.'; $('#my-videos').replaceChildren(); return; }
  $('#me-info').textContent = `${me.username} (id ${me.id}), member since ${me.created_at}`;
  await fillList('#my-videos', '/video/list', { user_id: me.id, page_size: 50 });
}

// ---------- tabs ----------
function route() {
  const [tab, arg] = (location.hash.slice(1) || 'feed').split('/');
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== 'tab-' + tab;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.tab === tab);
  if (tab !== 'video') $('#player').pause();
  ({
    feed: () => fillList('#feed-list', '/video/feed', { page_size: 30 }),
    popular: () => fillList('#popular-list', '/video/popular', { page_size: 30 }),
    video: () => arg && openVideo(arg),
    friends: loadFriends,
    me: loadMe,
  }[tab] || (() => {}))();
}

window.addEventListener('hashchange', route);
showSession();
route();
