#!/usr/bin/env bats
# queue-inject: the queue protocol in, a committed queue file out.

load lib

setup() {
	sluice_conf
}

inject() { # inject ENVELOPE-PRINTF-FORMAT < message
	queue-inject 1< <(printf "$1")
}

@test "a message and envelope become one queue file in new/" {
	printf 'Subject: t\n\nhello\n' | inject 'Fa@example.org\0Tb@example.test\0Tc@example.test\0\0'
	[ "$(queued_files | wc -l)" = 1 ]
	f=$(queued_files)
	printf 'Subject: t\n\nhello\n' >"$BATS_TEST_TMPDIR/m"
	printf 'Fa@example.org\nTb@example.test\nTc@example.test\n%s\n\nSubject: t\n\nhello\n' \
		"$(queue_check_line "$BATS_TEST_TMPDIR/m")" | cmp - "$f"
	[ -z "$(ls "$QUEUE/tmp")" ]
}

@test "the null sender is kept as F with nothing after it" {
	printf 'x\n' | inject 'F\0Tb@example.test\0\0'
	head -n1 "$(queued_files)" | cmp - <(printf 'F\n')
}

@test "a plain shell pipeline feeds it" {
	printf 'Fs@example.org\0Tr@example.test\0\0' >"$BATS_TEST_TMPDIR/env"
	run sh -c "printf 'Subject: p\n\nbody\n' | queue-inject 1<'$BATS_TEST_TMPDIR/env'"
	[ "$status" -eq 0 ]
	[ "$(queued_files | wc -l)" = 1 ]
}

@test "envelope errors are exit 91 and leave nothing behind" {
	for env in 'Xa@b\0Tc@d\0\0' 'Fa@b\0Xc@d\0\0' 'Fa@b\0\0' 'Fa@b\0T\0\0' 'Fa\rb@c\0Td@e\0\0' 'Fa@b\0Tc\nd@e\0\0'; do
		run inject "$env" </dev/null
		[ "$status" -eq 91 ] || { echo "envelope $env gave $status"; false; }
	done
	[ -z "$(queued_files)" ]
	[ -z "$(ls "$QUEUE/tmp")" ]
}

@test "a truncated envelope is exit 54 (cannot read input)" {
	for env in '' 'Fa@b' 'Fa@b\0Tc@d\0'; do
		run inject "$env" </dev/null
		[ "$status" -eq 54 ] || { echo "envelope '$env' gave $status"; false; }
	done
	[ -z "$(queued_files)" ]
	[ -z "$(ls "$QUEUE/tmp")" ]
}

@test "a missing queue directory is a temporary failure (53)" {
	echo "$BATS_TEST_TMPDIR/nonexistent" >"$CONF/queuedir"
	run inject 'Fa@b\0Tc@d\0\0' </dev/null
	[ "$status" -eq 53 ]
}

@test "a large message (spilled past memory) is stored byte for byte" {
	head -c 3000000 /dev/urandom | base64 >"$BATS_TEST_TMPDIR/big"
	inject 'Fa@b\0Tc@example.test\0\0' <"$BATS_TEST_TMPDIR/big"
	f=$(queued_files)
	head=$(printf 'Fa@b\nTc@example.test\n%s\n\n' "$(queue_check_line "$BATS_TEST_TMPDIR/big")" | wc -c)
	head -c "$head" "$f" | grep -qx "$(queue_check_line "$BATS_TEST_TMPDIR/big")"
	tail -c +"$((head + 1))" "$f" | cmp - "$BATS_TEST_TMPDIR/big"
}

@test "messages at the edges of its 64 KiB blocks and of the spill limit are stored byte for byte" {
	# queue-inject holds a message in blocks of 65472 octets and spills it
	# to a file at 1 MiB (queue-inject.c, CHUNK and SPILL_AT); the pieces
	# come through a pipe in odd sizes, so reads end anywhere in a block
	for n in 1 65471 65472 65473 130944 130945 1048575 1048576 1048577; do
		python3 -c 'import os, sys
n = int(sys.argv[1]); data = os.urandom(n)
open(sys.argv[2], "wb").write(data)
i, step = 0, 1
while i < n:
    sys.stdout.buffer.write(data[i:i + step]); sys.stdout.buffer.flush()
    i += step; step = step * 7 % 40009 + 1' "$n" "$BATS_TEST_TMPDIR/m" |
			inject 'Fa@b\0Tc@example.test\0\0'
		f=$(queued_files)
		head=$(printf 'Fa@b\nTc@example.test\n%s\n\n' "$(queue_check_line "$BATS_TEST_TMPDIR/m")" | wc -c)
		head -c "$head" "$f" | grep -qx "$(queue_check_line "$BATS_TEST_TMPDIR/m")" || { echo "size $n: check line"; false; }
		tail -c +"$((head + 1))" "$f" | cmp - "$BATS_TEST_TMPDIR/m" || { echo "size $n: bytes"; false; }
		rm -f "$f"
	done
}

@test "ids are unique and sort by arrival" {
	for i in 1 2 3 4 5; do printf "n: $i\n" | inject 'Fa@b\0Tc@d\0\0'; done
	run sh -c "ls '$QUEUE/new' | sort | xargs -I{} tail -n1 '$QUEUE/new/{}'"
	[ "$output" = "$(printf 'n: 1\nn: 2\nn: 3\nn: 4\nn: 5')" ]
}

@test "QMAILQUEUE-style usage error: arguments are refused with 100" {
	run queue-inject extra
	[ "$status" -eq 100 ]
}

@test "a listening queue-run is woken through the trigger FIFO" {
	mkfifo "$QUEUE/trigger"
	exec 5<>"$QUEUE/trigger"
	printf 'x\n' | inject 'Fa@b\0Tc@d\0\0'
	run timeout 5 dd bs=1 count=1 status=none <&5
	exec 5<&-
	[ "$status" -eq 0 ]
}

@test "disk full: exit 53 and nothing visible" {
	[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
	mnt=$BATS_TEST_TMPDIR/small
	mkdir -p "$mnt"
	printf 'Fa@b\0Tc@d\0\0' >"$BATS_TEST_TMPDIR/env"
	unshare -m sh -c "
		mount -t tmpfs -o size=256k tmpfs '$mnt' &&
		mkdir -p '$mnt/q/tmp' '$mnt/q/new' &&
		echo '$mnt/q' > '$CONF/queuedir' &&
		head -c 1000000 /dev/zero | queue-inject 1<'$BATS_TEST_TMPDIR/env'; echo rc=\$? > '$BATS_TEST_TMPDIR/rc';
		ls -A '$mnt/q/new' '$mnt/q/tmp' > '$BATS_TEST_TMPDIR/left'"
	[ "$(cat "$BATS_TEST_TMPDIR/rc")" = rc=53 ]
	[ "$(grep -vc -e '^$' -e ':$' "$BATS_TEST_TMPDIR/left")" = 0 ]
}

@test "QUEUE_ID chooses the id; an invalid one is ignored" {
	printf 'x\n' | QUEUE_ID=1795316978.951365.0003415 inject 'Fa@b\0Tc@d\0\0'
	[ -f "$QUEUE/new/1795316978.951365.0003415" ]
	printf 'y\n' | QUEUE_ID=../../etc/passwd inject 'Fa@b\0Tc@d\0\0'
	[ "$(queued_files | wc -l)" = 2 ]
	[ ! -e "$QUEUE/etc/passwd" ]
}

@test "crash test: 200 injections killed at random moments; every exit 0 is whole in the queue, nothing partial is visible" {
	head -c 1500000 /dev/urandom | base64 >"$BATS_TEST_TMPDIR/big"
	printf 'Fa@example.org\0Tb@example.test\0\0' >"$BATS_TEST_TMPDIR/env"
	printf 'Fa@example.org\nTb@example.test\n%s\n\n' "$(queue_check_line "$BATS_TEST_TMPDIR/big")" |
		cat - "$BATS_TEST_TMPDIR/big" >"$BATS_TEST_TMPDIR/want"
	: >"$BATS_TEST_TMPDIR/results"
	for i in $(seq 200); do
		id=$(printf '1795000000.%06d.%07d' "$i" "$i")
		QUEUE_ID=$id queue-inject <"$BATS_TEST_TMPDIR/big" 1<"$BATS_TEST_TMPDIR/env" 2>/dev/null &
		pid=$!
		# a random moment within the injection's few milliseconds
		sleep "0.00$((RANDOM % 10))"
		kill -KILL "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" || rc=$?
		echo "$id $rc" >>"$BATS_TEST_TMPDIR/results"
	done
	committed=$(awk '$2 == 0' "$BATS_TEST_TMPDIR/results" | wc -l)
	killed=$(awk '$2 == 137' "$BATS_TEST_TMPDIR/results" | wc -l)
	echo "committed $committed, killed $killed" >&3
	[ $((committed + killed)) -eq 200 ]
	# every injection that exited 0 is in the queue, whole
	while read -r id rc; do
		if [ "$rc" = 0 ]; then
			cmp "$QUEUE/new/$id" "$BATS_TEST_TMPDIR/want" || { echo "$id acknowledged but not whole"; false; }
		fi
	done <"$BATS_TEST_TMPDIR/results"
	# and whatever is visible is whole (a kill after the rename is a committed message)
	for f in "$QUEUE"/new/*; do
		[ -e "$f" ] || continue
		cmp "$f" "$BATS_TEST_TMPDIR/want" || { echo "$f is partial"; false; }
	done
}

@test "a QUEUE_ID already in use never replaces a message: new/, msg/ and hold/ keep theirs" {
	id=1795316978.951365.0003415
	for d in new msg hold; do
		printf 'F\nTx@example.test\n\nkeep me %s\n' "$d" >"$QUEUE/$d/$id"
		printf 'intruder\n' | QUEUE_ID=$id inject 'Fa@b\0Tc@d\0\0'
		[ "$(cat "$QUEUE/$d/$id")" = "$(printf 'F\nTx@example.test\n\nkeep me %s' "$d")" ]
		rm "$QUEUE/$d/$id"
	done
	# three intruders, each under a fresh id
	[ "$(grep -l '^intruder$' "$QUEUE"/new/* | wc -l)" = 3 ]
}

@test "flushes follow the file system: one on ext4 with its journal, file and new/ on ext2; queue-run says which" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	command -v strace >/dev/null && command -v mkfs.ext4 >/dev/null && command -v mkfs.ext2 >/dev/null ||
		skip "no strace or mkfs"
	# a sanitized build's leak checker cannot run under ptrace
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	# each in a private mount namespace: the mount (and its loop device) go when it ends
	for fs in ext4 ext2; do
		truncate -s 32M "$BATS_TEST_TMPDIR/$fs.img"
		"mkfs.$fs" -q -F "$BATS_TEST_TMPDIR/$fs.img"
		mkdir "$BATS_TEST_TMPDIR/$fs"
		run unshare -m bash -c '
			T=$1 M=$1/$2
			mount -o loop "$T/$2.img" "$M" || exit 77
			mkdir "$M/queue" && cp -r "$SLUICE_CONF" "$M/conf" && echo "$M/queue" >"$M/conf/queuedir"
			export SLUICE_CONF=$M/conf
			queue-run -1 2>"$T/$2.log" || exit 1
			printf "x\n" | strace -qq -e trace=fsync,fdatasync -o "$T/$2.st" \
				queue-inject 1< <(printf "Fa@example.org\0Tb@example.test\0\0") 2>>"$T/$2.log" || exit 1
			tr -s " " <"$T/$2.st"; grep -o "flushes=[a-z]*" "$T/$2.log"
			ls "$M/queue/new" | wc -l' bash "$BATS_TEST_TMPDIR" "$fs"
		[ "$status" -ne 77 ] || skip "no loop mount here"
		echo "$fs: $output"
		[ "$status" -eq 0 ]
		if [ $fs = ext4 ]; then
			[[ ${lines[0]} =~ ^fsync\([0-9]+\)\ =\ 0$ ]]
			[ "${#lines[@]}" = 3 ]
			[ "${lines[1]}" = flushes=journal ]
			[ "${lines[2]}" = 1 ]
		else
			[[ ${lines[0]} =~ ^fsync\([0-9]+\)\ =\ 0$ ]]
			[[ ${lines[1]} =~ ^fsync\([0-9]+\)\ =\ 0$ ]]
			[ "${#lines[@]}" = 4 ]
			[ "${lines[2]}" = flushes=plain ]
			[ "${lines[3]}" = 1 ]
		fi
	done
}
