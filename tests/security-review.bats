#!/usr/bin/env bats
# Regression tests from the security review of the code that handles
# hostile input (and the configuration it trusts): each test fails
# without its fix.  Dialogues on stdin, exact replies on stdout.

load lib

setup() {
	sluice_conf
	sluice_users bob@example.test
	export TCPREMOTEIP=192.0.2.7 TCPREMOTEPORT=40000 TCPLOCALIP=192.0.2.1 TCPLOCALPORT=25 TZ=UTC
	unset RELAYCLIENT QMAILQUEUE TCPREMOTEHOST
	OUT=$BATS_TEST_TMPDIR/out
	LOG=$BATS_TEST_TMPDIR/log
}

# smtp: raw bytes on stdin (printf escapes in $1), replies in $OUT
smtp() {
	printf "$1" | smtp-recv "${@:2}" 2>>"$LOG" | sed -E 's/[0-9]{10}\.[0-9]{6}\.[0-9]{7}/QID/g' >"$OUT"
}

# expect: the replies in $OUT are exactly these lines, each ending in CRLF
expect() {
	if ! printf '%s\r\n' "$@" | cmp -s - "$OUT"; then
		diff <(printf '%s\r\n' "$@" | cat -A) <(cat -A "$OUT")
		return 1
	fi
}

@test "conf policy: a relative socket name that is too long once resolved is refused, never copied past sun_path" {
	# 108 octets of sun_path: the name alone is short, the conf dir makes it long
	long=$BATS_TEST_TMPDIR/$(printf 'c%.0s' $(seq 100))
	mkdir "$long"
	cp -R "$CONF"/. "$long"/
	export SLUICE_CONF=$long
	echo "unix:policy.sock" >"$long/policy"
	smtp 'EHLO c.example\r\nQUIT\r\n'
	expect '421 4.3.0 Configuration unreadable, try again later'
	grep -q 'conf policy: socket path empty or too long' "$LOG"
}
