"""A small local stand-in for an ACME CA's ARI side (Debian's Pebble 2.4 has no renewalInfo).

Serves, on 127.0.0.1 (plain HTTP, or HTTPS with a given ssl context):
  GET  /dir                     directory: newNonce, newAccount, newOrder and (optionally) renewalInfo
  HEAD /nonce                   a Replay-Nonce (every answer carries one)
  GET  /renewal-info/<certid>   the configured window, with the configured Retry-After
  POST /new-account             an existing account (for account.find)
  POST /new-order               409 alreadyReplaced (or another configured refusal) when the payload has
                                "replaces", else 201 with a pending order
  POST /authz/<n>               a pending authorization with an http-01 challenge
JWS signatures are not checked: the payload is all the stand-in looks at. Every request is
recorded (method, path, JSON payload) so that tests can count what reached the "CA".
"""
import base64
import datetime
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROBLEM = "urn:ietf:params:acme:error:"


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StandIn:
    def __init__(self, renewal_info=True, ssl_context=None):
        self.renewal_info = renewal_info
        self.window = (None, None)         # (start, end) datetimes served by renewal-info
        self.explanation_url = None
        self.retry_after = "3600"          # header value, or None for no header
        self.renewal_status = 200          # another status answers with a problem document
        self.refuse_replaces = (409, "alreadyReplaced", "this certificate was already replaced")
        self.on_renewal_info = None        # callback run while a renewal-info request is in flight
        self.requests = []
        self.orders = 0
        self.authz = {}                    # authz number -> identifier
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):   # quiet
                pass

            def do_HEAD(self):
                standin.record(self, None)
                self.answer(200, None)

            def do_GET(self):
                standin.record(self, None)
                standin.get(self)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                jws = json.loads(self.rfile.read(length) or b"{}")
                payload = json.loads(_b64decode(jws["payload"])) if jws.get("payload") else None
                standin.record(self, payload)
                standin.post(self, payload)

            def answer(self, status, body, headers=None, content_type="application/json"):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Replay-Nonce", secrets.token_urlsafe(16))
                self.send_header("Cache-Control", "no-store")
                if body is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if data and self.command != "HEAD":
                    self.wfile.write(data)

            def problem(self, status, code, detail):
                self.answer(status, {"type": PROBLEM + code, "detail": detail},
                            content_type="application/problem+json")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if ssl_context is not None else "http"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.server.server_address[1])
        self.directory_url = self.url + "/dir"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    # ---- bookkeeping ----------------------------------------------------------------------------

    def record(self, handler, payload):
        with self.lock:
            self.requests.append((handler.command, handler.path, payload))

    def seen(self, method=None, prefix=""):
        with self.lock:
            return [(m, p, body) for m, p, body in self.requests
                    if (method is None or m == method) and p.startswith(prefix)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # ---- resources --------------------------------------------------------------------------------

    def directory(self):
        body = {"newNonce": self.url + "/nonce", "newAccount": self.url + "/new-account",
                "newOrder": self.url + "/new-order", "revokeCert": self.url + "/revoke",
                "keyChange": self.url + "/key-change"}
        if self.renewal_info:
            body["renewalInfo"] = self.url + "/renewal-info"
        return body

    def get(self, handler):
        if handler.path == "/dir":
            return handler.answer(200, self.directory())
        if handler.path == "/nonce":
            return handler.answer(204, None)
        if handler.path.startswith("/renewal-info/") and self.renewal_info:
            if self.on_renewal_info is not None:
                self.on_renewal_info()
            if self.renewal_status != 200:
                return handler.problem(self.renewal_status, "serverInternal" if self.renewal_status >= 500
                                       else "malformed", "no renewal information for you")
            start, end = self.window
            body = {"suggestedWindow": {"start": iso(start), "end": iso(end)}}
            if self.explanation_url:
                body["explanationURL"] = self.explanation_url
            return handler.answer(200, body, {"Retry-After": self.retry_after} if self.retry_after else None)
        return handler.problem(404, "malformed", "no such resource %s" % handler.path)

    def post(self, handler, payload):
        if handler.path == "/new-account":
            return handler.answer(200, {"status": "valid", "contact": [], "orders": self.url + "/orders"},
                                  {"Location": self.url + "/acct/1"})
        if handler.path == "/new-order":
            if "replaces" in payload and self.refuse_replaces:
                status, code, detail = self.refuse_replaces
                return handler.problem(status, code, detail)
            with self.lock:
                self.orders += 1
                number = self.orders
                authz_urls = []
                for index, ident in enumerate(payload["identifiers"]):
                    key = "%d-%d" % (number, index)
                    self.authz[key] = ident
                    authz_urls.append(self.url + "/authz/" + key)
            expires = iso(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7))
            body = {"status": "pending", "expires": expires, "identifiers": payload["identifiers"],
                    "authorizations": authz_urls, "finalize": self.url + "/order/%d/finalize" % number}
            if "replaces" in payload:
                body["replaces"] = payload["replaces"]
            return handler.answer(201, body, {"Location": self.url + "/order/%d" % number})
        if handler.path.startswith("/authz/"):
            key = handler.path[len("/authz/"):]
            ident = self.authz.get(key)
            if ident is None:
                return handler.problem(404, "malformed", "no such authorization")
            token = base64.urlsafe_b64encode(("token-" + key).encode()).rstrip(b"=").decode()
            return handler.answer(200, {"status": "pending", "identifier": ident, "challenges": [
                {"type": "http-01", "url": self.url + "/chall/" + key, "token": token, "status": "pending"}]})
        return handler.problem(404, "malformed", "no such resource %s" % handler.path)
