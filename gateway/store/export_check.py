#!/usr/bin/env python3
# Checks this export: each record's body digest and hash, each batch's
# chain up to the stamped root. Time-stamp tokens: see README.txt.
import base64, glob, hashlib, json, os, re, sys
os.chdir(os.path.dirname(os.path.abspath(__file__)))
def in_batch(sig):
    # A batch signature (gateway/trust/README-sign.md): the message's fields
    # (the document before BatchProof, stored in canonical form) folded with
    # its path (RFC 9162 2.1.3.2) must give the Root that xmlsec1 checks.
    i = sig.find(b'<sm:BatchProof')
    if i < 0:
        return True
    r = hashlib.sha256(sig[:i] + b'</sm:SignedMessage>').digest()
    fn = int(re.search(rb'<sm:BatchProof Index="([0-9]+)">', sig).group(1))
    root = re.search(rb'<sm:Root Algorithm="[^"]+" Count="([0-9]+)">([^<]+)</sm:Root>', sig)
    sn = int(root.group(1)) - 1
    for p in [base64.b64decode(n) for n in re.findall(rb'<sm:Node>([^<]+)</sm:Node>', sig)]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b'\x01' + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1; sn >>= 1
        else:
            r = hashlib.sha256(b'\x01' + r + p).digest()
        fn >>= 1; sn >>= 1
    return sn == 0 and r == base64.b64decode(root.group(2))
def fields(canon):
    out, i = [], 0
    while i < len(canon):
        n = int.from_bytes(canon[i:i + 4], 'big'); out.append(canon[i + 4:i + 4 + n]); i += 4 + n
    return out
bad = 0
for m in sorted(glob.glob('records/*/meta.json')):
    meta = json.load(open(m)); d = os.path.dirname(m)
    canon = bytes.fromhex(meta['canon']); f = fields(canon)
    ok = f[0] == b'ailgate-msglog-1' and int.from_bytes(f[1], 'big') == meta['id']
    if os.path.exists(d + '/body.bin'):
        ok = ok and hashlib.sha256(open(d + '/body.bin', 'rb').read()).digest() == f[11]
    sig = open(d + '/signature.xml', 'rb').read() if os.path.exists(d + '/signature.xml') else b''
    ok = ok and hashlib.sha256(sig).digest() == f[12] and in_batch(sig)
    h = hashlib.sha256(bytes.fromhex(meta['prev_hash']) + canon).hexdigest()
    ok = ok and h == meta['hash']
    print(('OK   ' if ok else 'BAD  ') + m); bad += not ok
for c in sorted(glob.glob('batches/*/chain.json')):
    chain = json.load(open(c))['chain']; prev = bytes.fromhex(chain[0]['prev_hash']); ok = True
    for e in chain:
        ok = ok and bytes.fromhex(e['prev_hash']) == prev
        prev = hashlib.sha256(prev + bytes.fromhex(e['canon'])).digest()
        ok = ok and prev.hex() == e['hash']
    ok = ok and prev == open(os.path.dirname(c) + '/root.bin', 'rb').read()
    print(('OK   ' if ok else 'BAD  ') + c); bad += not ok
sys.exit(1 if bad else 0)
