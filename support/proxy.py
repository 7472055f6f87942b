"""The proxy in front of moto: counts requests and makes the emulator as strict as AWS at the
HTTP level; each piece names the gap of moto it fills."""

import http.client
import http.server
import json
import threading
import urllib.parse
from collections import Counter


def classify(method, path, headers, body):
    """(client, operation) of one request, for the counts."""
    ua = headers.get("User-Agent", "")
    if "aws-sdk-rust" in ua:
        client = "amipub"
    elif ua.startswith("curl"):
        client = "instance"
    else:
        client = "other"
    parsed = urllib.parse.urlsplit(path)
    ctype = headers.get("Content-Type", "")
    if method == "POST" and parsed.path == "/" and "x-www-form-urlencoded" in ctype:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        return client, "ec2:" + form.get("Action", ["?"])[0]
    parts = [p for p in parsed.path.split("/") if p]
    kind = "object" if len(parts) > 1 else ("bucket" if parts else "service")
    q = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    auth = {"AWSAccessKeyId", "Signature", "Expires", "x-id"}
    sub = sorted(k for k in q if not k.startswith("X-Amz-") and k not in auth)
    return client, f"s3:{method} {kind}" + (f"?{sub[0]}" if sub else "")


def make_proxy(moto_host, moto_port, throttle_every):
    counts = Counter()
    lock = threading.Lock()
    state = {"ec2_from_amipub": 0}
    local = threading.local()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def conn(self):
            c = getattr(local, "conn", None)
            if c is None:
                c = http.client.HTTPConnection(moto_host, moto_port, timeout=120)
                local.conn = c
            return c

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def handle_any(self):
            body = self.read_body()
            if self.path == "/_amipub/stats":
                with lock:
                    data = {f"{c} {op}": n for (c, op), n in sorted(counts.items())}
                self.reply(200, json.dumps(data).encode(), "application/json")
                return
            client, op = classify(self.command, self.path, self.headers, body)
            with lock:
                counts[(client, op)] += 1
                throttle = False
                if client == "amipub" and op.startswith("ec2:") and throttle_every:
                    state["ec2_from_amipub"] += 1
                    throttle = state["ec2_from_amipub"] % throttle_every == 0
            if throttle:
                xml = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error>'
                    b"<Code>RequestLimitExceeded</Code><Message>Request limit exceeded."
                    b"</Message></Error></Errors><RequestID>throttled</RequestID></Response>"
                )
                self.reply(503, xml, "text/xml")
                return
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("transfer-encoding", "connection", "content-length")
            }
            headers["Content-Length"] = str(len(body))
            for attempt in range(2):
                try:
                    c = self.conn()
                    c.request(self.command, self.path, body=body, headers=headers)
                    resp = c.getresponse()
                    data = resp.read()
                    break
                except (http.client.HTTPException, OSError):
                    local.conn = None
                    if attempt:
                        raise
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def reply(self, status, data, ctype):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Handler


