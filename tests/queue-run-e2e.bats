#!/usr/bin/env bats
# queue-run with the real programs around it: swaks -> smtp-recv (under
# tcpserver) -> queue-inject -> queue-run -1 -> deliver-local -> maildir,
# read back with Python's mailbox module; a bounce that comes back to a
# local sender; and deliver-remote against a scripted SMTP peer (one
# message, three recipients: delivered, bounced, queued for retry; many
# messages sharing runs and connections through remote-batch).
# Each test is skipped while the programs it needs are not built.

load lib

PEER="$TOP/tests/peers/smtp-peer.py"

setup() {
	sluice_conf
	unset RELAYCLIENT QMAILQUEUE
	cat >"$CONF/users" <<-EOF
		alice@example.test     $MAIL/alice/
		bob@example.test       $MAIL/bob/
		postmaster@example.test $MAIL/postmaster/
	EOF
	PORT=2525
}

need() {
	local p
	for p; do command -v "$p" >/dev/null || skip "$p is not built"; done
}

# maildir_dump DIR: "subject | from | return-path | delivered-to" per message
maildir_dump() {
	python3 - "$1" <<-'EOF'
		import mailbox, sys
		for key, m in sorted(mailbox.Maildir(sys.argv[1], create=False).items()):
		    print('%s | %s | %s | %s' % (m['Subject'], m['From'], m['Return-Path'], m['Delivered-To']))
	EOF
}

# queue_msg SUBJECT SENDER RCPT...: a small message, queued through queue-inject
queue_msg() {
	local subject=$1 sender=$2
	shift 2
	printf 'Subject: %s\n\nbody\n' "$subject" |
		queue-inject 1< <(printf 'F%s\0' "$sender"; printf 'T%s\0' "$@"; printf '\0')
}

# the deliveries queue-run's $output reports done
delivered_n() { grep -c 'event=delivery .*result=delivered' <<<"$output"; }

# the messages each deliver-remote run (told apart by pid) took for remote.test, from $output
remote_runs() {
	grep 'prog=deliver-remote .*domain=remote.test' <<<"$output" | sed 's/.* pid=\([0-9]*\) .*/\1/' |
		sort | uniq -c | awk '{print $1}' | sort -n | tr '\n' ' '
}

queue_empty() { [ -z "$(find "$QUEUE/new" "$QUEUE/msg" "$QUEUE/state" -type f)" ]; }

# remote_peer PORT [smtp-peer.py options]: tests/peers/smtp-peer.py on
# 127.0.0.6:PORT, for the real deliver-remote (skips without either)
remote_peer() {
	local port=$1
	shift
	need deliver-remote
	[ -f "$PEER" ] || skip "tests/peers/smtp-peer.py is not there"
	bg_start python3 "$PEER" --listen "127.0.0.6:$port" "$@"
	wait_for 10 port_open "$port" 127.0.0.6
}

@test "swaks -> smtp-recv -> queue-inject -> queue-run -> deliver-local -> maildir" {
	need smtp-recv deliver-local tcpserver swaks
	bg_start tcpserver -HR -l mx.example.test 127.0.0.1 "$PORT" smtp-recv
	wait_for 10 port_open "$PORT"
	run swaks --server 127.0.0.1 --port "$PORT" --helo client.example --timeout 20 \
		--from alice@example.test --to bob@example.test --header 'Subject: end to end' --body 'hello bob'
	[ "$status" -eq 0 ]
	# a 250 means committed: the message is in new/ already
	[ -n "$(ls "$QUEUE/new")" ]
	run queue-run -1
	[ "$status" -eq 0 ]
	grep -q 'rcpt=<bob@example.test> result=delivered' <<<"$output"
	run maildir_dump "$MAIL/bob"
	[ "$output" = "end to end | alice@example.test | <alice@example.test> | bob@example.test" ]
	queue_empty
}

@test "an unknown local recipient bounces back into the local sender's maildir" {
	need deliver-local
	printf 'Subject: to nobody\nFrom: alice@example.test\n\nhello?\n' |
		queue-inject 1< <(printf 'Falice@example.test\0Tnosuch@example.test\0Tbob@example.test\0\0')
	run queue-run -1
	grep -q 'rcpt=<nosuch@example.test> result=bounced .*text="5.1.1' <<<"$output"
	grep -q 'event=bounce .*to=<alice@example.test> rcpts=1' <<<"$output"
	run queue-run -1 # delivers the bounce
	grep -q 'rcpt=<alice@example.test> result=delivered' <<<"$output"
	queue_empty
	f=$(find "$MAIL/alice/new" -type f)
	run python3 - "$f" <<-'EOF'
		import sys
		from email import message_from_binary_file, policy
		m = message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
		print(m['Return-Path'], m.get_content_type(), m.get_param('report-type'))
		report = list(m.iter_parts())[1].get_payload()[1]
		print(report['Final-Recipient'], report['Action'], report['Status'])
		print(list(m.iter_parts())[2].get_payload().splitlines()[0])
	EOF
	echo "$output"
	[ "${lines[0]}" = "<> multipart/report delivery-status" ]
	[ "${lines[1]}" = "rfc822; nosuch@example.test failed 5.1.1" ]
	[ "${lines[2]}" = "Subject: to nobody" ]
	[ "$(maildir_dump "$MAIL/bob")" = "to nobody | alice@example.test | <alice@example.test> | bob@example.test" ]
}

# dl_runs: the deliver-local processes the last output shows (their log lines' pids)
dl_runs() { grep -o 'prog=deliver-local pid=[0-9]*' <<<"$output" | sort -u | wc -l; }

@test "local-batch: recipients of many messages share deliver-local runs; each result lands in its own message" {
	need deliver-local
	# 19 messages: one recipient each, alternately alice and bob; then one to alice and nosuch
	for i in $(seq 19); do
		r=alice
		[ $((i % 2)) = 0 ] && r=bob
		printf 'Subject: m%s\n\nbody %s\n' "$i" "$i" |
			queue-inject 1< <(printf 'Fs%s@example.org\0T%s@example.test\0\0' "$i" "$r")
	done
	printf 'Subject: m20\n\nbody 20\n' |
		queue-inject 1< <(printf 'Fs20@example.org\0Talice@example.test\0Tnosuch@example.test\0\0')
	run queue-run -1
	[ "$status" -eq 0 ]
	# 21 recipients, at most 16 to a run (local-batch's default): two runs
	[ "$(delivered_n)" = 20 ]
	grep -q 'rcpt=<nosuch@example.test> result=bounced .*text="5.1.1 no such user' <<<"$output"
	[ "$(dl_runs)" = 2 ]
	[ "$(maildir_dump "$MAIL/alice" | grep -c '^m')" = 11 ]
	[ "$(maildir_dump "$MAIL/bob" | grep -c '^m')" = 9 ]
	# every message's envelope reached its own recipient
	for i in $(seq 20); do
		r=alice
		[ $((i % 2)) = 0 ] && [ "$i" != 20 ] && r=bob
		maildir_dump "$MAIL/$r" | grep -qx "m$i | None | <s$i@example.org> | $r@example.test"
	done
	# the bounce for nosuch goes to s20 (not local): queued; nothing else is left
	[ "$(find "$QUEUE/new" "$QUEUE/msg" -type f | wc -l)" = 1 ]
	# local-batch 1: one run per recipient
	rm -f "$QUEUE"/msg/* "$QUEUE"/state/*
	echo 'local-batch 1' >"$CONF/limits"
	for i in 1 2 3; do
		queue_msg "n$i" s@example.org alice@example.test
	done
	run queue-run -1
	[ "$(delivered_n)" = 3 ]
	[ "$(dl_runs)" = 3 ]
}

@test "deliver-remote: three recipients of one message, delivered, bounced and queued for retry" {
	echo "remote.test [127.0.0.6]:2526 tls=none" >"$CONF/routes"
	remote_peer 2526 --record "$BATS_TEST_TMPDIR/peer.rec" \
		--rcpt 'ok@remote.test=250 2.1.5 ok' \
		--rcpt 'perm@remote.test=550 5.1.1 <perm@remote.test>: no such user' \
		--rcpt 'temp@remote.test=450 4.2.1 <temp@remote.test>: try later'
	printf 'Subject: three\nFrom: alice@example.test\n\nbody\n' |
		queue-inject 1< <(printf 'Falice@example.test\0Tok@remote.test\0Tperm@remote.test\0Ttemp@remote.test\0\0')
	id=$(ls "$QUEUE/new")
	run queue-run -1
	echo "$output"
	grep -q "event=delivery id=$id rcpt=<ok@remote.test> result=delivered" <<<"$output"
	grep -q "event=delivery id=$id rcpt=<perm@remote.test> result=bounced .*5.1.1" <<<"$output"
	grep -q "event=delivery id=$id rcpt=<temp@remote.test> result=deferred .*4.2.1" <<<"$output"
	# one SMTP transaction carried all three
	[ "$(grep -c '^MAIL FROM' "$BATS_TEST_TMPDIR/peer.rec")" = 1 ]
	[ "$(grep -c '^RCPT TO' "$BATS_TEST_TMPDIR/peer.rec")" = 3 ]
	# queued for retry: only temp@ is pending
	run queue-ctl list
	[ "$(grep -c '^    <' <<<"$output")" = 2 ] # temp@ and the bounce's alice@
	grep -q '<temp@remote.test>  .*4.2.1' <<<"$output"
	grep -q "^$id .*queued  attempts 1" <<<"$output"
	# the bounce reaches alice through deliver-local, if it is built
	command -v deliver-local >/dev/null || return 0
	queue-run -1 2>/dev/null
	[ "$(find "$MAIL/alice/new" -type f | wc -l)" = 1 ]
	grep -q '^Final-Recipient: rfc822; perm@remote.test' "$MAIL"/alice/new/*
}

@test "remote-batch: messages to one domain share deliver-remote runs and their connections; each result lands in its own message" {
	printf 'remote.test [127.0.0.6]:2527 tls=none\nother.test [127.0.0.6]:2527 tls=none\n' >"$CONF/routes"
	remote_peer 2527 --record "$BATS_TEST_TMPDIR/peer.rec" \
		--rcpt 'perm@remote.test=550 5.1.1 <perm@remote.test>: no such user' \
		--rcpt 'temp@remote.test=450 4.2.1 <temp@remote.test>: try later'
	echo 'concurrency-domain 2' >"$CONF/limits"
	# 20 messages to remote.test: one to perm@ alone (D), one to temp@ and ok@ (r and s); one to other.test
	for i in $(seq 20); do
		r=("$i@remote.test")
		[ "$i" = 5 ] && r=(perm@remote.test)
		[ "$i" = 7 ] && r=(temp@remote.test ok7@remote.test)
		queue_msg "r$i" "s$i@example.test" "${r[@]}"
	done
	queue_msg o o@example.test x@other.test
	run queue-run -1
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(delivered_n)" = 20 ]
	grep -q 'rcpt=<perm@remote.test> result=bounced .*text="127.0.0.6\[127.0.0.6\] said: 550 5.1.1' <<<"$output"
	grep -q 'rcpt=<temp@remote.test> result=deferred .*text="127.0.0.6\[127.0.0.6\] said: 450 4.2.1' <<<"$output"
	# each message's results under its own id, in its own state
	for f in "$QUEUE"/msg/*; do
		id=${f##*/}
		grep -q "event=delivery id=$id rcpt=<temp@remote.test> result=deferred" <<<"$output"
		grep -q "event=delivery id=$id rcpt=<ok7@remote.test> result=delivered" <<<"$output"
	done
	[ "$(find "$QUEUE/msg" -type f | wc -l)" = 1 ]
	# 20 messages to remote.test: a run per four, as far as concurrency-domain allows (two), the
	# messages shared evenly (10 and 10, under remote-batch's default of 16); other.test its own:
	# three runs, three connections, 21 transactions, a RSET before each on a kept connection
	[ "$(grep -c '^EHLO' "$BATS_TEST_TMPDIR/peer.rec")" = 3 ]
	[ "$(grep -c '^MAIL FROM' "$BATS_TEST_TMPDIR/peer.rec")" = 21 ]
	[ "$(grep -c '^RSET' "$BATS_TEST_TMPDIR/peer.rec")" = 18 ]
	[ "$(grep -c 'prog=deliver-remote .*connection=new' <<<"$output")" = 3 ]
	[ "$(grep -c 'prog=deliver-remote .*connection=reused' <<<"$output")" = 18 ]
	# ten messages each: a burst takes the connections the domain may have, not one after another
	[ "$(remote_runs)" = "10 10 " ]
	# six messages, concurrency-domain 5: two runs (a run per four waiting messages), three each
	rm -f "$QUEUE"/msg/* "$QUEUE"/state/* "$QUEUE"/new/*
	: >"$CONF/limits"
	for i in $(seq 6); do
		queue_msg "s$i" s@example.test ok@remote.test
	done
	run queue-run -1
	[ "$(delivered_n)" = 6 ]
	[ "$(remote_runs)" = "3 3 " ]
	# remote-batch 1: one run and one connection per message
	rm -f "$QUEUE"/msg/* "$QUEUE"/state/* "$QUEUE"/new/* "$BATS_TEST_TMPDIR/peer.rec"
	echo 'remote-batch 1' >"$CONF/limits"
	for i in 1 2 3; do
		queue_msg "n$i" s@example.test ok@remote.test
	done
	run queue-run -1
	[ "$(delivered_n)" = 3 ]
	[ "$(grep -c '^EHLO' "$BATS_TEST_TMPDIR/peer.rec")" = 3 ]
	! grep -q '^RSET' "$BATS_TEST_TMPDIR/peer.rec" || false
}

@test "remote-batch: a call killed at delivery-timeout keeps the messages it finished; the rest are deferred" {
	echo 'remote.test [127.0.0.6]:2528 tls=none' >"$CONF/routes"
	printf 'concurrency-domain 1\ndelivery-timeout 2\n' >"$CONF/limits"
	remote_peer 2528 --record "$BATS_TEST_TMPDIR/peer.rec" --stall-after 1
	for i in 1 2 3; do
		queue_msg "k$i" s@example.test "ok$i@remote.test"
	done
	run timeout 60 queue-run -1
	echo "$output"
	# one call for the three; the first message went, then the server stopped answering
	[ "$(grep -c '^EHLO' "$BATS_TEST_TMPDIR/peer.rec")" = 1 ]
	grep -q 'rcpt=<ok1@remote.test> result=delivered' <<<"$output"
	grep -q 'rcpt=<ok2@remote.test> result=deferred .*text="delivery timed out after' <<<"$output"
	grep -q 'rcpt=<ok3@remote.test> result=deferred .*text="delivery timed out after' <<<"$output"
	[ "$(find "$QUEUE/msg" -type f | wc -l)" = 2 ]
}

@test "remote-batch: a domain's calls of one pass carry at most 1000 recipients; the next message waits for its own" {
	echo 'remote.test [127.0.0.6]:2529 tls=none' >"$CONF/routes"
	echo 'remote-recipients 600' >"$CONF/limits"
	remote_peer 2529
	for m in a b; do
		queue_msg "$m" s@example.test $(printf "$m%s@remote.test " $(seq 600))
	done
	run timeout 60 queue-run -1
	[ "$status" -eq 0 ]
	[ "$(delivered_n)" = 1200 ]
	# 600 + 600 would pass the limit: two runs, one message each
	[ "$(remote_runs)" = "1 1 " ]
}

@test "local recipients held for company while two deliveries run wait no longer than the bound: stuck mailboxes hold up nobody else" {
	need deliver-local
	cat >>"$CONF/users" <<-EOF
		slowa@example.test $MAIL/slowa.mbox
		slowb@example.test $MAIL/slowb.mbox
	EOF
	echo 'local-lock-timeout 30' >"$CONF/limits"
	# a fresh dot-lock makes deliver-local wait for it: two stuck deliveries
	touch "$MAIL/slowa.mbox.lock" "$MAIL/slowb.mbox.lock"
	queue-run 2>"$BATS_TEST_TMPDIR/qr.log" &
	pid=$!
	echo $pid >>"$BATS_TEST_TMPDIR/bg.pids"
	wait_for 10 grep -q event=start "$BATS_TEST_TMPDIR/qr.log"
	for r in slowa slowb; do
		n=$(pgrep -xc deliver-local || true)
		queue_msg "$r" s@example.test "$r@example.test"
		wait_for 10 sh -c "[ \"\$(pgrep -xc deliver-local)\" -gt ${n:-0} ]"
	done
	# one recipient, two local calls running: held for company, then delivered on its own
	queue_msg quick s@example.test alice@example.test
	wait_for 5 grep -q 'rcpt=<alice@example.test> result=delivered' "$BATS_TEST_TMPDIR/qr.log" ||
		{ cat "$BATS_TEST_TMPDIR/qr.log"; false; }
	[ "$(pgrep -xc deliver-local)" = 2 ]
	! grep -q 'rcpt=<slow' "$BATS_TEST_TMPDIR/qr.log" || false
	rm "$MAIL/slowa.mbox.lock" "$MAIL/slowb.mbox.lock"
	wait_for 20 sh -c "[ \"\$(grep -c 'event=delivery .*result=delivered' '$BATS_TEST_TMPDIR/qr.log')\" = 3 ]"
	kill -TERM $pid
	wait $pid
}
