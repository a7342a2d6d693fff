"""A small local stand-in for an ACME CA's ARI and profiles sides (Debian's Pebble 2.4 has neither).

Serves, on 127.0.0.1 (plain HTTP, or HTTPS with a given ssl context):
  GET  /dir                     directory: newNonce, newAccount, newOrder, (optionally) renewalInfo and
                                meta.profiles (draft-ietf-acme-profiles)
  HEAD /nonce                   a Replay-Nonce (every answer carries one)
  GET  /renewal-info/<certid>   the configured window, with the configured Retry-After
  POST /new-account             an existing account (for account.find)
  POST /acct/1                  the account; takes a contact update
  POST /new-order               409 alreadyReplaced (or another configured refusal) when the payload has
                                "replaces"; 400 invalidProfile for a profile the directory does not offer;
                                else 201 with a pending order (carrying its profile)
  POST /order/<n>               the order: pending, ready once every authorization is valid, valid once finalized
  POST /authz/<n>               an authorization with an http-01 challenge (pending until the challenge is answered)
  POST /chall/<n>               answers the challenge: with http01_address set, the stand-in fetches
                                http://<address>:<port>/.well-known/acme-challenge/<token> (Host: the identifier)
                                and checks the key authorization's token, else it accepts
  POST /order/<n>/finalize      issues the CSR's names for the public key in it, signed by the given test CA
                                (pki.CA), valid for the lifetime of the order's profile
  POST /cert/<n>                the certificate chain (leaf + the test CA), PEM
JWS signatures are not checked: the payload is all the stand-in looks at. Every request is
recorded (method, path, JSON payload) so that tests can count what reached the "CA".
"""
import base64
import datetime
import json
import secrets
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROBLEM = "urn:ietf:params:acme:error:"


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class StandIn:
    # Let's Encrypt's profiles: classic and tlsserver 90 days, shortlived 160 hours (about 6 days)
    PROFILES = {"classic": "The same profile you're accustomed to", "tlsserver": "https://letsencrypt.org/2025/01/09/acme-profiles/",
                "shortlived": "https://letsencrypt.org/2025/01/16/6-day-and-ip-certs/"}
    LIFETIME_DAYS = {"classic": 90.0, "tlsserver": 90.0, "shortlived": 160 / 24.0}
    DEFAULT_PROFILE = "classic"

    def __init__(self, renewal_info=True, ssl_context=None, ca=None, profiles=None):
        self.renewal_info = renewal_info
        self.ca = ca                       # a pki.CA that signs finalized orders
        self.profiles = dict(self.PROFILES) if profiles is None else profiles   # {} offers none
        self.http01_address = None         # (address, port) to validate HTTP-01 against; None accepts
        self.order_state = {}              # order number -> {"identifiers", "authz", "profile", "cert"}
        self.valid_authz = set()
        self.contact = []
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
        if self.profiles:
            body["meta"] = {"profiles": dict(self.profiles)}
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
            return handler.answer(200, {"status": "valid", "contact": self.contact, "orders": self.url + "/orders"},
                                  {"Location": self.url + "/acct/1"})
        if handler.path == "/acct/1":   # contact update
            if payload and "contact" in payload:
                self.contact = list(payload["contact"])
            return handler.answer(200, {"status": "valid", "contact": self.contact, "orders": self.url + "/orders"})
        if handler.path == "/new-order":
            if "replaces" in payload and self.refuse_replaces:
                status, code, detail = self.refuse_replaces
                return handler.problem(status, code, detail)
            profile = payload.get("profile")
            if profile is not None and profile not in self.profiles:
                return handler.problem(400, "invalidProfile", "profile %r is not offered" % profile)
            with self.lock:
                self.orders += 1
                number = self.orders
                authz_keys = []
                for index, ident in enumerate(payload["identifiers"]):
                    key = "%d-%d" % (number, index)
                    self.authz[key] = ident
                    authz_keys.append(key)
                self.order_state[number] = {"identifiers": payload["identifiers"], "authz": authz_keys,
                                            "profile": profile or (self.DEFAULT_PROFILE if self.profiles else None),
                                            "cert": None, "replaces": payload.get("replaces")}
            return handler.answer(201, self.order_body(number), {"Location": self.url + "/order/%d" % number})
        if handler.path.startswith("/order/") and handler.path.endswith("/finalize"):
            return self.finalize(handler, int(handler.path.split("/")[2]), payload)
        if handler.path.startswith("/order/"):
            number = int(handler.path[len("/order/"):])
            if number not in self.order_state:
                return handler.problem(404, "malformed", "no such order")
            return handler.answer(200, self.order_body(number))
        if handler.path.startswith("/authz/"):
            key = handler.path[len("/authz/"):]
            ident = self.authz.get(key)
            if ident is None:
                return handler.problem(404, "malformed", "no such authorization")
            return handler.answer(200, self.authz_body(key))
        if handler.path.startswith("/chall/"):
            key = handler.path[len("/chall/"):]
            if key not in self.authz:
                return handler.problem(404, "malformed", "no such challenge")
            problem = self.validate(key)
            if problem:
                return handler.problem(403, "unauthorized", problem)
            with self.lock:
                self.valid_authz.add(key)
            return handler.answer(200, self.authz_body(key)["challenges"][0])
        if handler.path.startswith("/cert/"):
            state = self.order_state.get(int(handler.path[len("/cert/"):]))
            if not state or not state["cert"]:
                return handler.problem(404, "malformed", "no such certificate")
            data = state["cert"] + self.ca.pem
            handler.send_response(200)
            handler.send_header("Replay-Nonce", secrets.token_urlsafe(16))
            handler.send_header("Content-Type", "application/pem-certificate-chain")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return None
        return handler.problem(404, "malformed", "no such resource %s" % handler.path)

    # ---- orders, authorizations, issuance -------------------------------------------------------

    @staticmethod
    def token(key):
        return base64.urlsafe_b64encode(("token-" + key).encode()).rstrip(b"=").decode()

    def authz_body(self, key):
        status = "valid" if key in self.valid_authz else "pending"
        return {"status": status, "identifier": self.authz[key], "challenges": [
            {"type": "http-01", "url": self.url + "/chall/" + key, "token": self.token(key), "status": status}]}

    def order_body(self, number):
        state = self.order_state[number]
        if state["cert"]:
            status = "valid"
        elif all(key in self.valid_authz for key in state["authz"]):
            status = "ready"
        else:
            status = "pending"
        expires = iso(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=7))
        body = {"status": status, "expires": expires, "identifiers": state["identifiers"],
                "authorizations": [self.url + "/authz/" + key for key in state["authz"]],
                "finalize": self.url + "/order/%d/finalize" % number}
        if state["profile"]:
            body["profile"] = state["profile"]
        if state["replaces"]:
            body["replaces"] = state["replaces"]
        if state["cert"]:
            body["certificate"] = self.url + "/cert/%d" % number
        return body

    def validate(self, key):
        """None when the HTTP-01 answer is right (or not checked), else what is wrong."""
        if self.http01_address is None:
            return None
        address, port = self.http01_address
        name = self.authz[key]["value"]
        url = "http://%s:%d/.well-known/acme-challenge/%s" % (address, port, self.token(key))
        request = urllib.request.Request(url, headers={"Host": name})
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                content = answer.read().decode().strip()
        except OSError as exc:
            return "fetching the HTTP-01 token for %s failed: %s" % (name, exc)
        if content.split(".")[0] != self.token(key):
            return "wrong key authorization for %s: %r" % (name, content[:80])
        return None

    def lifetime(self, profile):
        return datetime.timedelta(days=self.LIFETIME_DAYS.get(profile or self.DEFAULT_PROFILE, 90.0))

    def finalize(self, handler, number, payload):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        state = self.order_state.get(number)
        if state is None:
            return handler.problem(404, "malformed", "no such order")
        if not all(key in self.valid_authz for key in state["authz"]):
            return handler.problem(403, "orderNotReady", "the order is not ready")
        csr = x509.load_der_x509_csr(_b64decode(payload["csr"]))
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
        builder = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(self.ca.cert.subject)
                   .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now).not_valid_after(now + self.lifetime(state["profile"]))
                   .add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.ca.ski),
                                  critical=False))
        cert = builder.sign(self.ca.key, hashes.SHA256())
        with self.lock:
            state["cert"] = cert.public_bytes(serialization.Encoding.PEM)
        return handler.answer(200, self.order_body(number), {"Location": self.url + "/order/%d" % number})
