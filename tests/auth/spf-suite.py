#!/usr/bin/python3
"""Run the RFC 7208 test suite (python3-spf's rfc7208-tests.yml) against
`mail-auth spf`, each scenario's zone data served by its own ldns-testns.

usage: spf-suite.py WORKDIR [SUITE]
Prints one line per test (ok / FAIL) and last "passed N of M".
"""
import gzip
import os
import socket
import struct
import subprocess
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnszone  # noqa: E402

SUITE = '/usr/share/doc/python3-spf/rfc7208-tests.yml.gz'


def records(zonedata):
    """the suite's zone data as dnszone records, as pyspf's driver reads it:
    SPF records double as TXT where a name has no TXT of its own"""
    out = {}
    for name, items in (zonedata or {}).items():
        rrs, spf, has_txt = [], [], False
        for item in items or []:
            if item == 'TIMEOUT':
                rrs.append(('TIMEOUT', None))
                continue
            for rtype, value in item.items():
                if rtype in ('TXT', 'SPF') and isinstance(value, str) and value != 'TIMEOUT':
                    value = [value]
                if rtype == 'TXT':
                    has_txt = True
                if value == ['NONE']:
                    continue
                if rtype == 'SPF':
                    spf.append(value)
                rrs.append((rtype, value))
        if not has_txt:
            rrs.extend(('TXT', v) for v in spf)
        out[str(name)] = rrs
    return out


def dns_ready(port, deadline):
    q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0) + b'\x04test\x00\x00\x10\x00\x01'
    while time.time() < deadline:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.1)
        try:
            s.sendto(q, ('127.0.0.1', port))
            s.recv(512)
            return True
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    return False


def main():
    work = sys.argv[1]
    suite = sys.argv[2] if len(sys.argv) > 2 else SUITE
    opener = gzip.open if suite.endswith('.gz') else open
    with opener(suite, 'rt', encoding='utf-8') as f:
        scenarios = [d for d in yaml.safe_load_all(f) if d]
    conf = os.path.join(work, 'conf')
    os.makedirs(conf, exist_ok=True)
    with open(os.path.join(conf, 'me'), 'w') as f:
        f.write('receiver.test\n')
    with open(os.path.join(conf, 'limits'), 'w') as f:
        f.write('dns-timeout 1\ndns-retries 0\n')
    env = dict(os.environ, SLUICE_CONF=conf)
    passed = total = 0
    for n, sc in enumerate(scenarios):
        port = 20000 + n
        data = os.path.join(work, 'zone%d.data' % n)
        with open(data, 'w') as f:
            f.write(dnszone.testns(records(sc.get('zonedata'))))
        with open(os.path.join(conf, 'nameservers'), 'w') as f:
            f.write('127.0.0.1 %d\n' % port)
        log = open(os.path.join(work, 'testns%d.log' % n), 'w')
        srv = subprocess.Popen(['ldns-testns', '-p', str(port), data], stdout=log, stderr=log)
        try:
            if not dns_ready(port, time.time() + 10):
                print('FAIL scenario %r: ldns-testns did not start' % sc.get('description'))
                total += len(sc['tests'])
                continue
            for name, t in sorted(sc['tests'].items()):
                want = t['result']
                want = [want] if isinstance(want, str) else list(want)
                r = subprocess.run(['mail-auth', 'spf', str(t['host']), str(t.get('helo', '')),
                                    str(t.get('mailfrom', ''))], env=env, capture_output=True,
                                   text=True, errors='replace', timeout=30)
                got = r.stdout.split()[0][4:] if r.stdout.startswith('spf=') else 'error(%d)' % r.returncode
                total += 1
                if got in want:
                    passed += 1
                    print('ok   %s: %s' % (name, got))
                else:
                    print('FAIL %s: want %s got %s' % (name, '/'.join(want), got))
        finally:
            srv.terminate()
            srv.wait(timeout=10)
            log.close()
    print('passed %d of %d' % (passed, total))


if __name__ == '__main__':
    main()
