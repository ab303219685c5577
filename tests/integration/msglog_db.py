"""Reads a gateway's SQLite message log as a third party would, from the
layout gateway/store/README.md documents, without ailgate's code: the
carried OCSP data stored once (ocsp_data), the Batch element stored once
(sig_batches, put back at sig_batch_at) and packed records (a zstd frame of
body + document against the packing_dicts row named by `packed`, decoded
with python3-zstandard). The tests compare what this gives with what the
gateways sent and run xmlsec1 on it, so it is a second, independent reader
of the stored form."""
import sqlite3

import zstandard

_COLS = ("r.id, r.message_id, r.dir, r.side, r.body_mode, r.body, r.body_len, r.sigdoc, r.packed,"
         " r.sig_batch_at, (SELECT data FROM sig_batches WHERE first_id = r.sig_batch),"
         " COALESCE((SELECT data FROM ocsp_data WHERE sha256 = r.ocsp_sha256), r.ocsp)")


class Record:
    __slots__ = ("id", "message_id", "dir", "side", "body_mode", "body", "sigdoc", "ocsp")


def _unpack(dicts, db, packed, body, body_len, frame):
    if packed not in dicts:
        row = db.execute("SELECT data FROM packing_dicts WHERE id = ?", (packed,)).fetchone()
        d = zstandard.ZstdCompressionDict(bytes(row[0]), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        dicts[packed] = zstandard.ZstdDecompressor(dict_data=d)
    content = dicts[packed].decompress(bytes(frame))
    if body is None:               # metadata only: the frame is the document
        return None, content
    assert len(body) == 0, "a packed record with a body beside its frame"
    return content[:body_len], content[body_len:]


def records(path, where="1", args=()):
    """The records of the log at path that match where (SQL on records r),
    in id order, with body and document as they were logged."""
    db = sqlite3.connect(path)
    out, dicts = [], {}
    try:
        for (rid, msg, d, side, mode, body, body_len, doc, packed, at, batch, ocsp) in db.execute(
                "SELECT %s FROM records r WHERE %s ORDER BY r.id" % (_COLS, where), args):
            if packed is not None:
                body, doc = _unpack(dicts, db, packed, body, body_len, doc)
            doc = bytes(doc)
            if batch is not None:
                doc = doc[:at] + bytes(batch) + doc[at:]
            r = Record()
            r.id, r.message_id, r.dir, r.side, r.body_mode = rid, msg, d, side, mode
            r.body = bytes(body) if body is not None else None
            r.sigdoc, r.ocsp = doc, bytes(ocsp) if ocsp is not None else b""
            out.append(r)
    finally:
        db.close()
    return out
