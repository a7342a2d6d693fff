"""The floor: N single-name certificates, one after another, straight on certbot's `acme` library.

No framework around it, one account, an ECDSA P-256 key and CSR per certificate,
the HTTP-01 key authorization written into the webroot, and tight polling
(--poll-interval, 10 ms by default) of the authorization and of the order.
This is roughly the least a client can spend per certificate against this CA.

With --library-polling it instead uses the library's own poll_and_finalize()
(which sleeps a second between polls): the "acme library defaults" figure.

Writes <out>/<name>/privkey.pem and <out>/<name>/fullchain.pem; the benchmark
harness (bench/run.py) verifies them. Exits non-zero on the first failure.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import josepy as jose
from acme import challenges, client, crypto_util, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def new_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write(path: str, data: bytes, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class Floor:
    def __init__(self, directory_url: str, ca_bundle: str, webroot: str, poll_interval: float, timeout: float):
        account_key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = jose.JWKEC(key=account_key)
        self.net = client.ClientNetwork(self.jwk, alg=jose.ES256, verify_ssl=ca_bundle,
                                        user_agent="autotls-bench-floor")
        self.acme = client.ClientV2(client.ClientV2.get_directory(directory_url, self.net), self.net)
        self.acme.new_account(messages.NewRegistration.from_data(email="bench@example.com",
                                                                 terms_of_service_agreed=True))
        self.webroot = webroot
        self.poll_interval = poll_interval
        self.timeout = timeout

    def _publish(self, orderr) -> list:
        """Write every pending http-01 key authorization into the webroot; answer the challenges."""
        answers, written = [], []
        for authzr in orderr.authorizations:
            if authzr.body.status == messages.STATUS_VALID:
                continue
            challb = next(c for c in authzr.body.challenges if isinstance(c.chall, challenges.HTTP01))
            response, validation = challb.response_and_validation(self.jwk)
            path = os.path.join(self.webroot, challb.chall.path.lstrip("/"))
            write(path, validation.encode())
            written.append(path)
            answers.append((challb, response))
        for challb, response in answers:
            self.acme.answer_challenge(challb, response)
        return written

    def _poll(self, fetch, done, what):
        deadline = time.monotonic() + self.timeout
        while True:
            value = fetch()
            if done(value):
                return value
            if time.monotonic() > deadline:
                raise RuntimeError("%s still pending after %.0f s" % (what, self.timeout))
            time.sleep(self.poll_interval)

    def issue_tight(self, name: str) -> tuple[bytes, bytes]:
        key_pem = new_key_pem()
        orderr = self.acme.new_order(crypto_util.make_csr(key_pem, [name]))
        written = self._publish(orderr)
        try:
            for authzr in orderr.authorizations:
                authzr = self._poll(lambda a=authzr: self.acme.poll(a)[0],
                                    lambda a: a.body.status not in (messages.STATUS_PENDING,
                                                                    messages.STATUS_PROCESSING),
                                    "authorization for %s" % name)
                if authzr.body.status != messages.STATUS_VALID:
                    raise RuntimeError("authorization for %s is %s: %s" % (
                        name, authzr.body.status, [c.error for c in authzr.body.challenges if c.error]))
        finally:
            for path in written:
                os.unlink(path)
        try:
            self.acme.begin_finalization(orderr)
        except messages.Error as error:  # not ready yet: poll, then finalize
            if error.code != "orderNotReady":
                raise
            self._poll(lambda: self._order(orderr), lambda o: o.status != messages.STATUS_PENDING, "order")
            self.acme.begin_finalization(orderr)
        body = self._poll(lambda: self._order(orderr),
                          lambda o: o.status not in (messages.STATUS_READY, messages.STATUS_PROCESSING),
                          "order for %s" % name)
        if body.status != messages.STATUS_VALID or not body.certificate:
            raise RuntimeError("order for %s is %s: %s" % (name, body.status, body.error))
        # POST-as-GET of the order and of the certificate: ClientV2 exposes this only as _post_as_get,
        # which its own poll_finalization() uses for exactly these two requests.
        fullchain = self.acme._post_as_get(body.certificate).text.encode()
        return key_pem, fullchain

    def _order(self, orderr):
        return messages.Order.from_json(self.acme._post_as_get(orderr.uri).json())

    def issue_library_polling(self, name: str) -> tuple[bytes, bytes]:
        key_pem = new_key_pem()
        orderr = self.acme.new_order(crypto_util.make_csr(key_pem, [name]))
        written = self._publish(orderr)
        try:
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=self.timeout)
            orderr = self.acme.poll_and_finalize(orderr, deadline)
        finally:
            for path in written:
                os.unlink(path)
        return key_pem, orderr.fullchain_pem.encode()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--directory", required=True, help="ACME directory URL")
    parser.add_argument("--ca-bundle", required=True, help="CA file that signs the ACME server's TLS certificate")
    parser.add_argument("--webroot", required=True, help="directory served at http://<name>/ for HTTP-01")
    parser.add_argument("--out", required=True, help="write <out>/<name>/{privkey,fullchain}.pem")
    parser.add_argument("--names-file", required=True, help="one DNS name per line, one certificate each")
    parser.add_argument("--poll-interval", type=float, default=0.01, help="seconds between polls (default 0.01)")
    parser.add_argument("--library-polling", action="store_true",
                        help="use the library's poll_and_finalize() and its default sleeps instead")
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)

    with open(args.names_file) as handle:
        names = [line.strip() for line in handle if line.strip()]
    os.makedirs(os.path.join(args.webroot, ".well-known", "acme-challenge"), exist_ok=True)
    floor = Floor(args.directory, args.ca_bundle, args.webroot, args.poll_interval, args.timeout)
    issue = floor.issue_library_polling if args.library_polling else floor.issue_tight
    for name in names:
        key_pem, fullchain = issue(name)
        target = os.path.join(args.out, name)
        os.makedirs(target, exist_ok=True)
        write(os.path.join(target, "privkey.pem"), key_pem, 0o600)
        write(os.path.join(target, "fullchain.pem"), fullchain)
    print("floor: issued %d certificates" % len(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
