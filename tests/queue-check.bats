#!/usr/bin/env bats
# The queue file's check line and queue-inject's one flush: queue-inject
# states the message's length and CRC-32C in the header, renames, then
# fsyncs the renamed file (one flush); queue-run delivers only a file whose
# message matches its check line and sets any other aside in corrupt/ (a
# crash between the rename and the flush can leave one cut short).  The
# real power cuts are in power-cut.bats.

load lib

setup() {
	sluice_conf
	standin_delivery
}

one_new() { ls "$QUEUE/new"; }

@test "queue-inject writes the check line: length and CRC-32C of the message" {
	printf '123456789' | inject_env a@example.org b@example.test c@example.test
	f=$QUEUE/new/$(one_new)
	# CRC-32C("123456789") is e3069283 (RFC 3720 B.4's check value)
	printf 'Fa@example.org\nTb@example.test\nTc@example.test\nC9 e3069283\n\n123456789' | cmp - "$f"
	: | inject_env a@example.org b@example.test
	grep -qx 'C0 00000000' "$QUEUE"/new/*
}

@test "a message past the in-memory limit (spilled) gets the same check line" {
	python3 -c 'import sys; sys.stdout.buffer.write(b"x" * 1500000 + b"\n")' >"$BATS_TEST_TMPDIR/big"
	inject_env a@example.org b@example.test <"$BATS_TEST_TMPDIR/big"
	f=$QUEUE/new/$(one_new)
	want=$(queue_check_line "$BATS_TEST_TMPDIR/big")
	[ "$(sed -n 3p "$f")" = "$want" ]
	tail -c 1500001 "$f" | cmp - "$BATS_TEST_TMPDIR/big"
}

@test "queue-inject flushes after the rename: the renamed file (and new/ off an ordered journal)" {
	command -v strace >/dev/null || skip "strace is not installed"
	printf 'Subject: one flush\n\nbody\n' >"$BATS_TEST_TMPDIR/m"
	# (a sanitized build's leak checker cannot run under ptrace)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 strace -f -qq -o "$BATS_TEST_TMPDIR/trace" -e trace=rename,renameat,renameat2,fsync,fdatasync,sync_file_range,syncfs \
		queue-inject <"$BATS_TEST_TMPDIR/m" 1< <(printf 'Fa@example.org\0Tb@example.test\0\0')
	cat "$BATS_TEST_TMPDIR/trace"
	grep -E 'rename' "$BATS_TEST_TMPDIR/trace" | grep -q '/new/'
	# the rename into new/ first, then the fsync of the file; where the file
	# system does not order its journal (queue-inject.bats checks which), of new/ too
	run sh -c "grep -Eo 'rename[a-z0-9]*|fsync|fdatasync|sync_file_range|syncfs' '$BATS_TEST_TMPDIR/trace' | tr '\n' ' '"
	[ "$output" = "renameat2 fsync " ] || [ "$output" = "renameat2 fsync fsync " ]
}

@test "a queue file cut short is set aside in corrupt/, never delivered" {
	printf 'Subject: cut\n\n%s\n' "$(seq 1 200)" | inject_env a@example.org ok@example.test
	id=$(one_new)
	truncate -s -100 "$QUEUE/new/$id"
	run queue-run -1
	[ "$status" -eq 0 ]
	grep -q "event=corrupt id=$id reason=\"message does not match its check line\" moved=corrupt/$id" <<<"$output"
	[ ! -e "$STANDIN/log" ]
	[ -f "$QUEUE/corrupt/$id" ]
	[ -z "$(find "$QUEUE/new" "$QUEUE/msg" -type f)" ]
	# and it stays there: a later run does not bring it back
	run queue-run -1 -f
	[ ! -e "$STANDIN/log" ]
	[ -f "$QUEUE/corrupt/$id" ]
	# queue-ctl shows it as never delivered, release leaves it, delete removes it
	run queue-ctl list
	[ "$status" -eq 0 ]
	echo "$output"
	[[ ${lines[0]} =~ ^$id\ .*\<a@example.org\>\ \ corrupt\ \ \(never\ delivered\)$ ]]
	[ "${lines[1]}" = "-- 1 message, 0 recipients not yet delivered" ]
	run queue-ctl release "$id"
	[ "$status" -ne 0 ]
	[ -f "$QUEUE/corrupt/$id" ]
	run queue-ctl delete "$id"
	[ "$status" -eq 0 ]
	[ ! -e "$QUEUE/corrupt/$id" ]
	run queue-ctl list
	[ "$output" = "queue is empty" ]
}

@test "a changed byte (same length: a hole a crash left) is caught by the CRC" {
	printf 'Subject: hole\n\nabcdefgh\n' | inject_env a@example.org ok@example.test
	id=$(one_new)
	sed -i 's/abcdefgh/abcd\x00\x00gh/' "$QUEUE/new/$id"
	run queue-run -1
	grep -q "event=corrupt id=$id" <<<"$output"
	[ ! -e "$STANDIN/log" ]
	[ -f "$QUEUE/corrupt/$id" ]
}

@test "a large message (checked with the CPU's CRC instruction where there is one) is delivered whole, set aside changed" {
	# crc32c_add switches from the tables past 4 KB (lib/crc32c.c): both
	# ends, queue-inject's and queue-run's, must agree with the reference
	python3 -c 'import sys; sys.stdout.buffer.write(b"Subject: big\n\n" + bytes(range(256)) * 400)' >"$BATS_TEST_TMPDIR/big"
	inject_env a@example.org ok@example.test <"$BATS_TEST_TMPDIR/big"
	whole=$(one_new)
	[ "$(sed -n 3p "$QUEUE/new/$whole")" = "$(queue_check_line "$BATS_TEST_TMPDIR/big")" ]
	inject_env a@example.org ok@example.test <"$BATS_TEST_TMPDIR/big"
	changed=$(ls "$QUEUE/new" | grep -vx "$whole")
	# one byte 90 KB in, past where the instruction takes over
	printf '\377' | dd of="$QUEUE/new/$changed" bs=1 seek=90000 conv=notrunc status=none
	run queue-run -1
	[ "$status" -eq 0 ]
	grep -q "event=corrupt id=$changed reason=\"message does not match its check line\"" <<<"$output"
	! grep -q "event=corrupt id=$whole" <<<"$output" || false
	[ "$(grep -c ok@ "$STANDIN/log")" = 1 ]
	[ -f "$QUEUE/corrupt/$changed" ]
}

@test "an empty or header-cut queue file (what a crash leaves most often) is set aside" {
	: >"$QUEUE/new/1795000000.000001.0000001"
	printf 'Fa@example.org\nTok@exam' >"$QUEUE/new/1795000000.000002.0000002"
	run queue-run -1
	grep -q 'event=corrupt id=1795000000.000001.0000001 reason="malformed queue file"' <<<"$output"
	grep -q 'event=corrupt id=1795000000.000002.0000002 reason="malformed queue file"' <<<"$output"
	[ ! -e "$STANDIN/log" ]
	[ "$(ls "$QUEUE/corrupt" | wc -l)" = 2 ]
}

@test "a message already taken in (msg/ and state/) is checked again when it is loaded" {
	printf 'Subject: later\n\nbody\n' | inject_env a@example.org ok@example.test temp@example.test
	id=$(one_new)
	queue-run -1
	[ -f "$QUEUE/msg/$id" ] # temp@ is deferred
	truncate -s -2 "$QUEUE/msg/$id"
	run queue-run -1 -f
	grep -q "event=corrupt id=$id" <<<"$output"
	[ "$(grep -c temp@ "$STANDIN/log")" = 1 ]
	[ -f "$QUEUE/corrupt/$id" ]
}

@test "a queue file without a check line (an older queue-inject's) is delivered" {
	printf 'Fa@example.org\nTok@example.test\n\nSubject: old\n\nbody\n' >"$QUEUE/new/1795000000.000003.0000003"
	run queue-run -1
	[ "$status" -eq 0 ]
	grep -q 'event=delivery id=1795000000.000003.0000003 rcpt=<ok@example.test> result=delivered' <<<"$output"
	[ -z "$(ls "$QUEUE/corrupt")" ]
}

@test "check lines that are not exactly C<decimal> <8 lowercase hex> make the file malformed" {
	local bad
	for bad in 'C9 E3069283' 'C09 e3069283' 'C9  e3069283' 'C9 e306928' 'C e3069283' 'C9 e3069283 x'; do
		rm -rf "$QUEUE"/corrupt/* "$QUEUE"/new/*
		printf 'Fa@example.org\nTok@example.test\n%s\n\n123456789' "$bad" >"$QUEUE/new/1795000000.000004.0000004"
		run queue-run -1
		grep -q 'reason="malformed queue file"' <<<"$output" || { echo "accepted: $bad"; false; }
	done
	# and a check line before the recipients is not one
	printf 'Fa@example.org\nC9 e3069283\nTok@example.test\n\n123456789' >"$QUEUE/new/1795000000.000005.0000005"
	run queue-run -1
	grep -q 'id=1795000000.000005.0000005 reason="malformed queue file"' <<<"$output"
	[ ! -e "$STANDIN/log" ]
}
