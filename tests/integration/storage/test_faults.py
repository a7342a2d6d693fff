"""Faults: an S3 endpoint that dies mid-upload, processes racing for a lock, a lock holder killed with
SIGKILL, and a writer killed at random points on the local backend."""
import json
import multiprocessing
import os
import random
import signal
import socket
import threading
import time

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, LockError, StorageError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from .conftest import STAGING
from .test_contract import bundle_of, matches

FORK = multiprocessing.get_context("fork")
RACE_ROUNDS = 20
KILL_ROUNDS = 20


class Proxy:
    """TCP proxy to the S3 endpoint that can be 'unplugged' once N more bytes went upstream."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.sockets, self.budget, self.dead = [], None, threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, nbytes):
        with self.lock:
            self.budget = nbytes

    def _accept(self):
        while not self.dead.is_set():
            try:
                client = self.listener.accept()[0]
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, upstream):
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                if upstream:
                    with self.lock:
                        if self.budget is not None:
                            if len(data) >= self.budget:
                                dst.sendall(data[:self.budget])
                                self.budget = 0
                                threading.Thread(target=self.stop).start()
                                return
                            self.budget -= len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        """The endpoint goes away: no more connections, open ones cut."""
        self.dead.set()
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass


ENDPOINTS = {  # kind: (services variable, endpoint option, extra options, the error's words for the failed write)
    "s3": ("S3_ENDPOINT_URL", "s3_endpoint_url", {"s3_max_attempts": 2}, ("S3 endpoint %s", "put_object")),
    "gcs": ("GCS_ENDPOINT_URL", "gcs_endpoint_url", {}, ("GCS endpoint %s", "during upload")),
}


@pytest.mark.parametrize("kind", ["s3", "gcs"])
def test_endpoint_stopped_in_the_middle_of_an_upload(kind, backends, services, ca):
    variable, option, extra, words = ENDPOINTS[kind]
    host, port = services[variable].rsplit("/", 1)[1].split(":")
    proxy = Proxy((host, int(port)))
    options = backends.options(kind, **{option: proxy.url}, **extra, storage_timeout=3)
    backend = open_backend(kind, options)
    store = bundles.CertificateStore(backend, STAGING)
    old = bundle_of(ca)
    store.put("www", old)

    written = []
    real_store = backend.store

    def store_then_unplug(key, data, private=False):
        real_store(key, data, private)
        written.append(key)
        if len(written) == 1:      # the first object of the new version is stored:
            proxy.cut_after(300)   # the endpoint dies 300 bytes into the next request
    backend.store = store_then_unplug
    started = time.monotonic()
    with pytest.raises(StorageError) as err:
        store.put("www", bundle_of(ca))
    assert time.monotonic() - started < 20
    assert words[0] % proxy.url in err.value.msg and words[1] in err.value.msg, err.value.msg
    assert err.value.details["endpoint"].startswith(proxy.url)
    assert len(written) == 1 and written[0].endswith(bundles.KEY_FILE)

    # The previous bundle is intact and still served, through the real endpoint.
    direct = bundles.CertificateStore(open_backend(kind, dict(options, **{option: services[variable]})), STAGING)
    got, pointer = direct.get("www")
    assert got == old and matches(got)
    assert pointer["serial"] == keys.parse_certificate(old.certificate).serial
    # ...while the partial upload is an unreferenced version next to it.
    versions = {key.split("/")[3] for key in direct.storage.list("versions/")}
    assert len(versions) == 2 and pointer["version"] in versions


def test_unreachable_backends_fail_clearly(backends, ca):
    dead_port = socket.create_server(("127.0.0.1", 0))
    port = dead_port.getsockname()[1]
    dead_port.close()
    s3 = open_backend("s3", backends.options(
        "s3", s3_endpoint_url="http://127.0.0.1:%d" % port, s3_max_attempts=1, storage_timeout=2))
    with pytest.raises(StorageError, match=r"S3 endpoint http://127.0.0.1:%d" % port):
        bundles.CertificateStore(s3, STAGING).info(["www"])
    redis_ = open_backend("redis", backends.options("redis", redis_url="redis://127.0.0.1:%d/0" % port,
                                                    storage_timeout=2))
    with pytest.raises(StorageError, match=r"cannot reach Redis at redis://127.0.0.1:%d/0" % port):
        redis_.lock("www", 10)
    gcs = open_backend("gcs", backends.options("gcs", gcs_endpoint_url="http://127.0.0.1:%d" % port,
                                               storage_timeout=1))
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"GCS endpoint http://127.0.0.1:%d failed during " % port):
        bundles.CertificateStore(gcs, STAGING).info(["www"])
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("kind, option", [("s3", "s3_bucket"), ("gcs", "gcs_bucket")])
def test_a_missing_bucket_is_an_error_naming_it(kind, option, backends, ca):
    backend = open_backend(kind, backends.options(kind, **{option: "autotls-no-such-bucket"}))
    for attempt in (lambda: bundles.CertificateStore(backend, STAGING).info(),
                    lambda: bundles.CertificateStore(backend, STAGING).info(["www"]),
                    lambda: bundles.CertificateStore(backend, STAGING).put("www", bundle_of(ca)),
                    lambda: backend.lock("www", 10)):
        with pytest.raises(InputError) as err:
            attempt()
        assert err.value.field == option and "'autotls-no-such-bucket' does not exist" in err.value.msg


# ---- lock races between processes ---------------------------------------------------------------

def _racer(kind, options, barrier, results, inside, violations, worker):
    backend = open_backend(kind, options)
    for round_ in range(RACE_ROUNDS):          # phase 1: start together, one attempt each
        barrier.wait()
        try:
            lock = backend.lock("race-%d" % round_, 60)
            results.put((round_, worker, lock.owner))
        except LockError:
            results.put((round_, worker, None))
    for _turn in range(6):                      # phase 2: take turns on one lock, check mutual exclusion
        lock = backend.lock("turns", 30, timeout=60)
        with inside.get_lock():
            inside.value += 1
            if inside.value != 1:
                violations.value += 1
        time.sleep(0.01)
        with inside.get_lock():
            inside.value -= 1
        backend.unlock("turns", lock.owner)


@pytest.mark.timeout(120)
def test_racing_processes_never_hold_a_lock_together(kind, options):
    workers = 3
    barrier, results = FORK.Barrier(workers), FORK.Queue()
    inside, violations = FORK.Value("i", 0), FORK.Value("i", 0)
    procs = [FORK.Process(target=_racer, args=(kind, options, barrier, results, inside, violations, w))
             for w in range(workers)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _outcome in range(RACE_ROUNDS * workers)]
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    for round_ in range(RACE_ROUNDS):
        winners = [owner for r, _worker, owner in outcomes if r == round_ and owner]
        assert len(winners) == 1, "round %d: %d winners" % (round_, len(winners))
    assert violations.value == 0


# ---- a holder killed with SIGKILL ---------------------------------------------------------------

def _holder(kind, options, ttl, conn):
    lock = open_backend(kind, options).lock("victim", ttl)
    conn.send(lock.expires)
    time.sleep(600)


@pytest.mark.timeout(60)
def test_lock_of_a_killed_holder_is_taken_over_after_its_ttl_not_before(kind, options):
    ttl = 8.0   # long enough that a loaded machine (seven test shards at once) still tries before expiry
    parent, child = FORK.Pipe()
    proc = FORK.Process(target=_holder, args=(kind, options, ttl, child))
    proc.start()
    expires = parent.recv()
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    backend = open_backend(kind, options)
    attempts = 0
    while time.time() < expires - 0.3:
        with pytest.raises(LockError):
            backend.lock("victim", 30)
        attempts += 1
        time.sleep(0.2)
    assert attempts >= 1     # refused at least once before expiry, however slow the machine
    lock = backend.lock("victim", 30, timeout=ttl + 10)
    assert time.time() >= expires
    assert backend.unlock("victim", lock.owner)


# ---- a local writer killed at random points ----------------------------------------------------

def _writer(path, parts):
    store = bundles.CertificateStore(open_backend("local", {"local_path": path}), STAGING)
    i = 0
    while True:
        store.put("www", bundles.make_bundle(*parts[i % len(parts)]))
        i += 1


def _read_following_the_pointer(path):
    """What a reader gets by following current.json by hand, without the engine's retries."""
    backend = open_backend("local", {"local_path": path})
    store = bundles.CertificateStore(backend, STAGING)
    data = backend.load("certs/%s/www/%s" % (store.slug, bundles.POINTER))
    if data is None:
        return None
    pointer = json.loads(data)
    prefix = "versions/%s/www/%s/" % (store.slug, pointer["version"])
    files = {name: backend.load(prefix + name) for name in bundles.FILES}
    return pointer, files


@pytest.mark.timeout(90)
def test_writer_killed_at_random_points_leaves_a_matching_key_and_certificate(tmp_path, ca):
    path = str(tmp_path / "store")
    parts = [ca.issue(("www.example.com",)) for _part in range(4)]
    rng = random.Random(int(os.environ.get("KILL_SEED", time.time())))
    served = 0
    for _round in range(KILL_ROUNDS):
        proc = FORK.Process(target=_writer, args=(path, parts))
        proc.start()
        time.sleep(rng.uniform(0.005, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        read = _read_following_the_pointer(path)
        if read is None:
            continue     # killed before the first pointer was written
        pointer, files = read
        assert all(files[name] is not None for name in bundles.FILES), pointer["version"]
        key = keys.load_private_key(files[bundles.KEY_FILE], "stored key")
        assert keys.key_matches_certificate(key, files["cert.pem"])
        assert files["fullchain.pem"] == files["cert.pem"] + files["chain.pem"]
        assert keys.parse_certificate(files["cert.pem"]).serial == pointer["serial"]
        got = bundles.CertificateStore(open_backend("local", {"local_path": path}), STAGING).get("www")[0]
        assert matches(got)
        served += 1
    assert served >= KILL_ROUNDS - 3
