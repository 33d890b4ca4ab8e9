#!/usr/bin/env python3
"""zone.py - turn simple zone lines into an ldns-testns data file.

stdin, one per line:  NAME TYPE RDATA   (e.g. "example.test MX 10 mx1.example.test")
                      NAME SERVFAIL     (every question about NAME fails)
Names are absolute (a trailing dot is added).  A known name without
records of the asked type answers NOERROR with no data; a CNAME answers
every type with the CNAME alone (like an authoritative server); any other
name is NXDOMAIN.
"""
import sys

records, servfail, order = {}, set(), []


def fq(n):
    return n if n.endswith(".") else n + "."


for raw in sys.stdin:
    f = raw.split()
    if not f or f[0].startswith("#"):
        continue
    name = fq(f[0].lower())
    if name not in order:
        order.append(name)
    if f[1].upper() == "SERVFAIL":
        servfail.add(name)
        continue
    rtype = f[1].upper()
    rdata = f[2:]
    if rtype in ("MX", "CNAME", "PTR", "NS"):
        rdata[-1] = fq(rdata[-1])
    records.setdefault((name, rtype), []).append("%s 300 IN %s %s" % (name, rtype, " ".join(rdata)))

out = []


def entry(match, reply, question, answer=(), copy_query=False):
    out.append("ENTRY_BEGIN")
    out.append("MATCH " + match)
    out.append("REPLY " + reply)
    out.append("ADJUST copy_id" + (" copy_query" if copy_query else ""))
    out.append("SECTION QUESTION")
    if question:
        out.append(question)
    out.append("SECTION ANSWER")
    out.extend(answer)
    out.append("ENTRY_END")


for name in order:
    if name in servfail:
        entry("opcode qname", "QR RD RA SERVFAIL", "%s IN A" % name, copy_query=True)
        continue
    cname = records.get((name, "CNAME"))
    if cname:
        entry("opcode qname", "QR AA RD RA NOERROR", "%s IN A" % name, cname, copy_query=True)
        continue
    for (n, t), rrs in records.items():
        if n == name:
            entry("opcode qtype qname", "QR AA RD RA NOERROR", "%s IN %s" % (n, t), rrs)
    entry("opcode qname", "QR AA RD RA NOERROR", "%s IN A" % name, copy_query=True)
entry("opcode", "QR AA RD RA NXDOMAIN", "nonexistent. IN A", copy_query=True)
print("\n".join(out))
