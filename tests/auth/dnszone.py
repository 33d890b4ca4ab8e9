#!/usr/bin/python3
"""Zone data to an ldns-testns data file.

ldns-testns answers from canned entries matched first to last; this turns
ordinary records into entries that behave like an authoritative server with
a recursive front: answers (CNAMEs followed inside the zone), NODATA for a
name that exists without the type, NXDOMAIN for anything else, SERVFAIL
for names marked TIMEOUT (the resolver then sees a temporary failure at
once instead of waiting out a timeout).

As a program: dnszone.py ZONE > DATAFILE, where ZONE has lines
    name TYPE value
(TXT: the rest of the line is the text, split into 255-byte strings;
MX: "pref host"; A, AAAA, PTR, CNAME: the value; "name TIMEOUT").
As a module: testns(records) with records a dict name -> list of
(type, value) where a TXT value may be a list of strings.
"""
import sys


def esc(b):
    out = []
    for c in b:
        if c in (0x22, 0x5C):
            out.append('\\' + chr(c))
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append('\\%03d' % c)
    return '"' + ''.join(out) + '"'


def txt_rdata(value):
    parts = value if isinstance(value, list) else None
    if parts is None:
        raw = value.encode() if isinstance(value, str) else value
        parts = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b'']
    else:
        parts = [p.encode() if isinstance(p, str) else p for p in parts]
        if not parts:
            parts = [b'']
    return ' '.join(esc(p) for p in parts)


def fqdn(name):
    name = name.rstrip('.').lower()
    out = ''.join('\\%03d' % b if b <= 0x20 or b >= 0x7F or chr(b) in '"();\\@$' else chr(b)
                  for b in name.encode())
    return out + '.'


def usable(name):
    n = name.rstrip('.')
    if not n or len(n) > 253:
        return False
    for label in n.split('.'):
        if not label or len(label) > 63:
            return False
    return True


def rr_text(owner, rtype, value):
    """owner as fqdn() wrote it (escaped already: never escape twice)"""
    if rtype in ('TXT', 'SPF'):
        data = txt_rdata(value)
    elif rtype == 'MX':
        pref, host = value if isinstance(value, (list, tuple)) else value.split(None, 1)
        data = '%s %s' % (pref, fqdn(str(host)) if str(host).strip('.') else '.')
    elif rtype in ('PTR', 'CNAME'):
        data = fqdn(value)
    else:
        data = str(value)
    return '%s 300 IN %s %s' % (owner, rtype, data)


def testns(records):
    """records: name -> [(TYPE, value)]; returns the data file text"""
    zone = {}
    timeout = set()
    for name, rrs in records.items():
        if not usable(name):
            continue
        key = fqdn(name)
        z = zone.setdefault(key, [])
        for rtype, value in rrs:
            if rtype == 'TIMEOUT' or value == 'TIMEOUT':
                timeout.add(key if rtype == 'TIMEOUT' else (key, rtype))
            elif rtype == 'MX' or rtype == 'CNAME' or rtype == 'PTR':
                host = value[1] if rtype == 'MX' else value
                if str(host).strip('.') and not usable(str(host)):
                    continue
                z.append((rtype, value))
            else:
                z.append((rtype, value))
    out = []

    def entry(qtype, qname, rcode, answer):
        out.append('ENTRY_BEGIN')
        out.append('MATCH opcode %s qname' % ('qtype' if qtype else '') if qtype else 'MATCH opcode qname')
        out.append('ADJUST copy_id')
        out.append('REPLY QR RD RA %s' % rcode)
        out.append('SECTION QUESTION')
        out.append('%s IN %s' % (qname, qtype or 'ANY'))
        out.append('SECTION ANSWER')
        out.extend(answer)
        out.append('ENTRY_END')
        out.append('')

    for key in sorted(k for k in timeout if isinstance(k, tuple)):
        out.append('ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\nREPLY QR RD RA SERVFAIL\n'
                   'SECTION QUESTION\n%s IN %s\nENTRY_END\n' % key)
    for name, rrs in zone.items():
        types = sorted({t for t, _ in rrs} | {'A', 'AAAA', 'MX', 'TXT', 'PTR', 'SPF'})
        for qtype in types:
            answer, cur, seen = [], name, set()
            while cur in zone and cur not in seen:
                seen.add(cur)
                here = zone[cur]
                hits = [rr_text(cur, t, v) for t, v in here if t == qtype]
                if hits:
                    answer.extend(hits)
                    break
                cname = [v for t, v in here if t == 'CNAME']
                if not cname:
                    break
                answer.append(rr_text(cur, 'CNAME', cname[0]))
                cur = fqdn(cname[0])
            if answer:
                entry(qtype, name, 'NOERROR', answer)
        # the name exists: other types get an empty answer, or time out
        out.append('ENTRY_BEGIN\nMATCH opcode qname\nADJUST copy_id\nREPLY QR RD RA %s\n'
                   'SECTION QUESTION\n%s IN TXT\nENTRY_END\n' % ('SERVFAIL' if name in timeout else 'NOERROR', name))
    out.append('ENTRY_BEGIN\nMATCH opcode\nADJUST copy_id\nREPLY QR RD RA NXDOMAIN\nENTRY_END\n')
    return '\n'.join(out) + '\n'


def parse_zone(text):
    records = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        parts = line.split(None, 2)
        name, rtype = parts[0], parts[1].upper()
        value = parts[2] if len(parts) > 2 else ''
        if rtype == 'MX':
            value = value.split(None, 1)
        records.setdefault(name, []).append((rtype, value))
    return records


if __name__ == '__main__':
    with open(sys.argv[1]) as f:
        sys.stdout.write(testns(parse_zone(f.read())))
