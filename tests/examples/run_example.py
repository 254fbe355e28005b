#!/usr/bin/env python3
"""Runs one program of examples/ against `llmrt mock` (started here on a free
loopback port) and checks what it prints, as a user would see it.

usage: run_example.py LLMRT_TOOL EXAMPLE_BINARY NAME SOURCE_DIR
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

tool, binary, name, src = sys.argv[1:5]
TIMEOUT = 60


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


class Mock:
    def __init__(self, *args):
        self.out = tempfile.TemporaryFile()
        self.p = subprocess.Popen([tool, "mock", "--port", "0", *args], stdout=self.out,
                                  stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        self.url = None
        while time.time() < deadline and not self.url:
            self.out.seek(0)
            m = re.search(rb"listening on (http://\S+)", self.out.read())
            if m:
                self.url = m.group(1).decode()
            elif self.p.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if not self.url:
            self.out.seek(0)
            fail("llmrt mock did not start: " + self.out.read().decode(errors="replace"))

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(10)


env = dict(os.environ, OPENAI_API_KEY="sk-example-test")


def run(args, mock):
    r = subprocess.run([binary, *args], env=env, capture_output=True, timeout=TIMEOUT, text=True)
    print(r.stdout, end="")
    print(r.stderr, end="", file=sys.stderr)
    return r


def expect(cond, what, out=""):
    if not cond:
        fail(what + ("\n--- output:\n" + out if out else ""))
    print("ok: " + what)


def foreign_loop_epoll():
    # Paced tokens, so the program's own timer ticks while the calls stream.
    mock = Mock("--token-ms", "30")
    r = run([mock.url], mock)
    mock.stop()
    expect(r.returncode == 0, "exits 0", r.stderr)
    for i in range(3):
        expect(f"[call {i}] done: length, 12 tokens" in r.stdout, f"call {i} streamed 12 tokens")
        expect(len(re.findall(rf"^\[call {i}\] (?!done)", r.stdout, re.M)) == 12,
               f"call {i}: 12 token lines")
    m = re.search(r"all 3 calls done \(0 failed\); the program's own timer ticked (\d+) times",
                  r.stdout)
    expect(m is not None, "summary line", r.stdout)
    expect(int(m.group(1)) >= 2, "the epoll loop served its own timerfd meanwhile")


def thread_mode():
    mock = Mock("--token-ms", "5")
    r = run([mock.url], mock)
    mock.stop()
    expect(r.returncode == 0, "exits 0", r.stderr)
    for i in range(4):
        expect(re.search(rf"^worker {i}: 8 tokens: \S", r.stdout, re.M) is not None,
               f"worker {i} got its answer")
    for i in range(8):
        expect(f"batch {i}: ok, 1 attempt(s)" in r.stdout, f"batch call {i} ok")
    expect(len(re.findall(r"^  streamed: ", r.stdout, re.M)) == 8, "batch call 0 streamed 8 tokens")
    expect("batch: 8 of 8 calls succeeded" in r.stdout, "summary")


def retry_config():
    # The first two requests fail with 503: the first call needs 3 attempts.
    mock = Mock("--controls", "status=503,fail_first=2,id=example")
    with tempfile.TemporaryDirectory() as d:
        cfg = open(os.path.join(src, "examples", "retry_config.json")).read()
        expect("http://127.0.0.1:8089/v1" in cfg, "the config names the mock's default URL")
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            f.write(cfg.replace("http://127.0.0.1:8089/v1", mock.url))
        r = run([path, "4"], mock)
    mock.stop()
    expect(r.returncode == 0, "exits 0", r.stderr)
    expect("call 0: ok after 3 attempt(s)" in r.stdout, "503s retried by the plugin", r.stdout)
    for i in range(1, 4):
        expect(f"call {i}: ok after 1 attempt(s)" in r.stdout, f"call {i} in one attempt")
    expect("4 calls: 4 ok, 0 failed, 6 attempts" in r.stdout, "summary", r.stdout)
    # Without the retry plugin the same program fails: the config did it.
    mock = Mock("--controls", "status=503,fail_first=1,id=noretry")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            f.write(re.sub(r'\{"name": "retry"[^}]*\}', "",
                           cfg.replace("http://127.0.0.1:8089/v1", mock.url)))
        r = run([path, "1"], mock)
    mock.stop()
    expect(r.returncode == 1 and "call 0: LLMRT_EOVERLOADED after 1 attempt(s)" in r.stdout,
           "without the retry line the 503 reaches the program", r.stdout)


def http_get(port, q, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /ask?q={q} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return s


def stream_server():
    # Long answers sent as fast as the mock can: only backpressure bounds them.
    mock = Mock("--tokens", "60000")
    log = tempfile.TemporaryFile()
    p = subprocess.Popen([binary, mock.url, "0"], env=env, stdout=log, stderr=subprocess.STDOUT)

    def logtext():
        log.seek(0)
        return log.read().decode(errors="replace")

    def wait_for(pattern, secs=20):
        deadline = time.time() + secs
        while time.time() < deadline:
            m = re.search(pattern, logtext(), re.M)
            if m:
                return m
            time.sleep(0.05)
        fail(f"server never logged /{pattern}/\n--- log:\n" + logtext())

    try:
        port = int(wait_for(r"listening on http://127.0.0.1:(\d+)/").group(1))

        # 1. A slow reader: the call pauses, then resumes as it reads, and it
        # receives every byte.
        s = http_get(port, "tell+me+everything", rcvbuf=4096)
        wait_for(r"^client 1: paused")
        time.sleep(0.3)
        data = b""
        s.settimeout(30)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        expect(head.startswith(b"HTTP/1.1 200 OK"), "200 to the slow reader")
        m = re.search(rb"\n-- (\d+) bytes, (\w+)\n$", body)
        expect(m is not None, "the answer ends with its summary line", body[-200:].decode())
        text = body[:m.start()]
        expect(len(text) == int(m.group(1)) and len(text) > 200000,
               f"every byte arrived ({len(text)} bytes)")
        expect(m.group(2) == b"stop", "finished normally")
        m = wait_for(r"^client 1: done, \d+ bytes streamed, paused (\d+) times")
        expect(int(m.group(1)) >= 1, f"the call was paused {m.group(1)} time(s)")
        expect(re.search(r"^client 1: resumed", logtext(), re.M), "and resumed")

        # 2. A client that leaves: its call is canceled at once.
        s = http_get(port, "a+long+answer", rcvbuf=4096)
        wait_for(r"^client 2: paused")
        s.recv(100)
        s.close()
        wait_for(r"^client 2: disconnected, canceling its call")
        wait_for(r"^client 2: call ended: LLMRT_ECANCELED")
        expect(True, "a disconnect cancels the call")

        # 3. Not the endpoint.
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /nope HTTP/1.1\r\n\r\n")
        s.settimeout(10)
        resp = b""
        while True:
            c = s.recv(4096)
            if not c:
                break
            resp += c
        s.close()
        expect(resp.startswith(b"HTTP/1.1 404"), "404 elsewhere")
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = None
        mock.stop()
    print(logtext(), end="")
    expect(rc == 0 and "bye" in logtext(), "SIGTERM stops the server cleanly")


globals()[name]()
print(f"{name}: all checks passed")
