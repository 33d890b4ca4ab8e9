#!/usr/bin/env bats
# smtp-recv behind its real launchers (tcpserver, systemd-socket-activate
# --accept) on a loopback port, driven by real clients (swaks, Python's
# smtplib), with messages landing in the queue through queue-inject.

load lib

setup() {
	sluice_conf
	sluice_users bob@example.test carol@example.test c@example.test d@example.test x@example.test
	unset RELAYCLIENT QMAILQUEUE TCPREMOTEIP TCPLOCALIP REMOTE_ADDR REMOTE_PORT
	export TZ=UTC
	PORT=2525
}

start_tcpserver() { # [tcpserver options]
	bg_start tcpserver -HR -l mx.example.test "$@" 127.0.0.1 "$PORT" smtp-recv
	wait_for 10 port_open "$PORT"
}

start_socket_activate() {
	# --inetd: the connection on fd 0/1 (without it the socket is fd 3)
	bg_start systemd-socket-activate --accept --inetd -l "127.0.0.1:$PORT" -E SLUICE_CONF -E PATH -E TZ -E ASAN_OPTIONS smtp-recv
	wait_for 10 port_open "$PORT"
}

# the one queue file, once it is there
one_queued() {
	[ "$(queued_files | wc -l)" = 1 ]
}

# check_queue_file SENDER RCPT BODY-LINE: envelope, our Received: line, the body
check_queue_file() {
	local f
	f=$(queued_files)
	queue_check_ok "$f"
	without_check "$f" >"$BATS_TEST_TMPDIR/qf"
	printf 'F%s\nT%s\n\n' "$1" "$2" | cmp - <(head -n3 "$BATS_TEST_TMPDIR/qf")
	sed -n 4p "$BATS_TEST_TMPDIR/qf" | grep -Eq '^Received: from [^ ]+ \(\[127\.0\.0\.1\]\)$'
	sed -n 5p "$BATS_TEST_TMPDIR/qf" | grep -Eq "^	by mx\.example\.test \(sluice\) with ESMTP id $(basename "$f")\$"
	grep -qx "$3" "$f"
	! grep -q $'\r' "$f" || false
}

swaks_send() { # extra swaks options
	swaks --server 127.0.0.1 --port "$PORT" --helo client.example --timeout 20 "$@"
}

@test "tcpserver + swaks: a message lands in the queue, whole" {
	start_tcpserver
	run swaks_send --from alice@example.org --to bob@example.test --body 'hello over tcpserver'
	[ "$status" -eq 0 ]
	[[ "$output" == *"250 2.0.0 Ok: queued as "* ]]
	wait_for 10 one_queued
	check_queue_file alice@example.org bob@example.test 'hello over tcpserver'
	grep -q 'event=connect remote=127.0.0.1 port=[0-9]* local=127.0.0.1:2525' "$BATS_TEST_TMPDIR/bg.log"
}

@test "tcpserver + swaks --pipeline: lines starting with dots arrive unchanged" {
	start_tcpserver
	printf 'Subject: dots\n\n.starts with a dot\n..two\n.\nend\n' >"$BATS_TEST_TMPDIR/msg"
	run swaks_send --pipeline --from a@example.org --to bob@example.test --data @"$BATS_TEST_TMPDIR/msg"
	[ "$status" -eq 0 ]
	[[ "$output" == *"<** "* ]] && { echo "$output"; false; }
	wait_for 10 one_queued
	tail -n 5 "$(queued_files)" | cmp - <(printf '.starts with a dot\n..two\n.\nend\n\n') # swaks adds the last empty line
}

@test "tcpserver: relaying is refused, and allowed by RELAYCLIENT from tcprules" {
	start_tcpserver
	run swaks_send --from a@example.org --to x@elsewhere.example
	[ "$status" -ne 0 ]
	[[ "$output" == *"554 5.7.1 Relay access denied"* ]]
	bg_stop_all
	printf '127.0.0.1:allow,RELAYCLIENT=""\n:allow\n' >"$BATS_TEST_TMPDIR/rules"
	tcprules "$BATS_TEST_TMPDIR/rules.cdb" "$BATS_TEST_TMPDIR/rules.tmp" <"$BATS_TEST_TMPDIR/rules"
	PORT=2526
	start_tcpserver -x "$BATS_TEST_TMPDIR/rules.cdb"
	run swaks_send --from a@example.org --to x@elsewhere.example --body relayed
	[ "$status" -eq 0 ]
	wait_for 10 one_queued
	check_queue_file a@example.org x@elsewhere.example relayed
}

@test "tcpserver + Python smtplib: EHLO, SIZE, pipelined envelope, and BDAT by hand" {
	start_tcpserver
	python3 - "$PORT" <<'PY'
import smtplib, sys
from email.message import EmailMessage
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="py.example", timeout=20)
code, _ = s.ehlo()
assert code == 250
for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "smtputf8", "chunking"):
    assert s.has_extn(ext), ext
assert s.esmtp_features["size"] == "26214400"
m = EmailMessage()
m["From"] = "py@example.org"
m["To"] = "bob@example.test"
m["Subject"] = "from smtplib"
m.set_content("smtplib body\n.\n..\n")
refused = s.send_message(m)
assert refused == {}, refused
try:
    s.sendmail("py@example.org", ["x@elsewhere.example"], "Subject: no\r\n\r\nno\r\n")
    raise SystemExit("relay accepted")
except smtplib.SMTPRecipientsRefused as e:
    assert e.recipients["x@elsewhere.example"][0] == 554
# BDAT in two chunks, sent in one write with the envelope
body = b"Subject: chunked\r\n\r\nin two\r\nchunks\r\n"
s.send(b"MAIL FROM:<py@example.org>\r\nRCPT TO:<bob@example.test>\r\nBDAT 20\r\n" + body[:20] +
       b"BDAT %d LAST\r\n" % (len(body) - 20) + body[20:])
for want in (250, 250, 250, 250):
    code, msg = s.getreply()
    assert code == want, (code, msg)
assert msg.startswith(b"2.0.0 Ok: queued as "), msg
s.quit()
PY
	wait_for 10 sh -c "[ \$(find '$QUEUE/new' -type f | wc -l) = 2 ]"
	grep -l 'Subject: from smtplib' "$QUEUE"/new/* >"$BATS_TEST_TMPDIR/f1"
	f1=$(cat "$BATS_TEST_TMPDIR/f1")
	tail -n 3 "$f1" | cmp - <(printf 'smtplib body\n.\n..\n')
	f2=$(grep -l 'Subject: chunked' "$QUEUE"/new/*)
	tail -n 3 "$f2" | cmp - <(printf '\nin two\nchunks\n')
}

@test "replies are flushed before the server blocks, and grouped under pipelining" {
	start_tcpserver
	python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = s.makefile("rb")
assert f.readline().startswith(b"220 ")
# one command alone: its reply must come although nothing else is sent
s.sendall(b"NOOP\r\n")
assert f.readline() == b"250 2.0.0 Ok\r\n"
# a group in one write: all replies, in order, the 354 last
s.sendall(b"EHLO p.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\nRCPT TO:<x@elsewhere.example>\r\nDATA\r\n")
lines = []
while not lines or not lines[-1].startswith(b"354"):
    lines.append(f.readline())
assert [l[:3] for l in lines] == [b"250"] * 9 + [b"554", b"354"], lines
s.sendall(b"Subject: flush\r\n\r\nbody\r\n.\r\n")
assert f.readline().startswith(b"250 2.0.0 Ok: queued as ")
s.sendall(b"QUIT\r\n")
assert f.readline().startswith(b"221 ")
PY
	wait_for 10 one_queued
}

@test "tcpserver, limit timeout: a silent client, and one whose command stops coming, get 421 4.4.2 in time" {
	echo 'timeout 2' >"$CONF/limits"
	start_tcpserver
	# the socket's reads wait in read(2) bounded by SO_RCVTIMEO (lib/bio.c);
	# a command's octets must all come within the timeout, so an octet
	# 1.5 s in leaves 0.5 s for the rest, not another 2 s
	python3 - "$PORT" <<'PY'
import socket, sys, time
for trickle in (False, True):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"220 ")
    start = time.monotonic()
    if trickle:
        time.sleep(1.5)
        s.sendall(b"N")
    line = f.readline()
    took = time.monotonic() - start
    assert line == b"421 4.4.2 mx.example.test Timeout, closing connection\r\n", line
    assert f.readline() == b"", "not closed"
    assert 1.8 < took < 3.2, (trickle, took)
    s.close()
PY
	# logged before the close the client waited for
	[ "$(grep -c 'event=disconnect remote=127.0.0.1 reason=timeout' "$BATS_TEST_TMPDIR/bg.log")" = 2 ]
}

@test "systemd-socket-activate --accept + swaks: a message lands in the queue" {
	start_socket_activate
	run swaks_send --from alice@example.org --to bob@example.test --body 'hello over systemd'
	[ "$status" -eq 0 ]
	wait_for 10 one_queued
	check_queue_file alice@example.org bob@example.test 'hello over systemd'
	grep -q 'event=connect remote=127.0.0.1 port=[0-9]* local=127.0.0.1:2525' "$BATS_TEST_TMPDIR/bg.log"
}

@test "systemd-socket-activate --accept + Python smtplib: two messages in one connection" {
	start_socket_activate
	python3 - "$PORT" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="py.example", timeout=20)
s.sendmail("", ["bob@example.test"], b"Subject: one\r\n\r\nfirst\r\n")
s.sendmail("p@example.org", ["postmaster"], b"Subject: two\r\n\r\nsecond\r\n")
s.quit()
PY
	wait_for 10 sh -c "[ \$(find '$QUEUE/new' -type f | wc -l) = 2 ]"
	f1=$(grep -l '^first$' "$QUEUE"/new/*)
	f2=$(grep -l '^second$' "$QUEUE"/new/*)
	printf 'F\nTbob@example.test\n\n' | cmp - <(without_check "$f1" | head -n3)
	printf 'Fp@example.org\nTpostmaster@example.test\n\n' | cmp - <(without_check "$f2" | head -n3)
	grep -q 'event=disconnect remote=127.0.0.1 reason=quit messages=2 rcpts=2 errors=0' "$BATS_TEST_TMPDIR/bg.log"
}
