#!/usr/bin/python3
"""The independent implementations the mail-auth tests compare against:
dkimpy (python3-dkim) and authheaders (python3-authheaders), with every
DNS lookup sent to the test's DNS server (127.0.0.1:53, ldns-testns).

  pyauth.py dkim-verify < msg          one line per signature: "pass d=.." / "fail d=.."
  pyauth.py dkim-sign SEL DOMAIN KEYFILE rsa|ed25519|rsa-sha1 < msg
                                       the message with dkimpy's signature on top
  pyauth.py dmarc [SPFDOMAIN] < msg    authheaders' DMARC verdict: "dmarc=R policy=P"
"""
import base64
import re
import socket
import subprocess
import sys

import dkim
import dns.message
import dns.rcode
import dns.rdatatype
import authheaders


def txt(name, timeout=5):
    """TXT strings joined, as dkimpy and authheaders want them (a stub
    over real DNS: both libraries take such a function for tests).  The
    reply is read without dnspython's question check: ldns-testns's
    catch-all entries answer with a question of their own."""
    if isinstance(name, bytes):
        name = name.decode('ascii', 'replace')
    q = dns.message.make_query(name, 'TXT')
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q.to_wire(), ('127.0.0.1', 53))
        r = dns.message.from_wire(s.recv(65535))
    finally:
        s.close()
    if r.rcode() != dns.rcode.NOERROR:
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            for rr in rrset:
                return b''.join(rr.strings).decode('ascii', 'replace')
    return None


def dkim_verify(msg):
    d = dkim.DKIM(msg)
    n = len([h for h in d.headers if h[0].lower() == b'dkim-signature'])
    ok = n > 0
    for i in range(n):
        d = dkim.DKIM(msg)
        try:
            res = d.verify(idx=i, dnsfunc=txt)
        except dkim.DKIMException:
            res = False
        dom = d.signature_fields.get(b'd', b'').decode()
        alg = d.signature_fields.get(b'a', b'').decode()
        print('%s d=%s a=%s' % ('pass' if res else 'fail', dom, alg))
        ok = ok and res
    return 0 if ok else 1


def dkim_sign(sel, domain, keyfile, alg, msg):
    if alg == 'ed25519':
        # dkimpy takes the raw 32-byte Ed25519 seed in base64
        der = subprocess.run(['openssl', 'pkey', '-in', keyfile, '-outform', 'DER'],
                             capture_output=True, check=True).stdout
        key = base64.b64encode(der[-32:])
        sa = b'ed25519-sha256'
    else:
        key = open(keyfile, 'rb').read()
        sa = b'rsa-sha1' if alg == 'rsa-sha1' else b'rsa-sha256'
    sig = dkim.sign(msg, sel.encode(), domain.encode(), key, signature_algorithm=sa,
                    canonicalize=(b'relaxed', b'relaxed'), linesep=b'\n')
    sys.stdout.buffer.write(sig + msg)
    return 0


def dmarc(spf_domain, msg):
    prev = None
    if spf_domain:
        # authheaders wants an address here, not a bare domain
        prev = 'Authentication-Results: mx.test; spf=pass smtp.mailfrom=postmaster@%s' % spf_domain
    ar = authheaders.authenticate_message(msg, 'mx.test', prev=prev, spf=False, dkim=True,
                                          dmarc=True, dnsfunc=txt)
    m = re.search(r'dmarc=(\w+)', ar)
    p = re.search(r'policy\.dmarc=(\w+)', ar)
    print('dmarc=%s policy=%s' % (m.group(1) if m else '?', p.group(1) if p else 'none'))
    print(ar, file=sys.stderr)
    return 0


def main():
    msg = sys.stdin.buffer.read()
    cmd = sys.argv[1]
    if cmd == 'dkim-verify':
        return dkim_verify(msg)
    if cmd == 'dkim-sign':
        return dkim_sign(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], msg)
    if cmd == 'dmarc':
        return dmarc(sys.argv[2] if len(sys.argv) > 2 else '', msg)
    print(__doc__, file=sys.stderr)
    return 100


if __name__ == '__main__':
    sys.exit(main())
