#!/usr/bin/env python3
"""Workaround for cargo-lambda's local Runtime API losing function responses (docs/upstream/cargo-lambda-500.md).

`cargo lambda watch` (1.9.2, and 1.8.6 the same) answers a function's `POST /runtime/invocation/{id}/response`
with 200 *before* it has read the request body, and reads that body later from the HTTP request the client is
waiting on. When the function's runtime client then closes that connection (lambda_runtime 1.5 keeps one idle
connection, so it closes the older of two), the body read fails and the client gets a bare
`500 {"type":"https://httpstatuses.com/500",...}` although the function handled the request; when the runtime
keeps the connection open but idle, the client waits forever. When the runtime's next call arrives on the
*same* connection, nothing is lost.

This proxy sits between each function process and cargo-lambda's Runtime API and makes that always so: every
call of one function process (`GET .../next`, `POST .../response`, `POST .../error`) goes to cargo-lambda over
one persistent upstream connection, one call at a time, whatever connections the runtime client opens or closes
on its side. The client-facing API is untouched.

    runtime_api_proxy.py --upstream 127.0.0.1:9000 [--port-file FILE]

prints `listening on 127.0.0.1:PORT` (and writes PORT to FILE). `scripts/lambda-runner.sh`, used as the cargo
runner of the functions under `cargo lambda watch`, points each function's `AWS_LAMBDA_RUNTIME_API` at
`http://127.0.0.1:PORT/p<pid>/...`; the `p<pid>` segment names the function process (one upstream connection
each; `--concurrency N` instances are separate processes) and is removed before forwarding. Python stdlib only.

Limits: bodies are buffered (fine for this API's buffered responses; a streaming response, `Lambda-Runtime-
Function-Response-Mode: streaming`, would reach cargo-lambda as one buffered body and not be recognised as one);
the extensions API is forwarded like the rest but, being per function process and one call at a time, an
extension's long-poll would block its function's calls (this project uses no extensions).
"""

import argparse
import http.client
import http.server
import os
import select
import socket
import socketserver
import sys
import threading

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "host"}


class Upstream:
    """One persistent connection to cargo-lambda for one function process; one call at a time."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.conn = None

    def call(self, method, path, headers, body, downstream):
        """Forwards one call; None when the function's side went away before the answer (then the upstream
        connection is dropped too, so that a `GET .../next` of a dead process does not take an invocation)."""
        with self.lock:
            for attempt in (1, 2):
                if self.conn is None:
                    # No timeout: `GET .../next` waits until the next invocation arrives.
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=None)
                    self.conn.connect()
                    self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    self.conn.request(method, path, body=body, headers=headers)
                    if not wait_for_answer(self.conn.sock, downstream):
                        self.conn.close()
                        self.conn = None
                        return None
                    res = self.conn.getresponse()
                    data = res.read()
                    return res.status, res.reason, res.getheaders(), data
                except (ConnectionError, http.client.HTTPException, OSError):
                    if self.conn is not None:
                        self.conn.close()
                    self.conn = None
                    # A connection that failed is retried once: cargo-lambda closed an idle connection. A response
                    # posted twice is harmless (cargo-lambda ignores an id it no longer waits for).
                    if attempt == 2:
                        raise


def wait_for_answer(upstream, downstream):
    """Blocks until the upstream answer starts (True) or the downstream peer closed its connection (False).
    The runtime client sends nothing else while it waits, so a readable downstream socket means EOF."""
    poller = select.poll()  # not select(): descriptors above 1023 are fine
    poller.register(upstream, select.POLLIN)
    poller.register(downstream, select.POLLIN)
    while True:
        ready = dict(poller.poll())
        if upstream.fileno() in ready:
            return True
        try:
            if downstream.recv(1, socket.MSG_PEEK) == b"":
                return False
        except OSError:
            return False
        # bytes pipelined by the runtime (not expected): stop watching it, wait for the answer
        poller.unregister(downstream)


class Proxy(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, upstream):
        super().__init__(addr, Handler)
        self.upstream_addr = upstream
        self.upstreams = {}
        self.upstreams_lock = threading.Lock()

    def upstream_for(self, key):
        with self.upstreams_lock:
            if key not in self.upstreams:
                self.upstreams[key] = Upstream(*self.upstream_addr)
            return self.upstreams[key]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive towards the function's runtime client
    disable_nagle_algorithm = True

    def log_message(self, *args):  # quiet: cargo-lambda's log is the place to look
        pass

    def forward(self):
        # /p<pid>/.rt/<function>/2018-06-01/... → key "p<pid>", upstream path /.rt/<function>/2018-06-01/...
        path = self.path
        key = "default"
        if path.startswith("/p") and path.count("/") >= 2:
            key, rest = path[1:].split("/", 1)
            path = "/" + rest
        length = int(self.headers.get("content-length") or 0)
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            body = self.read_chunked()
        else:
            body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body is not None:
            headers["content-length"] = str(len(body))
        try:
            answer = self.server.upstream_for(key).call(self.command, path, headers, body, self.connection)
        except Exception as e:  # upstream gone (cargo-lambda stopped): tell the runtime, which will exit or retry
            answer = (502, "Bad Gateway", [("content-type", "text/plain")], f"runtime API proxy: upstream error: {e}".encode())
        if answer is None:
            self.close_connection = True
            return
        status, reason, res_headers, data = answer
        head = [f"HTTP/1.1 {status} {reason}"]
        head += [f"{k}: {v}" for k, v in res_headers if k.lower() not in HOP_BY_HOP]
        head.append(f"content-length: {len(data)}")
        try:  # one write: no Nagle/delayed-ACK pause between head and body
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        except OSError:
            self.close_connection = True

    def read_chunked(self):
        out = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers: dropped
                return bytes(out)
            out += self.rfile.read(size)
            self.rfile.readline()

    do_GET = do_POST = do_PUT = forward


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="cargo-lambda's invoke address, HOST:PORT")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on (default: a free port)")
    ap.add_argument("--port-file", help="write the listening port here once ready")
    args = ap.parse_args()
    up_host, up_port = args.upstream.rsplit(":", 1)
    host, port = args.listen.rsplit(":", 1)
    server = Proxy((host, int(port)), (up_host, int(up_port)))
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"runtime API proxy: listening on {host}:{port}, forwarding to {args.upstream}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
