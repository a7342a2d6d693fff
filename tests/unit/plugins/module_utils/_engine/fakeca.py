"""A small stateful ACME CA behind a requests adapter (the scripted adapter's big sibling): no network.

It keeps accounts, orders, authorizations and certificates like a CA does, validates HTTP-01 by
reading the file the client published in `webroot` (so publishing is really tested), issues real
certificates from the CSR, and can be told to misbehave (`fail_next`, `invalid_names`,
`renewal_info`).
"""
import base64
import datetime
import itertools
import json
import os

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from requests.adapters import BaseAdapter

from ansible_collections.autotls.acme.plugins.module_utils._engine import client as acme_client
from ansible_collections.autotls.acme.plugins.module_utils._engine import keys

BASE = "https://ca.test"


def _b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeCA(BaseAdapter):
    def __init__(self, webroot=None, renewal_info=False, terms=None, eab_required=False, profiles=None):
        super().__init__()
        self.profiles = profiles
        self.webroot = webroot
        self.renewal_info = renewal_info
        self.terms, self.eab_required = terms, eab_required
        self.ids = itertools.count(1)
        self.accounts = {}      # thumbprint-ish (jwk json) -> account dict
        self.orders, self.authzs, self.certs = {}, {}, {}
        self.fail_next = {}     # path prefix -> (status, problem type, detail) for the next matching request
        self.invalid_names = set()
        self.requests = []
        self.key = keys.generate_private_key("ecdsa-p256")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake Root")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.root = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                     .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
                     .sign(self.key, hashes.SHA256()))

    @property
    def orders_created(self):
        return len(self.orders)

    def directory(self):
        body = {"newNonce": BASE + "/nonce", "newAccount": BASE + "/acct", "newOrder": BASE + "/order",
                "keyChange": BASE + "/kc", "revokeCert": BASE + "/revoke"}
        meta = {}
        if self.terms:
            meta["termsOfService"] = self.terms
        if self.eab_required:
            meta["externalAccountRequired"] = True
        if self.profiles:
            meta["profiles"] = self.profiles
        if meta:
            body["meta"] = meta
        if self.renewal_info:
            body["renewalInfo"] = BASE + "/renewal-info"
        return body

    # ---- transport -----------------------------------------------------------------------
    def send(self, request, **kwargs):
        self.requests.append(request)
        path = request.url[len(BASE):]
        for prefix, failure in list(self.fail_next.items()):
            if path.startswith(prefix) and request.method == "POST":
                del self.fail_next[prefix]
                status, ptype, detail = failure
                return self._answer(request, status, {"type": "urn:ietf:params:acme:error:" + ptype, "detail": detail})
        if request.method == "HEAD" or path == "/nonce":
            return self._answer(request, 200, None)
        if request.method == "GET":
            if path == "/dir":
                return self._answer(request, 200, self.directory())
            if path.startswith("/renewal-info/"):
                now = datetime.datetime.now(datetime.timezone.utc)
                return self._answer(request, 200, {"suggestedWindow": {
                    "start": (now + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "end": (now + datetime.timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")}})
            return self._answer(request, 404, {"type": "urn:ietf:params:acme:error:malformed", "detail": "no"})
        jws = json.loads(request.body)
        protected = json.loads(_b64d(jws["protected"]))
        payload = json.loads(_b64d(jws["payload"])) if jws["payload"] else None
        return self.route(request, path, protected, payload)

    def _answer(self, request, status, body, headers=None, content=None):
        response = requests.Response()
        response.status_code = status
        response.url = request.url
        nonce = base64.urlsafe_b64encode(b"nonce-%08d" % next(self.ids)).rstrip(b"=").decode()
        response.headers.update({"Replay-Nonce": nonce})
        response.headers.update(headers or {})
        if content is not None:
            response._content = content
            response.headers["Content-Type"] = "application/pem-certificate-chain"
        elif body is not None:
            response._content = json.dumps(body).encode()
            response.headers["Content-Type"] = "application/problem+json" if status >= 400 else "application/json"
        else:
            response._content = b""
        response.request = request
        return response

    def _problem(self, request, status, ptype, detail):
        return self._answer(request, status, {"type": "urn:ietf:params:acme:error:" + ptype, "detail": detail})

    # ---- ACME resources -------------------------------------------------------------------
    def route(self, request, path, protected, payload):
        if path == "/acct":
            key = json.dumps(protected.get("jwk"), sort_keys=True)
            account = self.accounts.get(key)
            if payload.get("onlyReturnExisting"):
                if account is None:
                    return self._problem(request, 400, "accountDoesNotExist", "no account for this key")
                if account["status"] == "deactivated":
                    return self._problem(request, 403, "unauthorized", "account is deactivated")
                return self._answer(request, 200, account["body"], {"Location": account["url"]})
            if account is None:
                if self.eab_required and not payload.get("externalAccountBinding"):
                    return self._problem(request, 400, "externalAccountRequired", "eab needed")
                url = BASE + "/acct/%d" % next(self.ids)
                body = {"status": "valid", "contact": payload.get("contact", []), "orders": url + "/orders"}
                account = {"url": url, "status": "valid", "body": body}
                account["eab"] = payload.get("externalAccountBinding")
                self.accounts[key] = account
                return self._answer(request, 201, account["body"], {"Location": url})
            return self._answer(request, 200, account["body"], {"Location": account["url"]})
        if path.startswith("/acct/"):
            account = next(a for a in self.accounts.values() if a["url"] == request.url)
            if payload and payload.get("status") == "deactivated":
                account["status"] = account["body"]["status"] = "deactivated"
            elif payload and "contact" in payload:
                account["body"]["contact"] = payload["contact"]
            return self._answer(request, 200, account["body"])
        if path == "/kc":
            inner = json.loads(_b64d(payload["payload"]))
            old = next(k for k, a in self.accounts.items() if a["url"] == inner["account"])
            new = json.dumps(json.loads(_b64d(payload["protected"]))["jwk"], sort_keys=True)
            self.accounts[new] = self.accounts.pop(old)
            return self._answer(request, 200, self.accounts[new]["body"])
        if path == "/order":
            oid = next(self.ids)
            url = BASE + "/order/%d" % oid
            authz_urls = []
            for ident in payload["identifiers"]:
                aid = next(self.ids)
                authz_url = BASE + "/authz/%d" % aid
                self.authzs[authz_url] = {"identifier": ident, "status": "pending", "challenges": [
                    {"type": "http-01", "url": BASE + "/chall/%d" % aid, "token": "tok%dx" % aid,
                     "status": "pending"},
                    {"type": "dns-01", "url": BASE + "/chall-dns/%d" % aid, "token": "d%d" % aid,
                     "status": "pending"}]}
                authz_urls.append(authz_url)
            self.orders[url] = {"status": "pending", "identifiers": payload["identifiers"],
                                "authorizations": authz_urls, "finalize": url + "/finalize",
                                "replaces": payload.get("replaces"), "expires": "2099-01-01T00:00:00Z"}
            return self._answer(request, 201, self._order_body(url), {"Location": url})
        if path.startswith("/authz/"):
            return self._answer(request, 200, self.authzs[request.url])
        if path.startswith("/chall/"):
            authz_url = BASE + "/authz/" + path.rsplit("/", 1)[1]
            authz = self.authzs[authz_url]
            challenge = authz["challenges"][0]
            self._validate(authz, challenge, protected)
            return self._answer(request, 200, challenge)
        if path.startswith("/order/") and path.endswith("/finalize"):
            url = request.url[:-len("/finalize")]
            order = self.orders[url]
            if self._order_body(url)["status"] != "ready":
                return self._problem(request, 403, "orderNotReady", "not ready")
            csr = x509.load_der_x509_csr(_b64d(payload["csr"]))
            order["status"] = "valid"
            order["certificate"] = BASE + "/cert/%d" % next(self.ids)
            self.certs[order["certificate"]] = self._issue(csr)
            return self._answer(request, 200, self._order_body(url))
        if path.startswith("/order/"):
            return self._answer(request, 200, self._order_body(request.url))
        if path.startswith("/cert/") and path.endswith("/alt"):
            leaf = self.certs[request.url[:-len("/alt")]].split(b"-----END CERTIFICATE-----\n")[0]
            return self._answer(request, 200, None, content=leaf + b"-----END CERTIFICATE-----\n" + self.cross_pem())
        if path.startswith("/cert/"):
            return self._answer(request, 200, None, content=self.certs[request.url],
                                headers={"Link": '<%s/alt>;rel="alternate"' % request.url})
        return self._problem(request, 404, "malformed", "unknown resource " + path)

    def cross_pem(self):
        """The root's name and key, signed by "Alt Root": an alternate chain's top certificate."""
        alt_key = keys.generate_private_key("ecdsa-p256")
        now = datetime.datetime.now(datetime.timezone.utc)
        cross = (x509.CertificateBuilder().subject_name(self.root.subject)
                 .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Alt Root")]))
                 .public_key(self.key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(days=1))
                 .not_valid_after(now + datetime.timedelta(days=365)).sign(alt_key, hashes.SHA256()))
        return cross.public_bytes(serialization.Encoding.PEM)

    def _order_body(self, url):
        order = self.orders[url]
        body = dict(order)
        if order["status"] == "pending":
            states = [self.authzs[a]["status"] for a in order["authorizations"]]
            if "invalid" in states:
                body["status"] = order["status"] = "invalid"
                body["error"] = {"type": "urn:ietf:params:acme:error:unauthorized", "detail": "authz failed"}
            elif all(s == "valid" for s in states):
                body["status"] = order["status"] = "ready"
        body.pop("replaces", None)
        return body

    def _validate(self, authz, challenge, protected):
        name = authz["identifier"]["value"]
        path = os.path.join(self.webroot or "/nonexistent", ".well-known", "acme-challenge", challenge["token"])
        try:
            with open(path) as handle:
                content = handle.read().strip()
        except OSError:
            content = None
        expected_prefix = challenge["token"] + "."
        if name in self.invalid_names or content is None or not content.startswith(expected_prefix):
            authz["status"] = challenge["status"] = "invalid"
            challenge["error"] = {"type": "urn:ietf:params:acme:error:unauthorized",
                                  "detail": "Invalid response from http://%s/.well-known/acme-challenge/%s"
                                            % (name, challenge["token"])}
            challenge["validationRecord"] = [{"url": "http://%s/.well-known/acme-challenge/%s"
                                              % (name, challenge["token"]), "addressUsed": "127.0.0.1"}]
        else:
            authz["status"] = challenge["status"] = "valid"

    def _issue(self, csr):
        now = datetime.datetime.now(datetime.timezone.utc)
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        leaf = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.root.subject)
                .public_key(csr.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=90))  # noqa: E501
                .add_extension(san, critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        return leaf.public_bytes(serialization.Encoding.PEM) + self.root.public_bytes(serialization.Encoding.PEM)


def client_for(ca, key=None, poll_timeout=30):
    """An AcmeClient talking to ca, with a fake clock its fake sleep advances."""
    client = acme_client.AcmeClient(BASE + "/dir", key or keys.generate_private_key("ecdsa-p256"),
                                    poll_timeout=poll_timeout)
    client.net.session.mount("https://", ca)
    now = [0.0]
    client.net.clock = lambda: now[0]
    client.net.sleep = lambda seconds: now.__setitem__(0, now[0] + seconds)
    return client
