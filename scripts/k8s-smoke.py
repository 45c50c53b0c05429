#!/usr/bin/env python3
"""Smoke and fault tests of a deployed FanOne through its gateway (stdlib only).

    k8s-smoke.py smoke URL
        register, login, avatar upload, publish, list, like, follow, chat over
        WebSocket, reverse image search; exits 1 at the first step that fails
    k8s-smoke.py chaos URL SECONDS AT -- COMMAND...
        writers post comments for SECONDS; at AT seconds COMMAND runs (it kills pods);
        then every acknowledged comment must be listed (no acknowledged write lost)
        and the site must have answered through the kill (per-second success counts)

Used by scripts/k8s-local.sh smoke|chaos; URL is the gateway Service (NodePort).
"""

import base64
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

OK = 10000
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "contract", "fixtures")


class Fail(Exception):
    pass


def call(base, method, path, fields=None, files=None, token=None, timeout=30):
    """One request; returns (envelope, headers). Fields go as a form, files as multipart."""
    headers = {}
    if token:
        headers["Access-Token"] = token
    body = None
    if files:
        boundary = "fanone%016x" % random.getrandbits(64)
        parts = []
        for k, v in (fields or {}).items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
        for k, (name, data, ctype) in files.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif fields is not None and method != "GET":
        body = urllib.parse.urlencode(fields).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif fields:
        path += "?" + urllib.parse.urlencode(fields)
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}"), r.headers


def ok(env, what):
    code = env.get("base", {}).get("code")
    if code != OK:
        raise Fail(f"{what}: {env}")
    return env.get("data")


def png(width, height, seed):
    """A PNG with a pattern of its own (the image search must find this one)."""
    rnd = random.Random(seed)
    colours = [bytes(rnd.randrange(256) for _ in range(3)) for _ in range(4)]
    rows = b""
    for y in range(height):
        row = b"\x00"
        for x in range(width):
            row += colours[(x * 2 // width) + 2 * (y * 2 // height)]  # four quadrants
        rows += row

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class WebSocket:
    """The client side of RFC 6455, enough for text frames."""

    def __init__(self, base, token):
        u = urllib.parse.urlparse(base)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=15)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nAccess-Token: {token}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Fail("websocket: connection closed during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise Fail(f"websocket: no upgrade: {head[:300]!r}")
        self.buf = head.split(b"\r\n\r\n", 1)[1]

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        head = b"\x81" + (bytes([0x80 | n]) if n < 126 else b"\xfe" + struct.pack(">H", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Fail("websocket: closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next text frame as JSON (answers pings, skips other control frames)."""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            op = b0 & 0x0F
            if op == 1:
                return json.loads(payload)
            if op == 9:  # ping -> pong
                mask = os.urandom(4)
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            if op == 8:
                raise Fail("websocket: closed by the server")

    def close(self):
        self.sock.close()


def step(name, fn):
    t0 = time.monotonic()
    try:
        out = fn()
    except (Fail, urllib.error.URLError, OSError, ValueError) as e:
        print(f"FAIL {name}: {e}")
        raise SystemExit(1)
    print(f"ok   {name} ({(time.monotonic() - t0) * 1000:.0f} ms){': ' + out if isinstance(out, str) else ''}")
    return out


def smoke(base):
    run = "%06x" % random.getrandbits(24)
    users = {}

    def register_login(name):
        def go():
            ok(call(base, "POST", "/user/register", {"username": name, "password": "smoke-pass-1"})[0], "register")
            env, headers = call(base, "POST", "/user/login", {"username": name, "password": "smoke-pass-1"})
            user = ok(env, "login")
            users[name] = (user["id"], headers["Access-Token"])
            return f"{name} id {user['id']}"

        return go

    alice, bob = f"alice_{run}", f"bob_{run}"
    step(f"register + login {alice}", register_login(alice))
    step(f"register + login {bob}", register_login(bob))
    a_id, a_tok = users[alice]
    b_id, b_tok = users[bob]

    picture = png(96, 96, run)

    def avatar():
        user = ok(call(base, "PUT", "/user/avatar/upload", files={"data": ("a.png", picture, "image/png")}, token=a_tok)[0], "avatar")
        users["avatar"] = user["avatar_url"]
        return user["avatar_url"]

    step("avatar upload", avatar)

    def publish():
        video = open(os.path.join(FIXTURES, "tiny.mp4"), "rb").read()
        fields = {"title": f"smoke {run}", "description": "published through the Kubernetes Service"}
        ok(call(base, "POST", "/video/publish", fields, files={"data": ("tiny.mp4", video, "video/mp4")}, token=a_tok)[0], "publish")
        return f"smoke {run}"

    step("publish video", publish)

    def video_list():
        data = ok(call(base, "GET", "/video/list", {"user_id": a_id})[0], "list")
        items = data.get("items", [])
        if not items or items[0]["title"] != f"smoke {run}":
            raise Fail(f"video list: {data}")
        users["video"] = items[0]["id"]
        return f"{len(items)} video(s), id {items[0]['id']}"

    step("list videos", video_list)

    def like():
        ok(call(base, "POST", "/like/action", {"video_id": users["video"], "action_type": 1}, token=b_tok)[0], "like")
        data = ok(call(base, "GET", "/like/list", {"user_id": b_id})[0], "like list")
        liked = [v for v in data.get("items", []) if v["id"] == users["video"]]
        if not liked or int(liked[0]["like_count"]) < 1:
            raise Fail(f"like list: {data}")
        return f"like_count {liked[0]['like_count']}"

    step("like", like)

    def friends():
        ok(call(base, "POST", "/relation/action", {"to_user_id": b_id, "action_type": 1}, token=a_tok)[0], "follow")
        ok(call(base, "POST", "/relation/action", {"to_user_id": a_id, "action_type": 1}, token=b_tok)[0], "follow back")
        return "mutual follow"

    step("follow each other", friends)

    def chat():
        text = f"hello from the cluster {run}"
        ws = WebSocket(base, a_tok)
        ws.send({"type": 1, "data": {"to_user_id": b_id, "content": text}})
        ack = ws.recv()
        ws.close()
        if ack.get("type") != 1 or ack["data"]["content"] != text:
            raise Fail(f"chat ack: {ack}")
        # bob may be on the other gateway replica: he reads it as unread
        ws = WebSocket(base, b_tok)
        ws.send({"type": 3, "data": {"to_user_id": a_id}})
        reply = ws.recv()
        ws.close()
        if reply.get("type") != 3 or text not in [m["content"] for m in reply["data"]["items"]]:
            raise Fail(f"chat unread: {reply}")
        return f"message {ack['data']['id']} acked and read"

    step("chat over WebSocket", chat)

    def image_search():
        deadline = time.monotonic() + 90
        last = None
        while time.monotonic() < deadline:
            env = call(base, "POST", "/user/image/search", {"top_k": 1}, files={"data": ("q.png", picture, "image/png")})[0]
            last = env
            if env["base"]["code"] == OK and env["data"]["url"] == users["avatar"]:
                return f"best match {env['data']['url']} score {env['data']['items'][0]['score']:.3f}"
            time.sleep(2)
        raise Fail(f"the avatar was not found within 90 s (indexing through the event queue): {last}")

    step("reverse image search", image_search)
    print("smoke test passed")


def chaos(base, seconds, at, command):
    run = "%06x" % random.getrandbits(24)
    name = f"chaos_{run}"
    ok(call(base, "POST", "/user/register", {"username": name, "password": "chaos-pass-1"})[0], "register")
    env, headers = call(base, "POST", "/user/login", {"username": name, "password": "chaos-pass-1"})
    uid, tok = ok(env, "login")["id"], headers["Access-Token"]
    video = open(os.path.join(FIXTURES, "tiny.mp4"), "rb").read()
    ok(call(base, "POST", "/video/publish", {"title": f"chaos {run}"}, files={"data": ("v.mp4", video, "video/mp4")}, token=tok)[0], "publish")
    vid = ok(call(base, "GET", "/video/list", {"user_id": uid})[0], "list")["items"][0]["id"]

    acked, failed = [], []
    per_second = {}
    lock = threading.Lock()
    t0 = time.monotonic()
    stop = t0 + seconds

    def writer(w):
        n = 0
        while time.monotonic() < stop:
            n += 1
            content = f"w{w}-{n}"
            sec = int(time.monotonic() - t0)
            try:
                env = call(base, "POST", "/comment/publish", {"video_id": vid, "content": content}, token=tok, timeout=10)[0]
                good = env["base"]["code"] == OK
                why = env["base"]
            except (urllib.error.URLError, OSError, ValueError) as e:
                good, why = False, str(e)
            with lock:
                s = per_second.setdefault(sec, [0, 0])
                if good:
                    acked.append(content)
                    s[0] += 1
                else:
                    failed.append((sec, content, why))
                    s[1] += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(at)
    print(f"[{time.monotonic() - t0:4.1f}s] running: {' '.join(command)}")
    subprocess.run(command, check=False)
    print(f"[{time.monotonic() - t0:4.1f}s] done")
    for t in threads:
        t.join()

    listed = set()
    page = 0
    while True:
        data = ok(call(base, "GET", "/comment/list", {"video_id": vid, "page_num": page, "page_size": 100})[0], "comment list")
        items = data.get("items", [])
        listed.update(c["content"] for c in items)
        if len(items) < 100:
            break
        page += 1
    lost = [c for c in acked if c not in listed]
    print("second: acknowledged/failed writes")
    print("  " + " ".join(f"{s}:{v[0]}/{v[1]}" for s, v in sorted(per_second.items())))
    print(f"acknowledged writes: {len(acked)}, failed (not acknowledged): {len(failed)}, listed afterwards: {len(listed)}")
    for sec, content, why in failed[:10]:
        print(f"  failed at {sec}s: {content}: {why}")
    silent = [s for s in range(int(seconds)) if per_second.get(s, [0, 0])[0] == 0]
    print(f"seconds without a single acknowledged write: {silent or 'none'}")
    if lost:
        print(f"FAIL: {len(lost)} acknowledged writes are missing: {lost[:10]}")
        raise SystemExit(1)
    if len(silent) > 3:
        print("FAIL: the site stopped answering writes for more than 3 s")
        raise SystemExit(1)
    print("no acknowledged write lost; the site kept answering")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "smoke":
        smoke(sys.argv[2].rstrip("/"))
    elif len(sys.argv) >= 6 and sys.argv[1] == "chaos" and sys.argv[5] == "--":
        chaos(sys.argv[2].rstrip("/"), float(sys.argv[3]), float(sys.argv[4]), sys.argv[6:])
    else:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
