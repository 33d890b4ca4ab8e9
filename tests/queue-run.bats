#!/usr/bin/env bats
# queue-run: from the queue to the delivery programs, with retries,
# bounces and concurrency limits.  Messages go in through the real
# queue-inject; delivery is done by stand-ins in tests/fixtures/queue-run/
# that follow the delivery contracts in DESIGN.md section 3.

load lib

setup() {
	sluice_conf
	standin_delivery
}

# message N: a small message whose subject and body name N
message() {
	printf 'Subject: test %s\nFrom: <sender@example.org>\nMessage-ID: <%s@example.org>\n\nbody %s\n' "$1" "$1" "$1"
}

limit() { echo "$1 $2" >>"$CONF/limits"; }

# the queue files in new/ (bounces land there: queue-run -1 takes in only
# what was there when it started)
new_files() { find "$QUEUE/new" -type f | sort; }

# no_files DIR...: none of the directories holds a file
no_files() {
	local f
	f=$(find "$@" -type f)
	[ -z "$f" ] || { echo "left over: $f"; return 1; }
}

delivered() { grep -c " 0$" "$STANDIN/log" 2>/dev/null || echo 0; }

dsn() { python3 "$FIXTURES/queue-run/dsn.py" "$1"; }

@test "local recipients are delivered; the delivery program reads the message from fd 0" {
	message 1 | inject_env sender@example.org ok1@example.test ok2@example.test
	id=$(ls "$QUEUE/new")
	run queue-run -1
	[ "$status" -eq 0 ]
	grep -q "event=delivery id=$id rcpt=<ok1@example.test> result=delivered delay=[0-9]*s attempts=1 text=\"delivered to ok1@example.test\"" <<<"$output"
	grep -q "event=delivery id=$id rcpt=<ok2@example.test> result=delivered" <<<"$output"
	grep -q "event=done id=$id" <<<"$output"
	[ "$(sort "$STANDIN/log")" = "$(printf '%s <sender@example.org> <ok1@example.test> 0\n%s <sender@example.org> <ok2@example.test> 0' "$id" "$id")" ]
	# fd 0 starts at the message's first byte, after the queue file's envelope
	message 1 | cmp - "$STANDIN/body.$id.ok1@example.test"
	message 1 | cmp - "$STANDIN/body.$id.ok2@example.test"
	no_files "$QUEUE/msg" "$QUEUE/state" "$QUEUE/new"
}

@test "queue-run creates missing queue directories and the trigger FIFO" {
	rm -rf "$QUEUE"
	run queue-run -1
	[ "$status" -eq 0 ]
	for d in tmp new msg state hold quarantine; do [ -d "$QUEUE/$d" ]; done
	[ -p "$QUEUE/trigger" ]
	[ "$(stat -c %a "$QUEUE/new" "$QUEUE/tmp" "$QUEUE/msg" "$QUEUE/state" "$QUEUE/trigger" | tr '\n' ' ')" = "770 770 750 750 620 " ]
}

@test "a temporary failure is retried with growing delays, recorded in the state file" {
	limit retry-min 10
	limit retry-max 35
	message t | inject_env sender@example.org temp@example.test ok@example.test
	queue-run -1
	grep -q '^ok 1 ' "$QUEUE"/state/*
	grep -q '^defer 0 [0-9]* 4.2.2 <temp@example.test>: mailbox full$' "$QUEUE"/state/*
	# not due yet: a pass without -f leaves it alone
	run queue-run -1
	[ "$(grep -c temp@ "$STANDIN/log")" = 1 ]
	for i in 2 3 4; do queue-run -1 -f; done
	[ "$(grep -c temp@ "$STANDIN/log")" = 4 ]
	[ "$(grep -c ok@ "$STANDIN/log")" = 1 ] # delivered once, never again
	# try TIME ATTEMPTS NEXT: the delay doubles from retry-min up to retry-max
	run awk '$1 == "try" { print $3, $4 - $2 }' "$QUEUE"/state/*
	[ "$output" = "$(printf '1 10\n2 20\n3 35\n4 35')" ]
	run queue-ctl list
	grep -q "<temp@example.test>  4.2.2 <temp@example.test>: mailbox full" <<<"$output"
	grep -q "attempts 4  next in" <<<"$output"
}

@test "exit 75 is temporary, other exit codes permanent; the first output line is the diagnostic" {
	message s | inject_env sender@example.org sysex@example.test usage@example.test
	run queue-run -1
	grep -q 'rcpt=<sysex@example.test> result=deferred .*text="temporary trouble (EX_TEMPFAIL)"' <<<"$output"
	grep -q 'rcpt=<usage@example.test> result=bounced .*text="usage error"' <<<"$output"
	refute grep -q "a second line" "$QUEUE"/state/*
}

@test "a delivery program that writes far more than a pipe holds is not held up: its first line counts" {
	limit delivery-timeout 30
	message c | inject_env sender@example.org chatty@example.test ok@example.test
	id=$(ls "$QUEUE/new")
	run timeout 25 queue-run -1
	[ "$status" -eq 0 ]
	grep -q "event=delivery id=$id rcpt=<chatty@example.test> result=delivered .*text=\"delivered to chatty@example.test with much to say\"" <<<"$output"
	grep -q "event=delivery id=$id rcpt=<ok@example.test> result=delivered" <<<"$output"
	refute grep -q "event=timeout" <<<"$output"
	no_files "$QUEUE/msg" "$QUEUE/state"
}

@test "a permanent failure bounces: an RFC 3464 report to the sender, from the null sender" {
	message p | inject_env sender@example.org perm@example.test ok@example.test
	id=$(ls "$QUEUE/new")
	run queue-run -1
	grep -q "event=bounce id=$id to=<sender@example.org> rcpts=1" <<<"$output"
	# the original is finished: one delivered, one bounced
	no_files "$QUEUE/msg" "$QUEUE/state"
	[ "$(new_files | wc -l)" = 1 ]
	run dsn "$(new_files)"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'envelope-from: ' <<<"$output"
	grep -qx 'envelope-to: sender@example.org' <<<"$output"
	grep -qx 'from: Mail Delivery System <MAILER-DAEMON@mx.example.test>' <<<"$output"
	grep -qx 'auto-submitted: auto-replied' <<<"$output"
	grep -qx 'type: multipart/report report-type=delivery-status' <<<"$output"
	grep -qx 'parts: text/plain message/delivery-status text/rfc822-headers' <<<"$output"
	grep -qx 'reporting-mta: dns; mx.example.test' <<<"$output"
	grep -qx 'recipient: rfc822; perm@example.test | failed | 5.1.1 | smtp; 5.1.1 <perm@example.test>: no such user here' <<<"$output"
	[ "$(grep -c '^recipient:' <<<"$output")" = 1 ]
	grep -qx 'original-subject: test p' <<<"$output"
	# the bounce itself is delivered by the next pass (the sender is remote here)
	run queue-run -1
	grep -qx 'example.org <> sender@example.org' "$STANDIN/remote-log"
}

@test "a crash between bouncing and marking repeats the bounce, never loses it" {
	# a state file as a crash would leave it: the failure recorded, no "bounced" yet
	message c | inject_env sender@example.org perm@example.test
	id=$(ls "$QUEUE/new")
	mkdir -p "$QUEUE/msg" "$QUEUE/state"
	mv "$QUEUE/new/$id" "$QUEUE/msg/$id"
	printf 'fail 0 %s 5.1.1 recorded before the crash\ntry 17' "$(date +%s)" >"$QUEUE/state/$id"
	run queue-run -1
	[ "$status" -eq 0 ]
	[ ! -s "$STANDIN/log" ] # not delivered again
	run dsn "$(new_files)"
	grep -qx 'recipient: rfc822; perm@example.test | failed | 5.1.1 | smtp; 5.1.1 recorded before the crash' <<<"$output"
	no_files "$QUEUE/msg" "$QUEUE/state"
}

@test "a crash after the last mark but before removal: the message is finished, nobody delivered again" {
	message f | inject_env sender@example.org ok1@example.test ok2@example.test
	id=$(ls "$QUEUE/new")
	mkdir -p "$QUEUE/msg" "$QUEUE/state"
	mv "$QUEUE/new/$id" "$QUEUE/msg/$id"
	printf 'ok 0 100 delivered\nok 1 100 delivered\n' >"$QUEUE/state/$id"
	run queue-run -1
	grep -q "event=done id=$id" <<<"$output"
	[ ! -s "$STANDIN/log" ]
	no_files "$QUEUE/msg" "$QUEUE/state"
}

@test "a state file left without its message (crash between the two unlinks) is removed at start" {
	mkdir -p "$QUEUE/state"
	echo 'ok 0 100 delivered' >"$QUEUE/state/1795312345.004211.0031337"
	mkdir -p "$QUEUE/hold"
	message h | inject_env sender@example.org ok@example.test
	held=$(ls "$QUEUE/new")
	mv "$QUEUE/new/$held" "$QUEUE/hold/$held"
	echo 'defer 0 100 kept' >"$QUEUE/state/$held"
	run queue-run -1
	grep -q "event=cleanup file=state/1795312345.004211.0031337" <<<"$output"
	[ ! -e "$QUEUE/state/1795312345.004211.0031337" ]
	[ -e "$QUEUE/state/$held" ] # a held message keeps its state
}

@test "a torn last line of a state file is ignored and cut off before the next record" {
	limit retry-min 100
	message x | inject_env sender@example.org temp@example.test ok@example.test
	id=$(ls "$QUEUE/new")
	mkdir -p "$QUEUE/msg" "$QUEUE/state"
	mv "$QUEUE/new/$id" "$QUEUE/msg/$id"
	printf 'ok 1 %s delivered earlier\nok 0 12' "$(date +%s)" >"$QUEUE/state/$id"
	queue-run -1
	# recipient 1 was done: not delivered again; recipient 0 was not (torn line)
	[ "$(cut -d' ' -f3 "$STANDIN/log")" = "<temp@example.test>" ]
	run cat "$QUEUE/state/$id"
	[ "${lines[0]}" = "ok 1 $(cut -d' ' -f3 <<<"${lines[0]}") delivered earlier" ]
	[[ "${lines[1]}" == "defer 0 "* ]]
	[[ "${lines[2]}" == "try "* ]]
	[ "${#lines[@]}" = 3 ]
}

@test "a state file grown long is compacted to its summary, keeping what it says" {
	message g | inject_env sender@example.org temp@example.test ok@example.test
	id=$(ls "$QUEUE/new")
	mkdir -p "$QUEUE/msg" "$QUEUE/state"
	mv "$QUEUE/new/$id" "$QUEUE/msg/$id"
	{
		echo "try 1000 1 1300"
		echo "ok 1 1000 delivered long ago"
		for i in $(seq 2000); do echo "defer 0 $((1000 + i)) 4.2.2 an old error, repeated to make the file long"; done
		echo "try 3000 7 3300"
	} >"$QUEUE/state/$id"
	run queue-run -1
	grep -q "event=compact id=$id" <<<"$output"
	run cat "$QUEUE/state/$id"
	[ "${#lines[@]}" = 4 ]
	[ "${lines[0]}" = "defer 0 $(cut -d' ' -f3 <<<"${lines[0]}") 4.2.2 <temp@example.test>: mailbox full" ]
	[ "${lines[1]}" = "ok 1 1000 delivered long ago" ]
	[[ "${lines[2]}" == "try 1000 8 "* ]]
	[[ "${lines[3]}" == "try "*" 8 "* ]]
	[ "$(grep -c '<ok@example.test>' "$STANDIN/log" || true)" = 0 ]
	run queue-ctl list
	grep -q "attempts 8" <<<"$output"
	[ -z "$(find "$QUEUE/state" -name '.*')" ]
}

@test "when the queue lifetime is over, the pending recipients bounce with the last error" {
	limit queue-lifetime 0
	message e | inject_env sender@example.org temp@example.test
	run queue-run -1
	grep -q 'result=deferred' <<<"$output"
	grep -q 'result=bounced .*text="queue lifetime expired"' <<<"$output"
	no_files "$QUEUE/msg"
	run dsn "$(new_files)"
	grep -qx 'recipient: rfc822; temp@example.test | failed | 5.4.7 | smtp; 5.4.7 delivery time expired after [0-9]* seconds in the queue; last error: 4.2.2 <temp@example.test>: mailbox full' <<<"$output"
}

@test "an old message is retried no later than its lifetime's end" {
	limit queue-lifetime 1000
	limit retry-min 800
	# an id from 500 seconds ago: the next try would be past the lifetime
	old=$(($(date +%s) - 500))
	message o | QUEUE_ID=$old.000001.0000001 inject_env sender@example.org temp@example.test
	queue-run -1
	[ "$(awk '$1 == "try" { print $4 }' "$QUEUE"/state/*)" = $((old + 1000)) ]
}

@test "a delay warning is sent once after delay-warning seconds" {
	limit delay-warning 60
	old=$(($(date +%s) - 100))
	message d | QUEUE_ID=$old.000002.0000001 inject_env sender@example.org temp@example.test ok@example.test
	run queue-run -1
	grep -q "event=delay-warning id=$old.000002.0000001 to=<sender@example.org> rcpts=1" <<<"$output"
	grep -q '^warned ' "$QUEUE"/state/*
	run dsn "$(new_files)"
	grep -qx 'subject: Delayed mail (still being retried)' <<<"$output"
	grep -qx 'recipient: rfc822; temp@example.test | delayed | 4.2.2 | smtp; 4.2.2 <temp@example.test>: mailbox full' <<<"$output"
	rm "$QUEUE"/new/*
	run queue-run -1 -f
	refute grep -q "delay-warning" <<<"$output"
	[ -z "$(new_files)" ]
}

@test "the null sender is never bounced: a double bounce goes to postmaster, once" {
	message n | inject_env '' perm@example.test
	run queue-run -1
	grep -q "event=double-bounce .* to=<postmaster@example.test>" <<<"$output"
	run dsn "$(new_files)"
	grep -qx 'envelope-from: ' <<<"$output"
	grep -qx 'envelope-to: postmaster@example.test' <<<"$output"
	grep -qx 'recipient: rfc822; perm@example.test | failed | 5.1.1 | smtp; 5.1.1 <perm@example.test>: no such user here' <<<"$output"
	refute grep -q '^envelope-to: $' <<<"$output"
}

@test "a double bounce that fails is dropped with a log line" {
	echo permpostmaster@example.test >"$CONF/bounce-to"
	message n | inject_env '' perm@example.test
	queue-run -1 2>/dev/null
	[ "$(new_files | wc -l)" = 1 ] # the double bounce
	run queue-run -1
	grep -q 'rcpt=<permpostmaster@example.test> result=bounced' <<<"$output"
	grep -q 'event=drop .*rcpt=<permpostmaster@example.test> reason="double bounce failed"' <<<"$output"
	[ -z "$(new_files)" ]
	no_files "$QUEUE/msg" "$QUEUE/state"
}

@test "remote: one call per domain; r/h/s reports are applied per recipient" {
	message r | inject_env sender@example.org ok@remote.test perm@remote.test temp@REMOTE.test ok@other.test
	id=$(ls "$QUEUE/new")
	run queue-run -1
	echo "$output"
	[ "$(sort "$STANDIN/remote-log")" = "$(printf 'other.test <sender@example.org> ok@other.test\nremote.test <sender@example.org> ok@remote.test perm@remote.test temp@REMOTE.test')" ]
	grep -q 'rcpt=<ok@remote.test> result=delivered .*text="250 2.1.5 <ok@remote.test> ok"' <<<"$output"
	grep -q 'rcpt=<perm@remote.test> result=bounced .*text="550 5.1.1 <perm@remote.test>: Recipient address rejected"' <<<"$output"
	grep -q 'rcpt=<temp@REMOTE.test> result=deferred .*text="451 4.3.0 <temp@REMOTE.test>: try again later"' <<<"$output"
	# one delivered, one bounced, one queued for retry
	run dsn "$(new_files)"
	grep -qx 'recipient: rfc822; perm@remote.test | failed | 5.1.1 | smtp; 550 5.1.1 <perm@remote.test>: Recipient address rejected' <<<"$output"
	[ -f "$QUEUE/msg/$id" ]
	rm "$QUEUE"/new/*
	run queue-ctl list
	[ "$(grep -c '^    <' <<<"$output")" = 1 ]
	grep -q '<temp@REMOTE.test>  451 4.3.0' <<<"$output"
	# the next round asks only for what is still pending
	queue-run -1 -f 2>/dev/null
	[ "$(tail -n1 "$STANDIN/remote-log")" = "remote.test <sender@example.org> temp@REMOTE.test" ]
}

@test "remote: a Z message report defers accepted recipients; D fails them" {
	echo "Z421 4.4.2 connection dropped after DATA" >"$STANDIN/message-report"
	message z | inject_env sender@example.org ok@remote.test perm@remote.test
	run queue-run -1
	grep -q 'rcpt=<ok@remote.test> result=deferred .*text="421 4.4.2 connection dropped after DATA"' <<<"$output"
	grep -q 'rcpt=<perm@remote.test> result=bounced' <<<"$output"
	echo "D554 5.6.0 message refused" >"$STANDIN/message-report"
	run queue-run -1 -f
	grep -q 'rcpt=<ok@remote.test> result=bounced .*text="554 5.6.0 message refused"' <<<"$output"
	# no message report at all (a crash): accepted or not, nothing counts as delivered
	rm -f "$QUEUE"/new/* # the bounces so far
	message z2 | inject_env sender@example.org ok@remote.test perm@remote.test
	: >"$STANDIN/message-report"
	run queue-run -1 -f
	grep -q 'rcpt=<ok@remote.test> result=deferred .*text="remote delivery program gave no message report (exit 0)"' <<<"$output"
	grep -q 'rcpt=<perm@remote.test> result=bounced .*text="550 5.1.1' <<<"$output"
}

@test "a missing delivery program defers with a clear reason" {
	echo "$BATS_TEST_TMPDIR/no-such-program" >"$CONF/remote-delivery"
	message m | inject_env sender@example.org someone@remote.test
	run queue-run -1
	[ "$status" -eq 0 ]
	grep -q "result=deferred .*text=\"unable to run $BATS_TEST_TMPDIR/no-such-program: No such file or directory\"" <<<"$output"
	[ "$(ls "$QUEUE/msg" | wc -l)" = 1 ]
}

@test "a stuck delivery is killed after delivery-timeout and deferred" {
	limit delivery-timeout 1
	echo 30 >"$STANDIN/sleep"
	message k | inject_env sender@example.org ok@example.test
	SECONDS=0
	run queue-run -1
	[ "$SECONDS" -lt 10 ]
	grep -q 'result=deferred .*text="delivery timed out after [0-9]* seconds"' <<<"$output"
}

@test "concurrency-local bounds parallel local deliveries" {
	limit concurrency-local 3
	echo 0.3 >"$STANDIN/sleep"
	for i in $(seq 12); do message $i | inject_env sender@example.org ok$i@example.test; done
	queue-run -1 2>/dev/null
	[ "$(delivered)" = 12 ]
	max=$(cat "$STANDIN/max")
	[ "$max" -le 3 ]
	[ "$max" -ge 2 ]
}

@test "results are flushed together, but running plus unflushed deliveries never exceed concurrency-local" {
	command -v strace >/dev/null || skip "no strace"
	limit concurrency-local 4
	# uneven delivery times, so results come while others run
	for i in $(seq 16); do
		echo "0.0$((i % 5 * 2))" >"$STANDIN/sleep.ok$i@example.test"
		message $i | inject_env sender@example.org ok$i@example.test
	done
	# the parent only: its starts, reaps and flushes, with fd paths (no
	# leak check in a sanitized build: LeakSanitizer cannot run under ptrace)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -qq -y -e trace=clone,clone3,vfork,wait4,fsync,fdatasync -o "$BATS_TEST_TMPDIR/st" \
		queue-run -1 2>/dev/null
	[ "$(delivered)" = 16 ]
	run python3 "$FIXTURES/queue-run/flush-bound.py" 4 "$BATS_TEST_TMPDIR/st"
	echo "$output"
	[ "$status" = 0 ]
	no_files "$QUEUE/msg" "$QUEUE/state"
}

@test "more active messages than open files allowed: all delivered, no state file held open while idle" {
	# with one open state file per active message, the 300th would fail
	# (EMFILE) under a limit of 256 open files
	for i in $(seq 300); do message $i | inject_env sender@example.org ok$i@example.test; done
	(ulimit -n 256 && queue-run -1 2>"$BATS_TEST_TMPDIR/qr.log")
	[ "$(delivered)" = 300 ]
	run grep -c 'event=error' "$BATS_TEST_TMPDIR/qr.log"
	[ "$output" = 0 ]
	no_files "$QUEUE/msg" "$QUEUE/state" "$QUEUE/new"
}

@test "concurrency-domain bounds parallel calls per remote domain, concurrency-remote overall" {
	limit concurrency-domain 2
	limit concurrency-remote 3
	echo 0.3 >"$STANDIN/sleep"
	for i in $(seq 6); do
		message a$i | inject_env sender@example.org ok$i@a.test
		message b$i | inject_env sender@example.org ok$i@b.test
	done
	queue-run -1 2>/dev/null
	[ "$(wc -l <"$STANDIN/remote-log")" = 12 ]
	[ "$(cat "$STANDIN/dom.a.test.max")" -le 2 ]
	[ "$(cat "$STANDIN/dom.b.test.max")" -le 2 ]
	[ "$(cat "$STANDIN/rmax")" -le 3 ]
	[ "$(cat "$STANDIN/rmax")" -ge 2 ]
	no_files "$QUEUE/msg"
}

@test "local and remote recipients of many messages under full slots of both kinds: all delivered, limits kept" {
	limit concurrency-local 2
	limit concurrency-remote 2
	limit concurrency-domain 1
	echo 0.2 >"$STANDIN/sleep"
	for i in $(seq 10); do
		message m$i | inject_env sender@example.org ok$i@example.test ok$i@r$((i % 3)).test
	done
	message last | inject_env sender@example.org okl@example.test
	timeout 60 queue-run -1 2>/dev/null # a scheduler that lost count would wait for ever
	[ "$(delivered)" = 11 ]
	[ "$(wc -l <"$STANDIN/remote-log")" = 10 ]
	[ "$(cat "$STANDIN/max")" -le 2 ]
	[ "$(cat "$STANDIN/rmax")" -le 2 ]
	for d in r0 r1 r2; do [ "$(cat "$STANDIN/dom.$d.test.max")" = 1 ]; done
	no_files "$QUEUE/msg" "$QUEUE/state"
}

@test "remote-recipients splits a long recipient list into several calls" {
	limit remote-recipients 2
	message l | inject_env sender@example.org ok1@r.test ok2@r.test ok3@r.test ok4@r.test ok5@r.test
	queue-run -1 2>/dev/null
	[ "$(wc -l <"$STANDIN/remote-log")" = 3 ]
	[ "$(tr ' ' '\n' <"$STANDIN/remote-log" | grep -c '^ok')" = 5 ]
}

@test "daemon: a new message is picked up through the trigger; SIGTERM waits for deliveries and exits 0" {
	queue-run 2>"$BATS_TEST_TMPDIR/qr.log" &
	pid=$!
	echo $pid >>"$BATS_TEST_TMPDIR/bg.pids"
	wait_for 10 grep -q event=start "$BATS_TEST_TMPDIR/qr.log"
	message 1 | inject_env sender@example.org ok@example.test
	wait_for 10 test -s "$STANDIN/log"
	# a slow delivery is running when SIGTERM comes: it finishes and is recorded
	echo 1 >"$STANDIN/sleep"
	message 2 | inject_env sender@example.org slow@example.test
	wait_for 10 sh -c "[ \"\$(cat '$STANDIN/cur')\" = 1 ]"
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" -eq 0 ]
	grep -q 'event=stopping running=1' "$BATS_TEST_TMPDIR/qr.log"
	grep -q 'rcpt=<slow@example.test> result=delivered' "$BATS_TEST_TMPDIR/qr.log"
	no_files "$QUEUE/msg" "$QUEUE/state" "$QUEUE/new"
}

@test "SIGTERM with a stuck delivery: after shutdown-timeout it is killed, exit 0, the recipient stays queued" {
	limit shutdown-timeout 1
	echo 30 >"$STANDIN/sleep"
	message s | inject_env sender@example.org stuck@example.test
	queue-run 2>"$BATS_TEST_TMPDIR/qr.log" &
	pid=$!
	echo $pid >>"$BATS_TEST_TMPDIR/bg.pids"
	wait_for 10 sh -c "[ \"\$(cat '$STANDIN/cur' 2>/dev/null)\" = 1 ]"
	SECONDS=0
	kill -TERM $pid
	rc=0
	wait $pid || rc=$?
	[ "$rc" -eq 0 ]
	[ "$SECONDS" -lt 10 ]
	grep -q 'event=abandon running=1' "$BATS_TEST_TMPDIR/qr.log"
	# the delivery's process group was killed: the stand-in never logged
	wait_for 10 refute kill -0 -- "-$(cat "$STANDIN/pids")"
	[ ! -s "$STANDIN/log" ]
	rm "$STANDIN/sleep"
	run queue-run -1
	grep -q 'rcpt=<stuck@example.test> result=delivered' <<<"$output"
}

@test "bounces are queued through \$QMAILQUEUE when it is set" {
	printf '#!/bin/sh\necho "wrapper ran" >>"%s/wrapper.log"\nexec queue-inject\n' "$BATS_TEST_TMPDIR" >"$BATS_TEST_TMPDIR/wrapper"
	chmod +x "$BATS_TEST_TMPDIR/wrapper"
	message q | inject_env sender@example.org perm@example.test
	QMAILQUEUE=$BATS_TEST_TMPDIR/wrapper run queue-run -1
	grep -q 'event=bounce' <<<"$output"
	[ "$(cat "$BATS_TEST_TMPDIR/wrapper.log")" = "wrapper ran" ]
	[ "$(new_files | wc -l)" = 1 ]
}

@test "daemon: a retry comes on its own timer" {
	limit retry-min 1
	queue-run 2>"$BATS_TEST_TMPDIR/qr.log" &
	echo $! >>"$BATS_TEST_TMPDIR/bg.pids"
	message t | inject_env sender@example.org temp@example.test
	wait_for 10 grep -q 'result=deferred' "$BATS_TEST_TMPDIR/qr.log"
	touch "$STANDIN/all-ok"
	wait_for 10 grep -q 'rcpt=<temp@example.test> result=delivered' "$BATS_TEST_TMPDIR/qr.log"
}

@test "daemon: queue-ctl flush makes deferred mail due at once; SIGHUP re-reads configuration" {
	queue-run 2>"$BATS_TEST_TMPDIR/qr.log" &
	echo $! >>"$BATS_TEST_TMPDIR/bg.pids"
	message f | inject_env sender@example.org temp@example.test
	wait_for 10 grep -q 'result=deferred' "$BATS_TEST_TMPDIR/qr.log"
	touch "$STANDIN/all-ok"
	queue-ctl flush
	wait_for 10 grep -q 'rcpt=<temp@example.test> result=delivered' "$BATS_TEST_TMPDIR/qr.log"
	# SIGHUP: another local delivery command from now on
	printf '#!/bin/sh\necho "other $2"\n' >"$BATS_TEST_TMPDIR/other"
	chmod +x "$BATS_TEST_TMPDIR/other"
	echo "$BATS_TEST_TMPDIR/other" >"$CONF/local-delivery"
	kill -HUP "$(tail -n1 "$BATS_TEST_TMPDIR/bg.pids")"
	wait_for 10 grep -q 'event=reload' "$BATS_TEST_TMPDIR/qr.log"
	message h | inject_env sender@example.org x@example.test
	wait_for 10 grep -q 'rcpt=<x@example.test> result=delivered .*text="other x@example.test"' "$BATS_TEST_TMPDIR/qr.log"
}

@test "only one queue-run per queue" {
	exec 8>"$QUEUE/lock"
	flock 8
	run queue-run -1
	[ "$status" -eq 111 ]
	grep -q "another queue-run is running" <<<"$output"
}

@test "stale tmp/ files (over 36 hours old) are removed, fresh ones kept" {
	touch -d '40 hours ago' "$QUEUE/tmp/old"
	touch "$QUEUE/tmp/fresh"
	run queue-run -1
	[ ! -e "$QUEUE/tmp/old" ]
	[ -e "$QUEUE/tmp/fresh" ]
}

@test "-n checks the configuration: limits are numbers, delivery commands exist" {
	run queue-run -n
	[ "$status" -eq 0 ]
	grep -q "configuration ok: me mx.example.test, queue $QUEUE, local $FIXTURES/queue-run/deliver-local, remote $FIXTURES/queue-run/deliver-remote, bounce-to postmaster@example.test" <<<"$output"
	limit retry-min soon
	echo "no-such-mda --flag" >"$CONF/local-delivery"
	run queue-run -n
	[ "$status" -eq 111 ]
	grep -q "limits: retry-min: not a number: soon" <<<"$output"
	grep -q "local-delivery: no-such-mda: not found or not executable" <<<"$output"
	[ -z "$(find "$QUEUE" -name trigger)" ] # checking changes nothing
}

@test "usage errors exit 100" {
	run queue-run -x
	[ "$status" -eq 100 ]
	run queue-run extra
	[ "$status" -eq 100 ]
}

# lib/dsn.c alone, through tests/fixtures/queue-run/dsn-driver.c
build_dsn_driver() {
	# from the sources, so it does not matter how lib/ was built (SANITIZE=1)
	cc -std=c11 -D_GNU_SOURCE -I"$TOP/lib" -o "$BATS_TEST_TMPDIR/dsn-driver" \
		"$FIXTURES/queue-run/dsn-driver.c" "$TOP"/lib/{dsn,date,str,alloc,die}.c
}

@test "dsn: a bounce is byte for byte the fixture (boundary kept out of the parts, UTF-8 address per RFC 6533)" {
	build_dsn_driver
	printf 'Subject: hello\nFrom: <a@example.org>\nX-Long: --=_sluice_1795312345.004211.0031337_1795312400_0\n\nbody --=_sluice_1795312345.004211.0031337_1795312400_1\n' |
		TZ=UTC "$BATS_TEST_TMPDIR/dsn-driver" mx.example.test 1795312345.004211.0031337 a@example.org 1795312345 1795312400 \
			bob@example.test '5.1.1 <bob@example.test>: no such user' 'jürgen@bücher.example' 'mailbox unavailable' c@example.test '' >"$BATS_TEST_TMPDIR/out"
	cmp "$FIXTURES/queue-run/bounce.eml" "$BATS_TEST_TMPDIR/out"
}

@test "dsn: random hostile input always gives a report that parses" {
	build_dsn_driver
	run python3 "$FIXTURES/queue-run/dsn-fuzz.py" "$BATS_TEST_TMPDIR/dsn-driver" 200
	echo "$output"
	[ "$status" -eq 0 ]
}
