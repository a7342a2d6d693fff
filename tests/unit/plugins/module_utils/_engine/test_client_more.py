"""The ACME client's remaining edges: error answers that are not problem documents, directories that are not ones,
an unreachable directory, account key algorithms, clones and the certbot client on the same network (fake CA)."""
import datetime
import email.utils

import pytest
import requests

from ansible_collections.autotls.acme.plugins.module_utils._engine import account, keys
from ansible_collections.autotls.acme.plugins.module_utils._engine import client as acme_client
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    ACMEProblem, InputError, TransportError)

from .fakeca import BASE, FakeCA, client_for


class OddCA(FakeCA):
    """The fake CA, plus a few URLs that answer the way broken servers and proxies do."""

    def send(self, request, **kwargs):
        path = request.url[len(BASE):]
        if path == "/html":
            self.requests.append(request)
            response = self._answer(request, 400, None)
            response._content = b"<html><body>Bad Request</body></html>"
            response.headers["Content-Type"] = "text/html"
            return response
        if path == "/typeless":
            self.requests.append(request)
            return self._answer(request, 403, {"detail": "no type here"})
        if path == "/list-dir" and request.method == "GET":
            return self._answer(request, 200, [1, 2, 3])
        if path == "/half-dir" and request.method == "GET":
            return self._answer(request, 200, {"newNonce": BASE + "/nonce"})
        if path == "/down":
            raise requests.exceptions.ConnectionError("connection refused")
        return super().send(request, **kwargs)


@pytest.fixture
def ca():
    return OddCA()


@pytest.fixture
def client(ca):
    made = client_for(ca)
    account.ensure_present(made, [], True)
    return made


def test_an_error_answer_that_is_not_json_keeps_its_text(client):
    with pytest.raises(ACMEProblem) as err:
        client.fetch(BASE + "/html")
    assert err.value.status == 400 and err.value.type == "about:blank"
    assert "Bad Request" in err.value.detail and err.value.url == BASE + "/html"


def test_an_error_answer_without_a_problem_type_is_still_a_problem(client, ca):
    asked = len(ca.requests)
    with pytest.raises(ACMEProblem) as err:
        client.fetch(BASE + "/typeless")
    assert err.value.status == 403 and "no type here" in err.value.detail
    assert len(ca.requests) == asked + 1   # a 403 is not retried


@pytest.mark.parametrize("path, words", [("/list-dir", "does not answer as an ACME directory"),
                                         ("/half-dir", "it names no newAccount, newOrder")])
def test_a_directory_that_is_not_one_names_the_url(ca, path, words):
    client = client_for(ca)
    client.directory_url = BASE + path
    with pytest.raises(InputError) as err:
        client.check_directory()
    assert err.value.field == "acme_directory" and words in err.value.msg
    assert err.value.details["directory"] == BASE + path


def test_an_unreachable_directory_is_a_transport_error_not_bad_input(ca):
    client = client_for(ca)
    client.directory_url = BASE + "/down"
    with pytest.raises(TransportError) as err:
        client.check_directory()
    assert "cannot reach the ACME server at %s/down" % BASE in err.value.msg


def test_retry_after_in_seconds_or_as_an_http_date():
    assert acme_client.retry_after_seconds(None) is None
    response = requests.Response()
    assert acme_client.retry_after_seconds(response) is None
    response.headers["Retry-After"] = "120"
    assert acme_client.retry_after_seconds(response) == 120.0
    response.headers["Retry-After"] = "-5"
    assert acme_client.retry_after_seconds(response) == 0.0
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=10)
    response.headers["Retry-After"] = email.utils.format_datetime(later, usegmt=True)
    assert 500 < acme_client.retry_after_seconds(response) <= 600


@pytest.mark.parametrize("key_type, alg", [("ecdsa-p256", "ES256"), ("ecdsa-p384", "ES384"), ("rsa-2048", "RS256")])
def test_account_keys_sign_with_their_algorithm(key_type, alg):
    jwk, algorithm = acme_client.jwk_and_alg(keys.generate_private_key(key_type))
    assert algorithm.name == alg and jwk.key is not None


def test_an_rsa_account_key_talks_to_the_ca(ca):
    client = client_for(ca, keys.generate_private_key("rsa-2048"))
    assert account.ensure_present(client, [], True)["created"]
    assert next(iter(ca.accounts))   # registered under its RSA JWK
    assert '"kty": "RSA"' in next(iter(ca.accounts))


def test_a_clone_shares_the_directory_and_account_but_not_the_network(client):
    clone = client.clone()
    assert clone.account_uri == client.account_uri and clone.directory is client.directory
    assert clone.net is not client.net and clone.account_key is client.account_key
    assert clone.poll_timeout == client.poll_timeout and clone.net.retry_timeout == client.net.retry_timeout


def test_the_certbot_client_is_made_once_on_the_same_network(client):
    v2 = client.v2
    assert v2 is client.v2 and v2.net is client.net
    assert client.directory_url_for("newOrder") == BASE + "/order"
    assert client.directory_url_for("renewalInfo") is None
