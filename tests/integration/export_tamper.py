#!/usr/bin/env python3
"""Changes an `ailgate log export` directory the way a forger would, keeping
every digest and hash that the changed files are checked against in
meta.json consistent (the auditor's finding: check.py used to pass such a
package). Used by test_msglog.c's export tests and test_signed.py::test_d.

    export_tamper.py DIR forge-body ID      appends text to records/ID/body.bin and
                                            rewrites meta.json to match: canon fields 10
                                            (length) and 11 (SHA-256), body_len,
                                            body_sha256, hash = SHA-256(prev_hash || canon)
    export_tamper.py DIR set-meta ID KEY JSON   one field of records/ID/meta.json
    export_tamper.py DIR unstamp            every record's "batch" to null

Exit 0 when done, 2 on bad usage."""
import hashlib
import json
import os
import sys


def fields(canon):
    out, i = [], 0
    while i < len(canon):
        n = int.from_bytes(canon[i:i + 4], "big")
        out.append(canon[i + 4:i + 4 + n])
        i += 4 + n
    return out


def encode(fs):
    return b"".join(len(f).to_bytes(4, "big") + f for f in fs)


def meta_path(out, rid):
    return os.path.join(out, "records", str(rid), "meta.json")


def load(path):
    with open(path) as f:
        return json.load(f)


def save(path, meta):
    with open(path, "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)


def forge_body(out, rid, extra=b"<!-- and one more line -->"):
    d = os.path.join(out, "records", str(rid))
    with open(os.path.join(d, "body.bin"), "ab") as f:
        f.write(extra)
    with open(os.path.join(d, "body.bin"), "rb") as f:
        body = f.read()
    meta = load(meta_path(out, rid))
    fs = fields(bytes.fromhex(meta["canon"]))
    fs[10] = len(body).to_bytes(8, "big")
    fs[11] = hashlib.sha256(body).digest()
    canon = encode(fs)
    meta.update(canon=canon.hex(), body_len=len(body), body_sha256=fs[11].hex(),
                hash=hashlib.sha256(bytes.fromhex(meta["prev_hash"]) + canon).hexdigest())
    save(meta_path(out, rid), meta)


def main(argv):
    if len(argv) >= 3 and argv[1] == "forge-body":
        forge_body(argv[0], int(argv[2]))
    elif len(argv) == 5 and argv[1] == "set-meta":
        meta = load(meta_path(argv[0], argv[2]))
        meta[argv[3]] = json.loads(argv[4])
        save(meta_path(argv[0], argv[2]), meta)
    elif len(argv) == 2 and argv[1] == "unstamp":
        for name in os.listdir(os.path.join(argv[0], "records")):
            meta = load(meta_path(argv[0], name))
            meta["batch"] = None
            save(meta_path(argv[0], name), meta)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
