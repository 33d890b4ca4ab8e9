#!/usr/bin/env bats
# Privilege separation (INSTALL section 2): make install's owners and modes
# in a DESTDIR, the set-uid queue-inject as the only way into the queue
# (SLUICE_CONF ignored), the set-uid root deliver-local switching to the
# recipient or to the mail owner.  Needs root: it creates (and removes)
# its own users with make install-users.

load lib

setup() {
	[ "$(id -u)" = 0 ] || skip "needs root"
	# world-traversable, so the test users reach the staged tree
	T=$(mktemp -d /tmp/sluice-privsep.XXXXXX)
	chmod 0755 "$T"
	SU=slr$$ QU=slq$$ AU=sla$$
	make -C "$TOP" -s install-users SMTPUSER="$SU" QUEUEUSER="$QU" >/dev/null
	useradd --no-user-group --gid "$SU" --home-dir "$T/home" --no-create-home --shell /bin/sh "$AU"
	D=$T/root
	make -C "$TOP" -s -o all install DESTDIR="$D" PREFIX=/usr SMTPUSER="$SU" QUEUEUSER="$QU" >/dev/null
}

teardown() {
	bg_stop_all
	for u in "${AU:-}" "${SU:-}" "${QU:-}"; do
		[ -n "$u" ] && { userdel "$u" 2>/dev/null; groupdel "$u" 2>/dev/null; }
	done
	[ -n "${T:-}" ] && rm -rf "$T"
	true
}

# as USER COMMAND...: run COMMAND as USER (its own group, no others)
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"
}

# private BINARY SRC LIBS...: a build of SRC whose compiled-in configuration
# directory is $T/etc (what a set-id program always reads)
private() {
	local out=$1 src=$2 san=
	shift 2
	# a sanitized library (make SANITIZE=1) needs the same flags; a set-id
	# program is not dumpable, so LeakSanitizer could not inspect it
	local extra=()
	if nm "$TOP/lib/libsluice.a" 2>/dev/null | grep -q __asan_init; then
		san=-fsanitize=address,undefined
		# set-id, it cannot even read its own /proc/self/environ, so
		# ASAN_OPTIONS cannot reach it: the default is compiled in
		printf 'const char *__asan_default_options(void);\nconst char *__asan_default_options(void) { return "detect_leaks=0"; }\n' \
			>"$T/asan-options.c"
		extra=("$T/asan-options.c")
	fi
	cc -std=c11 -D_GNU_SOURCE $san -I"$TOP/lib" -DSLUICE_CONF_DEFAULT="\"$T/etc\"" -o "$out" \
		"$TOP/$src" "${extra[@]}" "$TOP/lib/conf.c" "$TOP/lib/libsluice.a" "$@"
}

@test "make install as root: every program's owner and mode, the queue tree, the units' users" {
	S=$D/usr/sbin
	for p in "$TOP"/*/build.mk; do
		sed -n 's|^PROGS *+= *||p' "$p"
	done | while read -r prog; do
		n=${prog##*/}
		case $n in
		queue-inject) want="$QU $QU 6711" ;;
		deliver-local) want="root $QU 4750" ;;
		*) want="root root 755" ;;
		esac
		got=$(stat -c '%U %G %a' "$S/$n")
		[ "$got" = "$want" ] || { echo "$n: $got, want $want"; false; }
	done
	[ "$(stat -c '%U %G %a' "$D/var/spool/sluice")" = "$QU $QU 750" ]
	for d in tmp new msg state hold quarantine; do
		[ "$(stat -c '%U %G %a %F' "$D/var/spool/sluice/$d")" = "$QU $QU 750 directory" ]
	done
	[ "$(stat -c '%U %a %F' "$D/var/spool/sluice/trigger")" = "$QU 600 fifo" ]
	# the smtp user is in no group of the queue's
	! id -nG "$SU" | tr ' ' '\n' | grep -qx "$QU" || false
	U=$D/usr/lib/systemd/system
	for s in smtp submission submissions; do
		grep -qx "User=$SU" "$U/sluice-$s@.service"
		grep -qx "Group=$SU" "$U/sluice-$s@.service"
		grep -q "id -u $SU" "$D/usr/share/sluice/service/sluice-$s/run"
	done
	grep -qx "User=$QU" "$U/sluice-queue.service"
	grep -q -- "--reuid=$QU" "$D/usr/share/sluice/service/sluice-queue/run"
	# again: idempotent
	make -C "$TOP" -s install-users SMTPUSER="$SU" QUEUEUSER="$QU" >/dev/null
	make -C "$TOP" -s -o all install DESTDIR="$D" PREFIX=/usr SMTPUSER="$SU" QUEUEUSER="$QU" >/dev/null
}

@test "the smtp user cannot write the queue but injects through the set-uid queue-inject; its SLUICE_CONF is ignored" {
	Q=$D/var/spool/sluice
	mkdir -p "$T/etc" "$T/evil/q/tmp" "$T/evil/q/new"
	echo "$Q" >"$T/etc/queuedir"
	echo "$T/evil/q" >"$T/evil/queuedir"
	chown -R "$QU:$QU" "$T/evil/q"   # writable by the queue owner: honouring it would work
	private "$T/queue-inject" queue-inject/queue-inject.c
	chown "$QU:$QU" "$T/queue-inject"
	chmod 6711 "$T/queue-inject"
	printf 'Fa@example.test\0Tb@example.test\0\0' >"$T/env"
	chmod 0644 "$T/env"
	# directly: no
	run as "$SU" touch "$Q/tmp/x"
	[ "$status" -ne 0 ]
	run as "$SU" ls "$Q/new"
	[ "$status" -ne 0 ]
	# through queue-inject, with a conf of the caller's, a hostile QUEUE_ID and fd 2 closed
	printf 'Subject: hi\n\nbody\n' | as "$SU" env SLUICE_CONF="$T/evil" QUEUE_ID=../../evil \
		"$T/queue-inject" 1<"$T/env" 2>&-
	f=$(ls "$Q/new")
	[ "$(echo "$f" | wc -l)" = 1 ]
	[ "$(stat -c '%U %G %a' "$Q/new/$f")" = "$QU $QU 640" ]
	cmp "$Q/new/$f" <(printf 'Fa@example.test\nTb@example.test\nC18 %s\n\nSubject: hi\n\nbody\n' \
		"$(printf 'Subject: hi\n\nbody\n' >"$T/m" && queue_check_line "$T/m" | cut -d' ' -f2)")
	[ -z "$(find "$T/evil/q" -type f)" ]
	[ -z "$(find "$D" -name evil)" ]
	# a valid QUEUE_ID is still honoured
	printf 'x\n' | as "$SU" env QUEUE_ID=1795316978.951365.0003415 "$T/queue-inject" 1<"$T/env"
	[ -f "$Q/new/1795316978.951365.0003415" ]
	# installed set-uid root by mistake: refused, nothing queued
	rm "$Q"/new/*
	chown root:root "$T/queue-inject"
	chmod 6711 "$T/queue-inject"
	run as "$SU" "$T/queue-inject" 1<"$T/env" <<<x
	[ "$status" = 55 ]
	[[ $output == *"refusing"* || $output == *"set-uid root"* ]]
	[ -z "$(find "$Q/new" "$Q/tmp" -type f)" ]
}

@test "set-uid root deliver-local: as the account for a system user, as the queue user for a virtual mailbox, caller's conf ignored" {
	mkdir -p "$T/etc" "$T/home" "$T/vmail" "$T/evil"
	chown "$AU:$SU" "$T/home"
	chown "$QU:$QU" "$T/vmail"
	echo "$D/var/spool/sluice" >"$T/etc/queuedir"
	echo example.test >"$T/etc/locals"
	printf 'local-min-uid %s\n' "$(id -u "$AU")" >"$T/etc/limits"
	printf 'v@example.test %s/v/\n' "$T/vmail" >"$T/etc/users"
	# a conf of the caller's that would deliver v@ into a file of its choosing
	printf 'v@example.test %s/evil/v/\n' "$T" >"$T/evil/users"
	cp "$T/etc/locals" "$T/etc/limits" "$T/evil/"
	private "$T/deliver-local" deliver-local/deliver-local.c -lcdb
	chown "root:$QU" "$T/deliver-local"
	chmod 4750 "$T/deliver-local"
	printf 'Subject: m\n\nbody\n' >"$T/msg"
	chmod 0644 "$T/msg"
	# only the queue group may run it (where the kernel enforces exec bits:
	# some sandboxes' do not, and running it there still drops to the caller)
	cp /bin/true "$T/probe"
	chmod 0700 "$T/probe"
	if ! as nobody "$T/probe" 2>/dev/null; then
		run as "$SU" "$T/deliver-local" a@b "$AU@example.test" <"$T/msg"
		[ "$status" = 126 ]
	fi
	as "$QU" env SLUICE_CONF="$T/evil" "$T/deliver-local" a@b "$AU@example.test" <"$T/msg"
	f=$(find "$T/home/Maildir/new" -type f)
	[ "$(stat -c %U "$f")" = "$AU" ]
	as "$QU" env SLUICE_CONF="$T/evil" "$T/deliver-local" a@b v@example.test <"$T/msg"
	f=$(find "$T/vmail/v/new" -type f)
	[ "$(stat -c %U "$f")" = "$QU" ]
	[ ! -e "$T/evil/v" ]
	grep -qx 'Delivered-To: v@example.test' "$f"
}

@test "QUEUE_QUARANTINE through the set-uid queue-inject: the message lands in quarantine/NAME, a bad name is refused" {
	Q=$D/var/spool/sluice
	mkdir -p "$T/etc"
	echo "$Q" >"$T/etc/queuedir"
	private "$T/queue-inject" queue-inject/queue-inject.c
	chown "$QU:$QU" "$T/queue-inject"
	chmod 6711 "$T/queue-inject"
	printf 'Fa@example.test\0Tb@example.test\0\0' >"$T/env"
	printf 'Subject: spam\n\nx\n' | as "$SU" env QUEUE_QUARANTINE=spam "$T/queue-inject" 1<"$T/env"
	f=$(find "$Q/quarantine/spam" -type f)
	[ -n "$f" ]
	[ "$(stat -c '%U %a' "$f")" = "$QU 640" ]
	[ -z "$(find "$Q/new" -type f)" ]
	for bad in ../new .hidden 'a/b' ''; do
		run as "$SU" env QUEUE_QUARANTINE="$bad" "$T/queue-inject" 1<"$T/env" <<<x
		[ "$status" = 81 ]
	done
	[ -z "$(find "$Q/new" "$Q/tmp" -type f)" ]
	[ "$(find "$Q/quarantine" -type f | wc -l)" = 1 ]
}
