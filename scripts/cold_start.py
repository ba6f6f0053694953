#!/usr/bin/env python3
"""Cold start of one function binary, locally: process start -> first response, median of N runs.

Acts as the Lambda Runtime API (the HTTP interface AWS gives every function at AWS_LAMBDA_RUNTIME_API), hands the
binary one API Gateway event and times until the function posts its response. Each run is a new process on the
embedded SQLite store (so init opens the database and checks migrations, as a real cold start does).

    python3 scripts/cold_start.py target/release/receive-messages events/receive-messages.json [runs]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

binary, event_path = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 20
event = open(event_path, "rb").read()
responded = threading.Event()
result = {}


class RuntimeApi(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        if responded.is_set():  # the function asks for its second event: we are done, it gets killed
            return
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Length", str(len(event)))
        self.end_headers()
        try:
            self.wfile.write(event)
        except BrokenPipeError:
            pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        result["path"], result["body"] = self.path, body
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        responded.set()


server = ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
samples = []
with tempfile.TemporaryDirectory() as data:
    env = {k: v for k, v in os.environ.items() if k not in ("MYSQL_URL", "MONGODB_URI", "APP_SECRET_ID")}
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "JWT_SECRET": "cold-start-bench-secret-0123456789abcdef",
        "SQLITE_PATH": os.path.join(data, "e2ee.sqlite3"),
        "RUST_LOG": "warn",
    })
    for _ in range(runs):
        responded.clear()
        started = time.perf_counter()
        process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not responded.wait(30):
            process.kill()
            sys.exit("no response within 30 s")
        samples.append((time.perf_counter() - started) * 1000)
        process.kill()
        process.wait()
server.shutdown()
status = json.loads(result["body"]).get("statusCode")
print(f"{os.path.basename(binary)}: first response (status {status}) after median {statistics.median(samples):.1f} ms "
      f"(min {min(samples):.1f}, max {max(samples):.1f}, {runs} runs)")
