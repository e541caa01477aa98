#!/usr/bin/env python3
"""Independent generator of Credence's SHA3-256 RFC 9162 vectors (tests/vectors/sha3-log.json).

Written straight from RFC 9162 section 2.1 with Python's hashlib, sharing no code with the
Rust implementation, so the checked-in vectors cross-check it. Run: python3 gen_sha3_log.py
"""
import base64, hashlib, json, os

H = lambda b: hashlib.sha3_256(b).digest()
leaf = lambda d: H(b"\x00" + d)
node = lambda l, r: H(b"\x01" + l + r)

def k_of(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k

def mth(d):
    if len(d) == 0:
        return H(b"")
    if len(d) == 1:
        return leaf(d[0])
    k = k_of(len(d))
    return node(mth(d[:k]), mth(d[k:]))

def path(m, d):
    if len(d) <= 1:
        return []
    k = k_of(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]

def subproof(m, d, b):
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]

# The RFC 6962 reference leaves, then leaves named "credence leaf <i>".
LEAVES = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243",
          "5051525354555657", "606162636465666768696a6b6c6d6e6f"]]
LEAVES += [b"credence leaf %d" % i for i in range(8, 21)]
b64 = lambda b: base64.b64encode(b).decode()

out = {"hash": "SHA3-256", "leaves_hex": [l.hex() for l in LEAVES], "roots": [], "inclusion": [], "consistency": []}
for n in range(0, len(LEAVES) + 1):
    out["roots"].append({"size": n, "root": b64(mth(LEAVES[:n]))})
for n in [1, 2, 3, 5, 7, 8, 13, 21]:
    for m in sorted({0, n // 2, n - 1}):
        out["inclusion"].append({"leafIdx": m, "treeSize": n, "leafHash": b64(leaf(LEAVES[m])),
                                 "root": b64(mth(LEAVES[:n])), "proof": [b64(p) for p in path(m, LEAVES[:n])]})
for (m, n) in [(1, 1), (1, 2), (1, 8), (2, 5), (3, 7), (4, 8), (6, 8), (5, 13), (8, 21), (13, 21), (20, 21)]:
    out["consistency"].append({"size1": m, "size2": n, "root1": b64(mth(LEAVES[:m])), "root2": b64(mth(LEAVES[:n])),
                               "proof": [b64(p) for p in (subproof(m, LEAVES[:n], True) if m < n else [])]})
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "sha3-log.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
