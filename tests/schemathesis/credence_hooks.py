"""Schemathesis hooks: sign every request the way a bank's own code would, from the OpenAPI
document's description alone (`http-request/v2`, see `info.description` of /openapi.json).

Each request is signed by the party whose role the route serves, read from the party files in
$CREDENCE_PARTIES (operator.party, holder.party, bank.party, subject.party, auditor.party).
Requests are signed after serialization (a `requests` auth hook), so the signature covers the
exact path, query and body bytes that go on the wire.

Run by `.ci/schemathesis` (see the README's development section).
"""

import hashlib
import json
import os
import secrets
import struct
import time
import urllib.request
from urllib.parse import urlsplit

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROLE_TAGS = {
    "holder": 1,
    "bank": 2,
    "subject": 3,
    "log": 4,
    "key-authority": 5,
    "witness": 6,
    "operator": 7,
    "auditor": 8,
    "authority": 9,
}
DOMAIN = b"credence/v1/signed\x00"


def _str(s):
    b = s.encode("utf-8")
    return struct.pack(">I", len(b)) + b


def canonical(role, origin, party, method, path_and_query, timestamp, nonce, body):
    """The exact bytes a party signs for one request."""
    return (
        DOMAIN
        + bytes([ROLE_TAGS[role]])
        + _str("http-request/v2")
        + _str(origin)
        + _str(party)
        + _str(method.upper())
        + _str(path_and_query)
        + struct.pack(">Q", timestamp)
        + nonce
        + hashlib.sha3_256(body or b"").digest()
    )


class Party:
    def __init__(self, path):
        with open(path) as f:
            d = json.load(f)
        self.party = d["party"]
        self.role = d["role"]
        self.key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(d["seed"]))


_PARTIES = {}
_ORIGIN = {}


def parties():
    if not _PARTIES:
        directory = os.environ["CREDENCE_PARTIES"]
        for role in ("operator", "holder", "bank", "subject", "auditor"):
            _PARTIES[role] = Party(os.path.join(directory, role + ".party"))
    return _PARTIES


def origin(base):
    if base not in _ORIGIN:
        with urllib.request.urlopen(base + "/v1/anchors", timeout=30) as r:
            _ORIGIN[base] = json.load(r)["origin"]
    return _ORIGIN[base]


def party_for(path):
    """The role a route serves (the operator otherwise: it may read the whole log)."""
    for prefix, role in (
        ("/v1/operator/", "operator"),
        ("/v1/holder/pseudonym", "bank"),
        ("/v1/holder/", "holder"),
        ("/v1/bank/", "bank"),
        ("/v1/subject/", "subject"),
        ("/v1/audit/", "auditor"),
    ):
        if path.startswith(prefix):
            return parties()[role]
    return parties()["operator"]


class CredenceSignature(requests.auth.AuthBase):
    def __call__(self, r):
        url = urlsplit(r.url)
        base = f"{url.scheme}://{url.netloc}"
        path_and_query = r.path_url
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if url.path == "/metrics" and os.environ.get("CREDENCE_METRICS_TOKEN"):
            # The scrape endpoint takes the operator's bearer token, not a party signature.
            r.headers["authorization"] = "Bearer " + os.environ["CREDENCE_METRICS_TOKEN"]
            return r
        p = party_for(url.path)
        t = int(time.time())
        nonce = secrets.token_bytes(16)
        sig = p.key.sign(
            canonical(p.role, origin(base), p.party, r.method, path_and_query, t, nonce, body)
        )
        r.headers["x-credence-party"] = p.party
        r.headers["x-credence-time"] = str(t)
        r.headers["x-credence-nonce"] = nonce.hex()
        r.headers["x-credence-signature"] = sig.hex()
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = CredenceSignature()
