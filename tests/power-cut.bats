#!/usr/bin/env bats
# Power cuts under load, on ext4 and XFS.  A loop-mounted file system holds
# the queue and the maildirs; queue-inject writers, an SMTP client through
# tcpserver + smtp-recv, and queue-run + deliver-local run against it; at a
# random moment the file system is shut down without flushing its journal
# (FS_IOC_SHUTDOWN with NOLOGFLUSH, xfs_io's "shutdown": what was not
# committed is lost, as at a power cut), everything is killed, and the file
# system is mounted again (journal replay).  Then queue-run delivers what is
# left and fixtures/power-cut/check.py checks: every acknowledged message
# (queue-inject exit 0, SMTP 250) delivered to each recipient byte-exact;
# nothing partial delivered; duplicates only for deliveries in flight at the
# cut.  Limits: the cut keeps every write the file system had sent to the
# loop device (a disk without a volatile cache); what it tests is the file
# system's own ordering of journal commits and data write-back, which is
# what sluice's flush sequence relies on (doc/durability.md).
#
# The cuts of one test run in a mount namespace of their own (propagation
# slave): the loop mount is not in the host's namespace, so a namespace
# another test creates meanwhile cannot copy it and keep the file system
# alive after it is unmounted, and everything goes away with the namespace.

load lib

ROUNDS=${POWER_CUT_ROUNDS:-8}
CONC_LOCAL=4
LOCAL_BATCH=4 # recipients per deliver-local run: a crash may repeat CONC_LOCAL of these runs

setup() {
	[ "$(id -u)" = 0 ] || skip "needs root (loop devices, mount)"
	local p
	for p in losetup mkfs.ext4 mkfs.xfs python3 tcpserver strace; do
		command -v "$p" >/dev/null || skip "$p is not installed (xfsprogs, util-linux, e2fsprogs, strace)"
	done
	T=$BATS_TEST_TMPDIR
	IMG=$T/fs.img
	MNT=$T/mnt
	POOL=$T/pool
	ACKS=$T/acks
	mkdir -p "$MNT" "$POOL"
	# message bodies: printable lines, 200 B to 300 KB, and one past
	# queue-inject's 1 MiB in-memory limit (its spill file)
	python3 - "$POOL" <<-'EOF2'
		import base64, os, sys
		sizes = [200, 1000, 3000, 1500, 40000, 800, 300000, 2500, 1300000, 5000, 120000, 700, 9000]
		for i, size in enumerate(sizes):
		    raw = base64.b64encode(os.urandom(size))[:size]
		    lines = [raw[k:k + 76] for k in range(0, len(raw), 76)]
		    body = b'Subject: power cut %d\n\n' % i + b'\n'.join(lines) + b'\n'
		    open(os.path.join(sys.argv[1], str(i)), 'wb').write(body)
	EOF2
	PORT=2525
}

teardown() {
	kill_load
}

# fs_make TYPE: a fresh file system of TYPE in $IMG
fs_make() {
	rm -f "$IMG"
	truncate -s 320M "$IMG"
	case $1 in
	ext4) mkfs.ext4 -q -F "$IMG" ;;
	# (ext4 with -O fast_commit is not here: on Linux 6.18 its journal
	# replay after such a cut failed now and then, "JBD2: journal recovery
	# failed", and the file system would not mount; doc/durability.md)
	xfs) mkfs.xfs -q -f "$IMG" ;;
	esac
}

# fs_mount: $IMG on $MNT through a loop device (autoclear: it is detached
# when the file system is unmounted)
fs_mount() {
	mount -o loop "$IMG" "$MNT"
}

# (mountpoint(1) stats the directory, which fails on a file system shut down)
mounted() { grep -q " $MNT " /proc/self/mountinfo; }
mnt_free() { umount "$MNT" 2>/dev/null || ! mounted; }

# fs_unmount: unmount, whatever state it is in (the loop device goes with it)
fs_unmount() {
	if mounted; then
		wait_for 20 mnt_free || umount -l "$MNT"
	fi
}

# kill_load: SIGKILL every process group bg_start made (a power cut gives
# no warning), and wait until they are gone
kill_load() {
	[ -f "$T/bg.pids" ] || return 0
	local p
	while read -r p; do
		kill -KILL -- "-$p" 2>/dev/null || true
	done <"$T/bg.pids"
	while read -r p; do
		wait_for 10 gone "$p" || true
	done <"$T/bg.pids"
	rm -f "$T/bg.pids"
}
gone() { ! kill -0 "$1" 2>/dev/null; }

acked() { cat "$ACKS"/ack.* 2>/dev/null | wc -l; }
acked_at_least() { [ "$(acked)" -ge "$1" ]; }

# writer W: queue-inject in a loop; "W-N" goes to ack.W once it exited 0
writer() {
	local w=$1 n=0 env
	while :; do
		n=$((n + 1))
		env='Fs@example.org\0Tu1@example.test\0'
		[ $((n % 2)) = 1 ] && env="$env"'Tu2@example.test\0'
		if { printf 'X-Token: %s-%s\n' "$w" "$n"; cat "$POOL/$(((w * 7 + n) % NPOOL))"; } |
			queue-inject 1< <(printf "$env\\0") 2>/dev/null; then
			echo "$w-$n $EPOCHREALTIME" >>"$ACKS/ack.$w"
		fi
	done
}

# shutdown_nologflush DIR: FS_IOC_SHUTDOWN (XFS_IOC_GOINGDOWN, _IOR('X',
# 125, __u32) = 0x8004587d) with flag 2, NOLOGFLUSH: what the journal has
# not committed is lost, nothing more is written.  Prints the time just
# before the call (seconds since the epoch).
shutdown_nologflush() {
	python3 - "$1" <<-'EOF2'
		import fcntl, os, struct, sys, time
		fd = os.open(sys.argv[1], os.O_RDONLY)
		t = time.time()
		fcntl.ioctl(fd, 0x8004587d, struct.pack('I', 2))
		print('%.6f' % t)
	EOF2
}

# slow_inject W N: one queue-inject whose flushes strace holds back for a
# minute, so the cut finds it between its rename into new/ and its flush:
# its file is in new/ (or queue-run took it into msg/) with its data not on
# disk.  It is never acknowledged; after the cut its file must be set aside
# or be whole, never delivered cut short.
slow_inject() {
	local w=$1 n=$2 env='Fs@example.org\0Tu1@example.test\0'
	[ $((n % 2)) = 1 ] && env="$env"'Tu2@example.test\0'
	{ printf 'X-Token: %s-%s\n' "$w" "$n"; cat "$POOL/$(((w * 7 + n) % NPOOL))"; } |
		strace -f -qq -o /dev/null -e trace=fsync,fdatasync -e inject=fsync,fdatasync:delay_enter=60000000 \
			queue-inject 1< <(printf "$env\\0") 2>/dev/null &&
		echo "$w-$n $EPOCHREALTIME" >>"$ACKS/ack.$w"
}

# smtp_writer W: the same through smtp-recv with Python's smtplib; a
# message counts once its 250 has come
smtp_writer() {
	python3 - "$1" "$POOL" "$NPOOL" "$ACKS/ack.$1" "$PORT" <<-'EOF2'
		import os, smtplib, sys, time
		w, pool, npool, ack, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
		n = 0
		out = open(ack, 'a')
		while True:
		    n += 1
		    body = open(os.path.join(pool, str((w * 7 + n) % npool))).read()
		    rcpts = ['u1@example.test'] + (['u2@example.test'] if n % 2 else [])
		    try:
		        with smtplib.SMTP('127.0.0.1', port, timeout=10) as s:
		            s.sendmail('s@example.org', rcpts, 'X-Token: %d-%d\n' % (w, n) + body)
		    except (smtplib.SMTPException, OSError):
		        continue
		    out.write('%d-%d %.6f\n' % (w, n, time.time()))
		    out.flush()
	EOF2
}

# one_cut TYPE ROUND: load, cut, replay, check
one_cut() {
	local fs=$1 round=$2
	fs_make "$fs"
	fs_mount || { echo "loop mounting is impossible here (mount -o loop failed)"; return 2; }
	QUEUE=$MNT/queue
	MAIL=$MNT/mail
	rm -rf "$ACKS" "$CONF"
	mkdir -p "$ACKS"
	sluice_conf # the configuration lives outside the file system that is cut
	QUEUE=$MNT/queue
	MAIL=$MNT/mail
	echo "$QUEUE" >"$CONF/queuedir"
	mkdir -p "$QUEUE"/tmp "$QUEUE"/new "$MAIL"
	sluice_users u1@example.test u2@example.test
	printf 'concurrency-local %s\nlocal-batch %s\nshutdown-timeout 1\n' "$CONC_LOCAL" "$LOCAL_BATCH" >"$CONF/limits"
	unset RELAYCLIENT QMAILQUEUE
	export POOL ACKS NPOOL PORT
	export -f writer smtp_writer slow_inject

	bg_start queue-run
	wait_for 10 test -p "$QUEUE/trigger"
	recv_tcpserver
	bg_start bash -c 'writer 1'
	bg_start bash -c 'writer 2'
	bg_start bash -c 'smtp_writer 9'
	# the cut comes after a random number of acknowledged messages
	local target=$((10 + RANDOM % 80))
	wait_for 60 acked_at_least "$target"
	# and shortly after the slow injections renamed their files into new/
	bg_start bash -c 'slow_inject 5 1'
	bg_start bash -c 'slow_inject 5 12'
	wait_for 60 acked_at_least $((target + 2 + RANDOM % 8))
	# an acknowledgement counts if it came before the cut: the programs
	# outlive this cut (a real one stops them), and a flush racing with
	# it may return success for what the cut threw away
	local cut
	cut=$(shutdown_nologflush "$MNT")
	kill_load
	local before
	before=$(acked)
	fs_unmount
	fs_mount
	# what survived in the queue, then the delivery of the rest
	local queued
	queued=$(find "$QUEUE/new" "$QUEUE/msg" -type f | wc -l)
	queue-run -1 -f >"$T/drain.$fs.$round" 2>&1 || { cat "$T/drain.$fs.$round"; return 1; }
	local out st=0
	out=$("$FIXTURES/power-cut/check.py" "$POOL" "$ACKS" "$MAIL" "$QUEUE" $((CONC_LOCAL * LOCAL_BATCH)) "$cut") || st=$?
	echo "$fs round $round: cut after $before acks, $queued queued after replay; $out"
	[ "$st" -eq 0 ] || { grep -h 'event=' "$T/drain.$fs.$round" | tail -20; return 1; }
	fs_unmount
}

# cuts TYPE: ROUNDS cuts, each on a fresh TYPE file system, in a private
# mount namespace; 2 when loop mounting is impossible
cuts() {
	NPOOL=$(ls "$POOL" | wc -l)
	export T IMG MNT POOL ACKS PORT NPOOL ROUNDS CONC_LOCAL LOCAL_BATCH TOP FIXTURES BATS_TEST_TMPDIR PATH
	export -f one_cut fs_make fs_mount fs_unmount mounted mnt_free kill_load gone acked acked_at_least \
		writer smtp_writer slow_inject shutdown_nologflush wait_for bg_start sluice_conf sluice_users \
		recv_tcpserver port_open
	# (its stderr, bash's notes on the jobs it kills, goes to a file)
	run unshare -m --propagation slave bash -c 'exec 2>"$T/cuts.err"; trap "kill_load; fs_unmount" EXIT
		for r in $(seq "$ROUNDS"); do one_cut "$1" "$r" || exit $?; done' _ "$1"
	printf '%s\n' "$output" >&3
	[ "$status" -ne 2 ] || skip "$output"
	[ "$status" -eq 0 ] || { grep -v Killed "$T/cuts.err" | tail -20; false; }
}

@test "power cuts on ext4: nothing acknowledged lost, nothing partial delivered" {
	cuts ext4
}

@test "power cuts on XFS: nothing acknowledged lost, nothing partial delivered" {
	cuts xfs
}
