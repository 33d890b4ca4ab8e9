#!/usr/bin/env bats
# queue-ctl (and mailq): list, flush, delete, hold, release, also while
# queue-run is delivering the same message.

load lib

setup() {
	sluice_conf
	standin_delivery
}

# msg_to SENDER RCPT...: queue a small message (19 bytes)
msg_to() { printf 'Subject: ctl\n\nbody\n' | inject_env "$@"; }

@test "list shows id, age, size, sender, state, attempts, next try and each pending recipient's last error" {
	msg_to sender@example.org temp@example.test ok@example.test
	id=$(ls "$QUEUE/new")
	run queue-ctl list
	[ "${lines[0]}" = "$id  0s  19  <sender@example.org>  new" ] || [ "${lines[0]}" = "$id  1s  19  <sender@example.org>  new" ]
	[ "${lines[1]}" = "    <temp@example.test>  (not tried yet)" ]
	[ "${lines[2]}" = "    <ok@example.test>  (not tried yet)" ]
	[ "${lines[3]}" = "-- 1 message, 2 recipients not yet delivered" ]
	queue-run -1 2>/dev/null
	run queue-ctl list
	[[ "${lines[0]}" =~ ^$id\ \ [0-9]+s\ \ 19\ \ \<sender@example.org\>\ \ queued\ \ attempts\ 1\ \ next\ in\ (4m5[0-9]s|5m0s)$ ]]
	[ "${lines[1]}" = "    <temp@example.test>  4.2.2 <temp@example.test>: mailbox full" ]
	[ "${lines[2]}" = "-- 1 message, 1 recipient not yet delivered" ]
}

@test "mailq is queue-ctl list" {
	msg_to sender@example.org ok@example.test
	[ "$(mailq)" = "$(queue-ctl list)" ]
	rm "$QUEUE"/new/*
	[ "$(mailq)" = "queue is empty" ]
	run mailq -v
	[ "$status" -eq 100 ]
}

@test "hold keeps a message from delivery; release brings it back" {
	msg_to sender@example.org ok@example.test
	id=$(ls "$QUEUE/new")
	queue-ctl hold "$id"
	[ -f "$QUEUE/hold/$id" ]
	queue-run -1 2>/dev/null
	[ ! -s "$STANDIN/log" ]
	run queue-ctl list
	[[ "${lines[0]}" == *"  held"* ]]
	queue-ctl release "$id"
	[ -f "$QUEUE/new/$id" ]
	queue-run -1 2>/dev/null
	[ "$(wc -l <"$STANDIN/log")" = 1 ]
	[ "$(queue-ctl list)" = "queue is empty" ]
}

@test "a held message keeps its delivered recipients: after release only the rest is tried" {
	limit() { echo "$1 $2" >>"$CONF/limits"; }
	msg_to sender@example.org ok@example.test temp@example.test
	id=$(ls "$QUEUE/new")
	queue-run -1 2>/dev/null
	queue-ctl hold "$id"
	[ -f "$QUEUE/hold/$id" ]
	[ -f "$QUEUE/state/$id" ]
	queue-ctl release "$id"
	touch "$STANDIN/all-ok"
	queue-run -1 2>/dev/null
	[ "$(grep -c "<ok@example.test>" "$STANDIN/log")" = 1 ]
	[ "$(grep -c "<temp@example.test>" "$STANDIN/log")" = 2 ]
	[ -z "$(find "$QUEUE/msg" "$QUEUE/state" -type f)" ]
}

@test "delete removes a message and its state wherever it is" {
	msg_to sender@example.org temp@example.test
	msg_to sender@example.org ok@example.test
	a=$(ls "$QUEUE/new" | head -n1)
	b=$(ls "$QUEUE/new" | tail -n1)
	queue-run -1 2>/dev/null # a is deferred into msg/, b delivered
	msg_to sender@example.org ok2@example.test
	c=$(ls "$QUEUE/new")
	queue-ctl hold "$c"
	queue-ctl delete "$a" "$c"
	[ -z "$(find "$QUEUE/msg" "$QUEUE/state" "$QUEUE/hold" "$QUEUE/new" -type f)" ]
	run queue-ctl delete "$a"
	[ "$status" -eq 100 ]
	grep -q "no such message" <<<"$output"
	run queue-ctl delete ../../etc/passwd
	[ "$status" -eq 100 ]
	grep -q "not a queue id" <<<"$output"
}

@test "quarantined messages are listed and can be released" {
	msg_to sender@example.org ok@example.test
	id=$(ls "$QUEUE/new")
	mkdir -p "$QUEUE/quarantine/spam"
	mv "$QUEUE/new/$id" "$QUEUE/quarantine/spam/$id"
	run queue-ctl list
	[[ "${lines[0]}" == "$id "*"  quarantined:spam" ]]
	queue-run -1 2>/dev/null
	[ ! -s "$STANDIN/log" ]
	queue-ctl release "$id"
	queue-run -1 2>/dev/null
	[ "$(wc -l <"$STANDIN/log")" = 1 ]
}

@test "flush without a running queue-run is an error; usage errors are 100" {
	run queue-ctl flush
	[ "$status" -eq 111 ]
	grep -q "queue-run is not running" <<<"$output"
	run queue-ctl
	[ "$status" -eq 100 ]
	run queue-ctl frobnicate
	[ "$status" -eq 100 ]
	run queue-ctl hold
	[ "$status" -eq 100 ]
}

@test "held while its only delivery succeeds: the result is kept, and a release delivers nothing again" {
	# such a message has no state file yet (its result would not be
	# written if it were removed): holding it must make queue-run write it
	echo 1 >"$STANDIN/sleep"
	queue-run 2>"$BATS_TEST_TMPDIR/qr.log" &
	echo $! >>"$BATS_TEST_TMPDIR/bg.pids"
	msg_to sender@example.org slow@example.test
	wait_for 10 sh -c "[ \"\$(cat '$STANDIN/cur' 2>/dev/null)\" = 1 ]"
	id=$(ls "$QUEUE/msg")
	queue-ctl hold "$id"
	wait_for 10 grep -q "event=vanished id=$id" "$BATS_TEST_TMPDIR/qr.log"
	grep -q "rcpt=<slow@example.test> result=delivered" "$BATS_TEST_TMPDIR/qr.log"
	grep -q "^ok 0 " "$QUEUE/state/$id"
	queue-ctl release "$id"
	wait_for 10 grep -q "event=done id=$id" "$BATS_TEST_TMPDIR/qr.log"
	[ "$(grep -c '<slow@example.test>' "$STANDIN/log")" = 1 ]
	[ -z "$(find "$QUEUE/msg" "$QUEUE/state" "$QUEUE/new" "$QUEUE/hold" -type f)" ]
}

@test "hold and delete while queue-run is delivering the message: it copes, nothing is delivered twice" {
	echo "retry-min 1" >"$CONF/limits"
	echo 1 >"$STANDIN/sleep"
	queue-run 2>"$BATS_TEST_TMPDIR/qr.log" &
	echo $! >>"$BATS_TEST_TMPDIR/bg.pids"
	msg_to sender@example.org slow@example.test temp@example.test
	id=$(ls "$QUEUE/new" "$QUEUE/msg" 2>/dev/null | grep -m1 '^[0-9]')
	wait_for 10 sh -c "[ \"\$(cat '$STANDIN/cur' 2>/dev/null)\" = 2 ]"
	queue-ctl hold "$id"
	# the running deliveries finish and are recorded; nothing more is started
	wait_for 10 grep -q "event=vanished id=$id" "$BATS_TEST_TMPDIR/qr.log"
	grep -q "rcpt=<slow@example.test> result=delivered" "$BATS_TEST_TMPDIR/qr.log"
	[ -f "$QUEUE/hold/$id" ]
	grep -q "^ok " "$QUEUE/state/$id"
	# released: only the pending recipient is tried again
	rm "$STANDIN/sleep"
	touch "$STANDIN/all-ok"
	queue-ctl release "$id"
	wait_for 10 grep -q "event=done id=$id" "$BATS_TEST_TMPDIR/qr.log"
	[ "$(grep -c '<slow@example.test>' "$STANDIN/log")" = 1 ]
	[ "$(grep -c '<temp@example.test>' "$STANDIN/log")" = 2 ]

	# delete during a delivery: no retry, no bounce, no state file left
	echo 1 >"$STANDIN/sleep"
	rm "$STANDIN/all-ok"
	msg_to sender@example.org temp2@example.test
	wait_for 10 sh -c "[ \"\$(cat '$STANDIN/cur' 2>/dev/null)\" = 1 ]"
	id=$(ls "$QUEUE/msg")
	queue-ctl delete "$id"
	wait_for 10 grep -q "event=vanished id=$id" "$BATS_TEST_TMPDIR/qr.log"
	[ -z "$(find "$QUEUE/msg" "$QUEUE/state" "$QUEUE/new" -type f)" ]
	refute grep -q "event=bounce" "$BATS_TEST_TMPDIR/qr.log"
}
