#!/usr/bin/env python3
"""smtp-peer - a scripted SMTP server for tests of SMTP clients.

Listens on ADDR:PORT and answers like a small ESMTP server whose replies
the test chooses: per-recipient RCPT replies, the greeting, the extensions
offered, the reply to the end of data.  Every byte the client sends (after
TLS, the decrypted bytes) is appended to --record, so a test can compare
the exact wire format.  STARTTLS is offered with --tls CERT KEY, AUTH
PLAIN/LOGIN with --auth USER:PASS (recorded in --record as sent).
"""
import argparse
import base64
import socket
import socketserver
import ssl
import sys
import threading

p = argparse.ArgumentParser()
p.add_argument("--listen", required=True, help="ADDR:PORT")
p.add_argument("--record", help="append the client's bytes here")
p.add_argument("--greeting", default="220 peer.test ESMTP smtp-peer")
p.add_argument("--rcpt", action="append", default=[], help="ADDR=REPLY (default 250 2.1.5 ok)")
p.add_argument("--mail-reply", default="250 2.1.0 ok")
p.add_argument("--data-reply", default="250 2.0.0 ok queued")
p.add_argument("--no-ehlo", action="store_true", help="refuse EHLO with 502")
p.add_argument("--no-pipelining", action="store_true")
p.add_argument("--no-smtputf8", action="store_true")
p.add_argument("--size", type=int, default=0, help="SIZE limit to announce")
p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
p.add_argument("--tls-broken", action="store_true", help="offer STARTTLS, then hang up at the handshake")
p.add_argument("--tls-inject", action="store_true",
               help="send a forged reply in the same write as the STARTTLS 220")
p.add_argument("--auth-mechs", default="PLAIN LOGIN")
p.add_argument("--auth", help="USER:PASS accepted by AUTH")
p.add_argument("--drop-at", help="close the connection on this command (e.g. DATA)")
p.add_argument("--messages-per-connection", type=int, default=0,
               help="close the connection, without a word, after this many messages")
p.add_argument("--stall-after", type=int, default=0,
               help="after this many messages on a connection, read on but answer nothing")
args = p.parse_args()

rcpt_replies = {}
for r in args.rcpt:
    a, _, reply = r.partition("=")
    rcpt_replies[a.lower()] = reply
lock = threading.Lock()


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.tls = False
        self.messages = 0

    def record(self, data):
        if args.record:
            with lock, open(args.record, "ab") as f:
                f.write(data)

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 100000:
                raise EOFError
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.record(d)
            self.buf += d
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def ehlo_lines(self):
        ext = ["peer.test hello"]
        if not args.no_pipelining:
            ext.append("PIPELINING")
        ext.append("SIZE %d" % args.size if args.size else "SIZE")
        ext.append("8BITMIME")
        if not args.no_smtputf8:
            ext.append("SMTPUTF8")
        if (args.tls or args.tls_broken or args.tls_inject) and not self.tls:
            ext.append("STARTTLS")
        if args.auth and self.tls:
            ext.append("AUTH " + args.auth_mechs)
        return ["250-" + e for e in ext[:-1]] + ["250 " + ext[-1]]

    def run(self):
        self.send(args.greeting)
        if not args.greeting.startswith("220"):
            self.readline()
            self.send("221 bye")
            return
        while True:
            line = self.readline().rstrip(b"\r\n").decode("utf-8", "replace")
            verb = line.split(" ", 1)[0].upper()
            if args.stall_after and self.messages >= args.stall_after:
                continue
            if args.drop_at and verb == args.drop_at.upper():
                return
            if verb == "EHLO":
                if args.no_ehlo:
                    self.send("502 5.5.1 EHLO not here")
                else:
                    self.sock.sendall(("\r\n".join(self.ehlo_lines()) + "\r\n").encode())
            elif verb == "HELO":
                self.send("250 peer.test")
            elif verb == "STARTTLS" and args.tls_inject:
                self.sock.sendall(b"220 2.0.0 go ahead\r\n250 2.0.0 forged\r\n")
            elif verb == "STARTTLS" and args.tls_broken:
                self.send("220 2.0.0 go ahead")
                self.record(b"<BROKEN TLS>\r\n")
                return
            elif verb == "STARTTLS" and args.tls and not self.tls:
                if self.buf:
                    self.send("501 5.5.1 pipelined STARTTLS")
                    continue
                self.send("220 2.0.0 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(args.tls[0], args.tls[1])
                self.sock = ctx.wrap_socket(self.sock, server_side=True)
                self.tls = True
                self.record(b"<TLS>\r\n")
            elif verb == "AUTH" and args.auth:
                parts = line.split()
                user, pw = args.auth.split(":", 1)
                ok = False
                if len(parts) == 3 and parts[1].upper() == "PLAIN":
                    ok = base64.b64decode(parts[2]) == b"\0" + user.encode() + b"\0" + pw.encode()
                elif len(parts) == 2 and parts[1].upper() == "LOGIN":
                    self.send("334 VXNlcm5hbWU6")
                    u = base64.b64decode(self.readline().strip())
                    self.send("334 UGFzc3dvcmQ6")
                    w = base64.b64decode(self.readline().strip())
                    ok = (u, w) == (user.encode(), pw.encode())
                self.send("235 2.7.0 ok" if ok else "535 5.7.8 bad credentials")
            elif verb == "MAIL":
                self.send(args.mail_reply)
            elif verb == "RCPT":
                addr = line.split(":", 1)[1].strip().split(">")[0].lstrip("<").lower()
                self.send(rcpt_replies.get(addr, "250 2.1.5 ok"))
            elif verb == "DATA":
                self.send("354 go ahead")
                while self.readline() != b".\r\n":
                    pass
                self.send(args.data_reply)
                self.messages += 1
                if self.messages == args.messages_per_connection:
                    self.record(b"<CLOSED>\r\n")
                    return
            elif verb == "RSET" or verb == "NOOP":
                self.send("250 ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            else:
                self.send("502 5.5.2 unknown command")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        c = Conn(self.request)
        try:
            c.run()
        except (EOFError, OSError, ssl.SSLError):
            pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


host, _, port = args.listen.rpartition(":")
host = host.strip("[]")
if ":" in host:
    Server.address_family = socket.AF_INET6
srv = Server((host, int(port)), Handler)
sys.stdout.write("listening %s\n" % args.listen)
sys.stdout.flush()
srv.serve_forever()
