#!/usr/bin/env python3
# Checks this export of an ailgate message log with Python 3's standard library
# alone; README.txt gives the commands for the rest (openssl ts, xmlsec1, openssl
# ocsp).
#
# Each batch (batches/<a>-<b>/): chain.json recomputed record by record from the
# canonical encodings up to root.bin, the 32 bytes token.tsr stamps.
# Each record (records/<id>/): meta.json's canon parsed (the 15 fields README.txt
# lists) and every readable field of meta.json compared with it; the record's hash
# recomputed and found in the chain of its batch, so that the batch's token fixes
# it; body.bin against the canon's SHA-256 and the signed <sm:BodyDigest> of
# signature.xml; signature.xml against its digest (a batch signature: its path up
# to the signed Root); the OCSP data against its digest.
#
# One line per batch and per record: OK, UNSTAMPED (everything checks, but no time
# stamp covers the record: nothing here fixes it in time or proves it was not
# written later), or BAD with the reasons. Exit status 0: every record OK;
# 1: something BAD or missing; 2: nothing BAD, but records are UNSTAMPED.
import base64, glob, hashlib, json, os, re, sys, time

TAG = b'ailgate-msglog-1'
EMPTY = hashlib.sha256(b'').digest()
SIZES = {0: 16, 1: 8, 2: 8, 3: 1, 4: 1, 9: 1, 10: 8, 11: 32, 12: 32, 13: 32}
READABLE = ('id', 'time_ms', 'direction', 'side', 'reqid', 'message_id', 'client_id',
            'service_id', 'body_mode', 'body_len', 'body_sha256', 'request_hash')
META_KEYS = set(READABLE) | {'prev_hash', 'hash', 'canon', 'batch'}
SHA256_ALG = b'http://www.w3.org/2001/04/xmlenc#sha256'


class Bad(Exception):
    pass


def read(path):
    if not os.path.isfile(path):
        raise Bad('%s is missing' % path)
    with open(path, 'rb') as f:
        return f.read()


def unhex(s, what):
    try:
        return bytes.fromhex(s)
    except (TypeError, ValueError):
        raise Bad('%s is not hex' % what)


def fields(canon):
    """The canonical encoding's 15 fields (each a 4-byte big-endian length and its bytes)."""
    out, i = [], 0
    while i < len(canon):
        n = int.from_bytes(canon[i:i + 4], 'big')
        if i + 4 + n > len(canon):
            raise Bad('canon: field %d runs past the end' % len(out))
        out.append(canon[i + 4:i + 4 + n])
        i += 4 + n
    if len(out) != 15:
        raise Bad('canon: %d fields, not 15' % len(out))
    for k, n in SIZES.items():
        if len(out[k]) != n:
            raise Bad('canon: field %d has %d bytes, not %d' % (k, len(out[k]), n))
    if out[0] != TAG:
        raise Bad('canon: the tag is not %s' % TAG.decode())
    return out


def decoded(canon):
    """The record the canonical encoding holds, named as meta.json names its fields."""
    f = fields(canon)
    enum = lambda b, names: names.get(b[0], 'invalid value %d' % b[0])
    try:
        text = [x.decode('utf-8') for x in (f[5], f[6], f[7], f[8], f[14])]
    except UnicodeDecodeError:
        raise Bad('canon: an identifier is not UTF-8')
    return {'id': int.from_bytes(f[1], 'big'), 'time_ms': int.from_bytes(f[2], 'big', signed=True),
            'direction': enum(f[3], {1: 'request', 2: 'response'}),
            'side': enum(f[4], {1: 'client', 2: 'server'}),
            'reqid': text[0], 'message_id': text[1], 'client_id': text[2], 'service_id': text[3],
            'body_mode': enum(f[9], {1: 'full', 2: 'digest'}),
            'body_len': int.from_bytes(f[10], 'big'), 'body_sha256': f[11].hex(),
            'request_hash': text[4], 'sig_sha256': f[12], 'ocsp_sha256': f[13]}


def in_batch(sig):
    # A batch signature (gateway/trust/README-sign.md): the message's fields
    # (the document before BatchProof, stored in canonical form) folded with
    # its path (RFC 9162 2.1.3.2) must give the Root that xmlsec1 checks.
    i = sig.find(b'<sm:BatchProof')
    if i < 0:
        return True
    r = hashlib.sha256(sig[:i] + b'</sm:SignedMessage>').digest()
    fn = re.search(rb'<sm:BatchProof Index="([0-9]+)">', sig)
    root = re.search(rb'<sm:Root Algorithm="[^"]+" Count="([0-9]+)">([^<]+)</sm:Root>', sig)
    if not fn or not root:
        return False
    fn, sn = int(fn.group(1)), int(root.group(1)) - 1
    for p in [base64.b64decode(n) for n in re.findall(rb'<sm:Node>([^<]+)</sm:Node>', sig)]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b'\x01' + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b'\x01' + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == base64.b64decode(root.group(2))


def unescape(b):
    return b.replace(b'&lt;', b'<').replace(b'&gt;', b'>').replace(b'&amp;', b'&').decode('utf-8')


def signed(sig, name):
    """The text of the message's own field sm:<name> (before the signature or the
    batch proof), or None; more than one is refused."""
    ends = [i for i in (sig.find(b'<sm:BatchProof'), sig.find(b'<ds:Signature')) if i >= 0]
    part = sig[:min(ends)] if ends else sig
    found = re.findall(rb'<sm:' + name + rb'( [^>]*)?>([^<]*)</sm:' + name + rb'>', part)
    if len(found) > 1:
        raise Bad('signature.xml has %d <sm:%s>' % (len(found), name.decode()))
    return found[0] if found else None


def check_signature(d, r, problems):
    """signature.xml: its digest is the canon's, and what it signs is this record:
    the body's SHA-256 (BodyDigest), kind, message id, client, service, request hash."""
    path = d + '/signature.xml'
    if r['sig_sha256'] == EMPTY:
        if os.path.exists(path) and os.path.getsize(path):
            problems.append('signature.xml is there, but the record was logged without one')
        return 'no signature was logged with it'
    sig = read(path)
    if hashlib.sha256(sig).digest() != r['sig_sha256']:
        problems.append('signature.xml is not the logged signature document (its SHA-256 differs from canon)')
        return None
    if not in_batch(sig):
        problems.append("signature.xml: the message's path does not lead to the signed batch Root")
    bd = signed(sig, b'BodyDigest')
    if bd is None:
        problems.append('signature.xml holds no <sm:BodyDigest>: the body is not bound to a signature')
    elif bd[0] != b' Algorithm="' + SHA256_ALG + b'"':
        problems.append('signature.xml: <sm:BodyDigest> is not SHA-256')
    elif base64.b64decode(bd[1]).hex() != r['body_sha256']:
        problems.append('the body (canon field 11) is not the one signed: <sm:BodyDigest> differs')
    want = {b'Kind': r['direction'], b'MessageId': r['message_id']}
    if r['direction'] == 'response':
        want[b'RequestHash'] = r['request_hash']
    for name, value in want.items():
        got = signed(sig, name)
        if got is None or unescape(got[1]) != value:
            problems.append('signature.xml: <sm:%s> is not the record\'s %r' % (name.decode(), value))
    for name, value in ((b'Client', r['client_id']), (b'Service', r['service_id'])):
        got = signed(sig, name)
        if got is None or unescape(got[1]).partition(':')[2] != value:
            problems.append('signature.xml: <sm:%s> does not name %r' % (name.decode(), value))
    return None


def check_body(d, r, problems):
    path = d + '/body.bin'
    if r['body_mode'] != 'full':
        if os.path.exists(path):
            problems.append('body.bin is there, but only the body\'s digest was logged')
        return
    if not os.path.isfile(path):
        problems.append('body.bin is missing, but the body was logged in full')
        return
    body = read(path)
    if len(body) != r['body_len'] or hashlib.sha256(body).hexdigest() != r['body_sha256']:
        problems.append('body.bin is not the logged body (length or SHA-256 differs from canon)')


def one_der(b):
    """Whether b is exactly one DER SEQUENCE (its length as its header says)."""
    if len(b) < 2 or b[0] != 0x30:
        return False
    n, i = b[1], 2
    if n & 0x80:
        i = 2 + (n & 0x7f)
        n = int.from_bytes(b[2:i], 'big')
    return i + n == len(b)


def check_ocsp(d, r, problems):
    """ocsp-<i>.der: the responses that travelled with the message; their base64 with
    commas between is the logged OCSP data, canon field 13 its SHA-256 (ocsp.txt, when
    there, holds the logged bytes: the responses are then its items)."""
    ders = sorted(glob.glob(d + '/ocsp-*.der'), key=lambda p: int(re.sub(r'[^0-9]', '', os.path.basename(p)) or 0))
    txt = d + '/ocsp.txt'
    if r['ocsp_sha256'] == EMPTY:
        if ders or os.path.exists(txt):
            problems.append('OCSP files are there, but the record was logged without OCSP data')
        return
    if [os.path.basename(p) for p in ders] != ['ocsp-%d.der' % i for i in range(len(ders))]:
        problems.append('the OCSP responses are not ocsp-0.der, ocsp-1.der, ... without a gap')
    items = [read(p) for p in ders]
    for p, der in zip(ders, items):
        if not one_der(der):
            problems.append('%s is not one DER structure' % os.path.basename(p))
    if os.path.exists(txt):
        text = read(txt)
        if hashlib.sha256(text).digest() != r['ocsp_sha256']:
            problems.append('ocsp.txt is not the logged OCSP data (its SHA-256 differs from canon)')
        elif items:
            try:
                logged = [base64.b64decode(x.strip(b' \t'), validate=True) for x in text.split(b',')]
            except ValueError:
                logged = None
            if logged != items:
                problems.append('ocsp-*.der are not the responses ocsp.txt holds')
    elif not items:
        problems.append('the OCSP data (ocsp-0.der, ...) is missing')
    elif hashlib.sha256(b','.join(base64.b64encode(x) for x in items)).digest() != r['ocsp_sha256']:
        problems.append('ocsp-*.der are not the logged OCSP responses (their base64, comma-separated, '
                        'does not give canon\'s SHA-256)')


def check_batch(d):
    """(hashes of the records a..b by id, genTime text); raises Bad."""
    m = re.fullmatch(r'([0-9]+)-([0-9]+)', os.path.basename(d))
    if not m:
        raise Bad('not a batch folder name (<first>-<last>)')
    first, last = int(m.group(1)), int(m.group(2))
    try:
        c = json.loads(read(d + '/chain.json'))
    except ValueError as e:
        raise Bad('chain.json: %s' % e)
    root, token = read(d + '/root.bin'), read(d + '/token.tsr')
    chain = c.get('chain') or []
    if c.get('first_id') != first or c.get('last_id') != last or len(chain) != last - first + 1:
        raise Bad('chain.json does not hold records %d..%d' % (first, last))
    hashes, prev = {}, unhex(chain[0].get('prev_hash'), 'chain.json prev_hash')
    for k, e in enumerate(chain):
        canon = unhex(e.get('canon'), 'chain.json canon')
        rid = decoded(canon)['id']
        if rid != first + k or e.get('id') != rid:
            raise Bad('chain.json: entry %d is record %s, not %d' % (k, rid, first + k))
        if e.get('prev_hash') != prev.hex():
            raise Bad('chain.json: record %d does not link to record %d' % (rid, rid - 1))
        prev = hashlib.sha256(prev + canon).digest()
        if e.get('hash') != prev.hex():
            raise Bad('chain.json: record %d does not hash to its hash' % rid)
        hashes[rid] = prev.hex()
    if root != prev:
        raise Bad('root.bin is not the hash of record %d' % last)
    if hashlib.sha256(root).digest() not in token:
        raise Bad('token.tsr does not stamp root.bin (no SHA-256 of it inside)')
    # genTime: the first GeneralizedTime of the response (TSTInfo precedes the certificates)
    gen = re.search(rb'\x18[\x0f-\x17]([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2}(?:\.[0-9]+)?)Z', token)
    return hashes, '%s-%s-%sT%s:%s:%sZ' % tuple(x.decode() for x in gen.groups()) if gen else '?'


def check_record(d, batches):
    """('OK' or 'UNSTAMPED', note) or raises Bad with every problem found."""
    rid = os.path.basename(d)
    try:
        meta = json.loads(read(d + '/meta.json'))
    except ValueError as e:
        raise Bad('meta.json: %s' % e)
    if not isinstance(meta, dict) or set(meta) != META_KEYS:
        raise Bad('meta.json does not hold exactly the fields %s' % ', '.join(sorted(META_KEYS)))
    canon = unhex(meta['canon'], 'canon')
    r = decoded(canon)
    problems = []
    if str(r['id']) != rid:
        problems.append('canon is record %d, not %s' % (r['id'], rid))
    for k in READABLE:
        if meta[k] != r[k]:
            problems.append('meta.json says %s = %r, canon says %r' % (k, meta[k], r[k]))
    h = hashlib.sha256(unhex(meta['prev_hash'], 'prev_hash') + canon).hexdigest()
    if h != meta['hash']:
        problems.append('hash is not SHA-256(prev_hash || canon)')
    check_body(d, r, problems)
    note = check_signature(d, r, problems)
    check_ocsp(d, r, problems)
    covering = [b for b, (first, last, _, _) in batches.items() if first <= r['id'] <= last]
    name = meta['batch']
    status = 'OK'
    t = time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(r['time_ms'] // 1000)) + '.%03dZ' % (r['time_ms'] % 1000)
    summary = '%s %s, message %s, %s' % (r['direction'], t, r['message_id'],
                                        'stamped by ' + name if name else 'not stamped')
    if name is None:
        if covering:
            problems.append('meta.json names no batch, but %s covers it' % covering[0])
        status = 'UNSTAMPED'
    elif name not in batches:
        problems.append('its batch %s is missing: nothing ties it to a time stamp' % name)
    else:
        first, last, hashes, why = batches[name]
        if why:
            problems.append('its batch %s is BAD' % name)
        elif hashes.get(r['id']) != meta['hash']:
            problems.append('its hash is not the one %s/chain.json holds for record %d: the time '
                            'stamp does not cover this record' % (name, r['id']))
    if problems:
        raise Bad('; '.join(problems))
    return status, summary + ('; ' + note if note else '')


def say(status, what, text=''):
    print('%-9s %s%s' % (status, what, ': ' + text if text else ''))


def main():
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    batches, n = {}, {'OK': 0, 'UNSTAMPED': 0, 'BAD': 0}
    bad_batches = 0
    number = lambda p: [int(x) for x in re.findall(r'[0-9]+', os.path.basename(p))] or [0]
    for d in sorted(glob.glob('batches/*'), key=number):
        first, last = (number(d) + [0])[:2]
        try:
            hashes, gen = check_batch(d)
            batches[d] = (first, last, hashes, None)
            say('OK', d, 'records %d..%d chain up to root.bin, which token.tsr stamps (genTime %s; '
                'openssl ts -verify checks the token)' % (first, last, gen))
        except Exception as e:   # whatever the files hold: that item is BAD, the rest is checked
            batches[d] = (first, last, {}, str(e))
            say('BAD', d, str(e))
            bad_batches += 1
    records = sorted(glob.glob('records/*'), key=number)
    for d in records:
        try:
            status, note = check_record(d, batches)
        except Exception as e:   # whatever the files hold: that item is BAD, the rest is checked
            status, note = 'BAD', str(e)
        say(status, d, note)
        n[status] += 1
    if not records:
        say('BAD', 'records/', 'no record in this export')
    print('%d record(s) OK, %d UNSTAMPED (no time stamp covers them), %d BAD; %d batch(es) BAD' %
          (n['OK'], n['UNSTAMPED'], n['BAD'], bad_batches))
    return 1 if n['BAD'] or bad_batches or not records else 2 if n['UNSTAMPED'] else 0


sys.exit(main())
