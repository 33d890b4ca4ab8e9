#!/usr/bin/env bats
# Fault injection (issue 8): a full disk during injection and during local
# delivery, kill -9 of every program in the path under load, slow
# clients, connection limits, an oversized header block through the
# filter, a DNS server that never answers (dnsbl), a remote server that
# stalls mid-reply.  Real programs behind tcpserver, real clients
# (python smtplib), real maildirs.  (A client dropping mid-DATA and the
# line, size and recipient limits are in smtp-recv.bats; a silent DNS
# server for deliver-remote in deliver-remote.bats.)

load lib

setup() {
	sluice_conf
	unset RELAYCLIENT QMAILQUEUE
	T=$BATS_TEST_TMPDIR
	PORT=2525
	sluice_users bob@example.test u1@example.test u2@example.test u3@example.test
}

need_root() { [ "$(id -u)" = 0 ] || skip "needs root (a tmpfs in a private mount namespace)"; }

queue_empty() { [ -z "$(find "$QUEUE/new" "$QUEUE/msg" "$QUEUE/state" -type f)" ]; }

# session FILE SIZE: an SMTP session to bob@ whose message has SIZE octets of body
session() {
	python3 - "$1" "$2" <<-'EOF2'
		import sys
		body = (b"x" * 70 + b"\r\n") * (int(sys.argv[2]) // 72 + 1)
		s = (b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\n"
		     b"DATA\r\nSubject: big\r\n\r\n" + body + b".\r\nRSET\r\nQUIT\r\n")
		open(sys.argv[1], "wb").write(s)
	EOF2
}

@test "a full disk during injection through smtp-recv: 452 4.3.1, nothing queued, the session goes on" {
	need_root
	mnt=$T/small
	mkdir -p "$mnt"
	session "$T/in" 600000
	unshare -m sh -c "
		mount -t tmpfs -o size=256k tmpfs '$mnt' && mkdir -p '$mnt/q/tmp' '$mnt/q/new' &&
		echo '$mnt/q' >'$CONF/queuedir' &&
		smtp-recv <'$T/in' >'$T/out' 2>'$T/err';
		find '$mnt/q' -type f >'$T/left'"
	tr -d '\r' <"$T/out" | grep -x '452 4.3.1 Insufficient system storage, try again later (#53)'
	! grep -q '^250 2.0.0 Ok: queued' "$T/out" || false
	tr -d '\r' <"$T/out" | tail -2 | head -1 | grep -x '250 2.0.0 Ok'   # RSET after it
	[ ! -s "$T/left" ]
	grep -q 'prog=queue-inject .*event=fail' "$T/err"
}

@test "a full disk during local delivery: temporary failure, still queued, nothing half-written, delivered once space is back" {
	need_root
	mnt=$T/small
	mkdir -p "$mnt"
	printf 'bob@example.test %s/bob/\n' "$mnt" >"$CONF/users"
	printf 'retry-min 1\n' >"$CONF/limits"
	python3 -c 'import sys; sys.stdout.write("Subject: fill\n\n" + ("y" * 99 + "\n") * 1500)' >"$T/msg"
	inject_env a@example.org bob@example.test <"$T/msg"
	id=$(ls "$QUEUE/new")
	cat >"$T/script" <<-EOF2
		set -u
		mount -t tmpfs -o size=256k tmpfs '$mnt' || exit 1
		mkdir -p '$mnt/bob/tmp' '$mnt/bob/new' '$mnt/bob/cur'
		head -c 200k /dev/zero >'$mnt/filler'
		queue-run -1 >'$T/run1' 2>&1
		find '$mnt/bob' -type f >'$T/after1'
		rm '$mnt/filler'
		i=0
		while [ \$i -lt 40 ] && [ -z "\$(ls '$mnt/bob/new')" ]; do
			queue-run -1 >>'$T/run2' 2>&1; sleep 0.25; i=\$((i + 1))
		done
		for f in '$mnt'/bob/new/*; do cp "\$f" '$T/delivered'; done
		find '$mnt/bob' -type f >'$T/after2'
	EOF2
	timeout 60 unshare -m sh "$T/script"
	grep -q "id=$id .*result=deferred" "$T/run1" || { cat "$T/run1"; false; }
	[ ! -s "$T/after1" ]                         # no partial mailbox file
	grep -q "id=$id .*result=delivered" "$T/run2"
	[ "$(wc -l <"$T/after2")" = 1 ]
	tail -n +3 "$T/delivered" | cmp - "$T/msg"     # after Return-Path: and Delivered-To:
	queue_empty
}

# descendants PID...: every process below these (ours only: found by parent)
descendants() {
	ps -e -o pid=,ppid= | awk -v roots="$*" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) mine[r[i]] = 1 }
		{ parent[$1] = $2 }
		END {
			do {
				more = 0
				for (p in parent)
					if (!(p in mine) && (parent[p] in mine)) { mine[p] = 1; more = 1; print p }
			} while (more)
		}'
}

@test "kill -9 of smtp-recv, queue-inject, queue-run and deliver-local under load: every 250 is delivered" {
	# a random kill can hit the leak checker's helper process and leave the dying program spinning
	export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}detect_leaks=0"
	printf 'retry-min 1\nretry-max 2\nconcurrency-local 5\n' >"$CONF/limits"
	bg_start tcpserver -HR -c 20 -l mx.example.test 127.0.0.1 "$PORT" smtp-recv
	wait_for 10 port_open "$PORT"
	tcpserver_pid=$(tail -1 "$T/bg.pids")
	cat >"$T/client.py" <<-'EOF2'
		import smtplib, sys, threading
		port, acked = int(sys.argv[1]), sys.argv[2]
		lock = threading.Lock()
		def worker(w):
		    for i in range(50):
		        tok = "m-%d-%d" % (w, i)
		        rcpt = "u%d@example.test" % (i % 3 + 1)
		        msg = "Subject: %s\r\n\r\nbody of %s\r\n%send-of-%s\r\n" % (tok, tok, ("z" * 70 + "\r\n") * 30, tok)
		        try:
		            with smtplib.SMTP("127.0.0.1", port, timeout=20) as s:
		                s.sendmail("a@example.org", [rcpt], msg)
		        except (smtplib.SMTPException, OSError):
		            continue
		        with lock, open(acked, "a") as f:
		            f.write(tok + "\n")
		ts = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
		for t in ts: t.start()
		for t in ts: t.join()
	EOF2
	: >"$T/acked"
	bg_start python3 "$T/client.py" "$PORT" "$T/acked"
	client=$(tail -1 "$T/bg.pids")
	bg_start queue-run
	qr=$(tail -1 "$T/bg.pids")
	kills=0
	deadline=$((SECONDS + 90))
	# until the client is done, and at least 10 kills (a fast machine can
	# finish the load before many kills; queue-run is always there to kill)
	while { kill -0 "$client" 2>/dev/null || [ $kills -lt 10 ]; } && [ $SECONDS -lt $deadline ]; do
		sleep "0.00$((RANDOM % 9 + 1))"
		victims=($(descendants "$tcpserver_pid" "$qr"))
		if [ $((RANDOM % 8)) = 0 ] || [ ${#victims[@]} -eq 0 ]; then
			kill -KILL "$qr"
			bg_start queue-run   # the killed one is reaped by init: it was setsid'd
			qr=$(tail -1 "$T/bg.pids")
			kills=$((kills + 1))
		elif [ ${#victims[@]} -gt 0 ]; then
			kill -KILL "${victims[RANDOM % ${#victims[@]}]}" 2>/dev/null && kills=$((kills + 1))
		fi
	done
	echo "kills: $kills in $((SECONDS - deadline + 90))s, acknowledged: $(wc -l <"$T/acked")" >&3
	! kill -0 "$client" 2>/dev/null || false
	[ "$kills" -gt 5 ]
	[ "$(wc -l <"$T/acked")" -gt 150 ]
	# a fresh queue-run: everything acknowledged comes out
	kill -KILL "$qr"
	bg_start queue-run
	wait_for 60 queue_empty || { tail "$T/bg.log"; false; }
	python3 - "$T/acked" "$MAIL" >&3 <<-'EOF2'
		import mailbox, os, sys
		acked = set(open(sys.argv[1]).read().split())
		seen = {}
		for u in ("u1", "u2", "u3"):
		    md = os.path.join(sys.argv[2], u)
		    if not os.path.isdir(md):
		        continue
		    for key, m in mailbox.Maildir(md, create=False).items():
		        tok = m["Subject"]
		        body = m.get_payload()
		        assert body.endswith("end-of-%s\n" % tok), "truncated: %s" % tok
		        seen[tok] = seen.get(tok, 0) + 1
		lost = acked - set(seen)
		dups = sum(n - 1 for n in seen.values())
		print("delivered %d distinct, %d duplicates, %d acknowledged" % (len(seen), dups, len(acked)))
		assert not lost, "lost: %s" % sorted(lost)
	EOF2
}

@test "a client sending one octet a second is closed by the timeout, in commands and in DATA; nothing queued" {
	printf 'timeout 2\n' >"$CONF/limits"
	recv_tcpserver
	run timeout 30 python3 - "$PORT" <<-'EOF2'
		import socket, sys, time
		def slow(prefix, trickle, step):
		    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
		    f = s.makefile("rb")
		    f.readline()
		    for line in prefix:
		        s.sendall(line)
		        while True:
		            r = f.readline()
		            if r[3:4] != b"-":
		                break
		    start = time.time()
		    sent = 0
		    try:
		        for b in trickle:
		            s.sendall(bytes([b]))
		            sent += 1
		            time.sleep(step)
		    except OSError:
		        pass
		    rest = f.read()
		    print("%s after %.1fs, %d octets" % (rest.split(b"\r\n")[0].decode(), time.time() - start, sent))
		slow([], b"EHLO slow.client.example\r\n", 1.0)
		slow([b"EHLO c.example\r\n", b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<bob@example.test>\r\n",
		      b"DATA\r\n"], b"Subject: slow\r\n\r\n" + b"x" * 3000 + b"\r\n.\r\n", 0.01)
	EOF2
	echo "$output"
	[ "$status" = 0 ]
	for l in "${lines[@]}"; do
		[[ $l == "421 4.4.2 mx.example.test Timeout, closing connection after "* ]]
		t=${l#*after }
		[ "${t%%.*}" -lt 5 ]
	done
	[ -z "$(queued_files)" ]
}

@test "tcpserver -c: connections past the limit wait, none crashes, every accepted message is queued" {
	bg_start tcpserver -HR -c 2 -l mx.example.test 127.0.0.1 "$PORT" smtp-recv
	wait_for 10 port_open "$PORT"
	tcpserver_pid=$(tail -1 "$T/bg.pids")
	run timeout 60 python3 - "$PORT" <<-'EOF2'
		import smtplib, socket, sys, threading
		port = int(sys.argv[1])
		def greet(timeout):
		    s = socket.create_connection(("127.0.0.1", port), timeout=5)
		    s.settimeout(timeout)
		    try:
		        return s, s.recv(100)
		    except socket.timeout:
		        return s, b""
		a, ga = greet(5)
		b, gb = greet(5)
		c, gc = greet(1)
		print("third before:", gc[:3].decode() or "waiting")
		a.close()
		c.settimeout(5)
		print("third after:", c.recv(100)[:3].decode())
		b.close(); c.close()
		ok = []
		def send(i):
		    try:
		        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
		            s.sendmail("a@example.org", ["bob@example.test"], "Subject: c%d\r\n\r\nx\r\n" % i)
		        ok.append(i)
		    except Exception as e:
		        print("client", i, e)
		ts = [threading.Thread(target=send, args=(i,)) for i in range(16)]
		for t in ts: t.start()
		for t in ts: t.join()
		print("accepted:", len(ok))
	EOF2
	echo "$output"
	[ "${lines[0]}" = "third before: waiting" ]
	[ "${lines[1]}" = "third after: 220" ]
	[ "${lines[2]}" = "accepted: 16" ]
	[ "$(queued_files | wc -l)" = 16 ]
	kill -0 "$tcpserver_pid"
	! grep -qi 'segmentation\|sanitizer\|core dumped' "$T/bg.log" || false
}

@test "an oversized header block (one field folded 20000 times, 20000 fields) through smtp-filter: queued whole or refused, never a crash" {
	printf 'eom header Subject =~ /never-matches-this/ reject 554 5.7.1 "no"\n' >"$CONF/rules"
	echo 'smtp-filter -- queue-inject' >"$CONF/chain"
	python3 - "$T/in" <<-'EOF2'
		import sys
		h = b"Subject: folded" + b"".join(b"\r\n x%d" % i for i in range(20000)) + b"\r\n"
		h += b"".join(b"X-F%d: v\r\n" % i for i in range(20000))
		s = (b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<bob@example.test>\r\n"
		     b"DATA\r\n" + h + b"\r\nbody\r\n.\r\nQUIT\r\n")
		open(sys.argv[1], "wb").write(s)
	EOF2
	timeout 30 smtp-recv <"$T/in" >"$T/out" 2>"$T/err"
	reply=$(tr -d '\r' <"$T/out" | sed -n '/^354/{n;p}')
	echo "$reply"
	! grep -qi 'sanitizer\|runtime error\|signal' "$T/err" || false
	case $reply in
	"250 2.0.0 Ok: queued as "*)
		f=$(queued_files)
		[ "$(grep -c '^X-F' "$f")" = 20000 ]
		grep -q '^ x19999$' "$f" ;;
	5[0-9][0-9]" "*|4[0-9][0-9]" "*)
		[ -z "$(queued_files)" ] ;;
	*) false ;;
	esac
}

@test "dnsbl with a DNS server that never answers: bounded, lists nobody, logged" {
	[ -n "${SLUICE_NETNS:-}" ] || skip "needs the private network namespace of tests/run (root)"
	bg_start python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.9", 53))
while True: s.recv(4096)'
	wait_for 10 sh -c 'ss -uln | grep -q 127.0.0.9:53'
	echo 'nameserver 127.0.0.9' >"$CONF/resolv.conf"
	printf 'connect dnsbl bl.test reject 554 5.7.1 "listed"\n' >"$CONF/rules"
	start=$(date +%s)
	printf 'request=smtpd_access_policy\nprotocol_state=CONNECT\nclient_address=192.0.2.99\n\n' |
		timeout 60 smtp-filter -p >"$T/out" 2>"$T/err"
	took=$(($(date +%s) - start))
	echo "took ${took}s" >&3
	printf 'action=DUNNO\n\n' | cmp - "$T/out"
	grep -q 'zone=bl.test' "$T/err"
	[ "$took" -lt 40 ]
}

# stall_peer ADDR PORT MODE: an SMTP server that stops in the middle of a reply
stall_peer() {
	cat >"$T/stall.py" <<-'EOF2'
		import socket, sys, time
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		s.bind((sys.argv[1], int(sys.argv[2])))
		s.listen(5)
		while True:
		    c, _ = s.accept()
		    if sys.argv[3] == "greeting":
		        c.sendall(b"220-stall.test first line of the greeting\r\n")
		    else:
		        c.sendall(b"220 stall.test ESMTP\r\n")
		        c.recv(1000)
		        c.sendall(b"250-stall.test\r\n250-PIPELINING\r\n25")
		    time.sleep(30)
		    c.close()
	EOF2
	bg_start python3 "$T/stall.py" "$@"
	wait_for 10 port_open "$2" "$1"
}

@test "a remote server that stalls mid-reply: deliver-remote times out and reports a temporary failure" {
	printf 'remote-connect-timeout 2\nremote-greeting-timeout 2\nremote-command-timeout 2\n' >"$CONF/limits"
	printf 'Subject: s\n\nx\n' >"$T/msg"
	for mode in greeting ehlo; do
		stall_peer 127.0.0.7 2526 "$mode"
		echo "example.test [127.0.0.7]:2526" >"$CONF/routes"
		start=$(date +%s)
		run sh -c 'timeout 30 deliver-remote example.test a@example.org bob@example.test <"$0" 2>>"$0.log" | tr "\0" "\n"' "$T/msg"
		took=$(($(date +%s) - start))
		echo "$mode: ${took}s: $output"
		[ "${lines[0]:0:1}" = s ]
		[ "${lines[1]:0:1}" = Z ]
		[ "$took" -lt 10 ]
		bg_stop_all
	done
}
