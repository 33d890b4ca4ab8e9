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

@test "SMTPUTF8 addresses must be UTF-8 (RFC 6532 3.1): stray, overlong, surrogate octets are syntax errors" {
	smtp 'EHLO c.example\r\nMAIL FROM:<a\xffb@example.org> SMTPUTF8\r\nMAIL FROM:<a\xc0\xafb@example.org> SMTPUTF8\r\nMAIL FROM:<a\xed\xa0\x80@example.org> SMTPUTF8\r\nMAIL FROM:<a@ex\xe2\x82ample.org> SMTPUTF8\r\nMAIL FROM:<\xc3\xa9@example.org> SMTPUTF8\r\nRCPT TO:<bob\xe9@example.test>\r\nRCPT TO:<"\xf4\x90\x80\x80"@example.test>\r\nQUIT\r\n'
	expect '220 mx.example.test ESMTP sluice' '250-mx.example.test' '250-PIPELINING' '250-SIZE 26214400' \
		'250-8BITMIME' '250-ENHANCEDSTATUSCODES' '250-SMTPUTF8' '250 CHUNKING' \
		'501 5.1.7 Bad sender address syntax' '501 5.1.7 Bad sender address syntax' \
		'501 5.1.7 Bad sender address syntax' '501 5.1.7 Bad sender address syntax' \
		'250 2.1.0 Ok' '501 5.1.3 Bad recipient address syntax' '501 5.1.3 Bad recipient address syntax' \
		'221 2.0.0 mx.example.test Bye'
}

@test "a bounce quoting a remote server's long reply keeps every line within 998 octets (RFC 5322 2.1.1)" {
	: >"$CONF/limits"
	# a hostile server's reply without a space; queue-run keeps 1000 octets of it
	export LONG="550 5.1.1 $(printf 'x%.0s' $(seq 1500))"
	printf '#!/bin/sh\ncat >/dev/null\nprintf "h%%s\\0D%%s\\0" "$LONG" "$LONG"\n' >"$BATS_TEST_TMPDIR/remote"
	chmod +x "$BATS_TEST_TMPDIR/remote"
	echo "$BATS_TEST_TMPDIR/remote" >"$CONF/remote-delivery"
	printf 'Subject: s\n\nbody\n' | inject_env sender@example.org perm@remote.example
	run queue-run -1
	[ "$status" -eq 0 ]
	bounce=$(find "$QUEUE/new" -type f)
	[ "$(echo "$bounce" | wc -l)" = 1 ]
	grep -q '^Diagnostic-Code: smtp; 550 5.1.1 xxx' "$bounce"
	awk 'length($0) > 998 { print "line " NR " is " length($0) " octets"; bad = 1 } END { exit bad }' "$bounce"
	# the text is all there, folded
	sed -z 's/\n    //g' "$bounce" | grep -q ">:550 5.1.1 $(printf 'x%.0s' $(seq 990))$"
}

@test "deliver-remote never sends a bare CR (RFC 5321 2.3.8): no <CR>.<CR> for the next hop to end the data at" {
	echo 127.0.0.1 >"$CONF/nameservers"
	bg_start python3 "$TOP/tests/peers/smtp-peer.py" --listen 127.0.0.2:25 --record "$BATS_TEST_TMPDIR/mx.rec"
	wait_for 10 port_open 25 127.0.0.2
	# local mail (sendmail keeps a CR inside a line): a smuggling attempt, and a CRLF ending
	printf 'Subject: cr\n\nA\r.\rMAIL FROM:<x@evil.example>\nend\r\n\r' >"$BATS_TEST_TMPDIR/msg"
	run sh -c 'deliver-remote "[127.0.0.2]" a@example.org bob@example.test <"$0" 2>/dev/null | tr "\0" "\n"' "$BATS_TEST_TMPDIR/msg"
	[ "${lines[0]:0:1}" = r ]
	printf '%s\r\n' "EHLO mx.example.test" "MAIL FROM:<a@example.org> SIZE=56" "RCPT TO:<bob@example.test>" DATA \
		"Subject: cr" "" "A . MAIL FROM:<x@evil.example>" "end" "" "." QUIT | cmp - "$BATS_TEST_TMPDIR/mx.rec"
}

@test "rules: a regular expression with back-references is refused (a hostile header could take exponential time)" {
	printf 'eom header Subject =~ /^(.*)(.*)\\2\\1$/ reject 550 5.7.1 "x"\neom header Subject =~ /a\\\\1/ reject 550 5.7.1 "y"\n' >"$CONF/rules"
	run smtp-filter -n
	[ "$status" -eq 1 ]
	[ "$output" = "$CONF/rules:1: bad regular expression /^(.*)(.*)\\2\\1$/: back-references are not allowed (no bound on matching time)" ]
}

@test "deliver-local as root: a symbolic link anywhere on a mailbox's path is refused, nothing is written through it" {
	# a users mailbox without an owner, delivered as root (queue owned by root);
	# the user owns a directory on the way and swaps a part of it for a link
	printf 'example.test\n' >"$CONF/locals"
	victim=$BATS_TEST_TMPDIR/etc
	home=$BATS_TEST_TMPDIR/home/u
	mkdir -p "$victim" "$home/mail"
	cat >"$CONF/users" <<-EOF2
		md@example.test  $home/mail/Maildir/
		mb@example.test  $home/mail/mbox
		hl@example.test  $home/hard.mbox
		ok@example.test  $home/mail/good/
	EOF2
	printf 'Subject: s\n\nbody\n' >"$BATS_TEST_TMPDIR/msg"
	dl() { deliver-local a@example.org "$1" <"$BATS_TEST_TMPDIR/msg" 2>/dev/null; }
	# without a link it works
	run dl ok@example.test
	[ "$status" -eq 0 ]
	[ "$(ls "$home/mail/good/new" | wc -l)" = 1 ]
	mv "$home/mail" "$home/mail.old"
	ln -s "$victim" "$home/mail"
	run dl md@example.test
	[ "$status" -eq 111 ]
	[ "$output" = "4.3.0 refusing a symbolic link on the path to $home/mail/Maildir/: delivering as root, no link is followed" ]
	run dl mb@example.test
	[ "$status" -eq 111 ]
	[ "$output" = "4.3.0 refusing a symbolic link on the path to $home/mail/mbox: delivering as root, no link is followed" ]
	# a link higher up is refused the same way
	rm "$home/mail"
	mv "$home/mail.old" "$home/mail"
	mv "$BATS_TEST_TMPDIR/home" "$BATS_TEST_TMPDIR/real-home"
	ln -s real-home "$BATS_TEST_TMPDIR/home"
	run dl ok@example.test
	[ "$status" -eq 111 ]
	[ "$output" = "4.3.0 refusing a symbolic link on the path to $home/mail/good/: delivering as root, no link is followed" ]
	rm "$BATS_TEST_TMPDIR/home"
	mv "$BATS_TEST_TMPDIR/real-home" "$BATS_TEST_TMPDIR/home"
	# an mbox hard-linked to a file of root's is not a mailbox
	printf 'root:x:0:0::/root:/bin/sh\n' >"$victim/passwd"
	ln "$victim/passwd" "$home/hard.mbox"
	run dl hl@example.test
	[ "$status" -eq 111 ]
	[[ "$output" = "4.3.0 unable to open $home/hard.mbox: Too many links" ]]
	# nothing reached the victim
	[ "$(ls -A "$victim")" = passwd ]
	[ "$(cat "$victim/passwd")" = "root:x:0:0::/root:/bin/sh" ]
	[ "$(ls "$home/mail/good/new" | wc -l)" = 1 ]
}

# filter MESSAGE-FILE: smtp-filter at eom in front of the fixture that keeps
# what it gets; exit code in $status, fd 6 in $BATS_TEST_TMPDIR/fd6
filter() {
	set +e
	smtp-filter -- "$FIXTURES/smtp-filter/dump-next" <"$1" 1< <(printf 'Fa@example.org\0Tbob@example.test\0\0') \
		6>"$BATS_TEST_TMPDIR/fd6" 2>>"$LOG"
	status=$?
	set -e
}

@test "rules: a regular expression sees the first rules-regex-bytes of a value (an 80 KB header takes no seconds), within a per-message budget" {
	export OUT=$BATS_TEST_TMPDIR/dump
	mkdir -p "$OUT"
	# glibc takes time quadratic in the length for /a.*b/: 80 KB was 10 s
	printf 'eom header Subject =~ /a.*b/ reject 550 5.7.1 "hit"\neom header Subject =~ /q$/ reject 550 5.7.1 "end"\n' >"$CONF/rules"
	m=$BATS_TEST_TMPDIR/m
	{ printf 'Subject: '; head -c 81920 /dev/zero | tr '\0' a; printf '\n\nbody\n'; } >"$m"
	start=$(date +%s%N)
	filter "$m"
	took=$((($(date +%s%N) - start) / 1000000))
	echo "took ${took} ms"
	[ "$took" -lt 2000 ]
	[ "$status" -eq 0 ]
	cmp "$m" "$OUT/msg"
	# a b past the first 4096 bytes is not seen
	{ printf 'Subject: '; head -c 5000 /dev/zero | tr '\0' a; printf 'b\n\nbody\n'; } >"$m"
	filter "$m"
	[ "$status" -eq 0 ]
	# ordinary values still match, and $ still anchors at a real end
	printf 'Subject: an ab here\n\nbody\n' >"$m"
	filter "$m"
	[ "$status" -eq 82 ]
	printf 'D550 5.7.1 hit' | cmp - "$BATS_TEST_TMPDIR/fd6"
	printf 'Subject: ends in q\n\nbody\n' >"$m"
	filter "$m"
	[ "$status" -eq 82 ]
	printf 'D550 5.7.1 end' | cmp - "$BATS_TEST_TMPDIR/fd6"
	# $ does not match where a value was cut
	{ printf 'Subject: '; head -c 5000 /dev/zero | tr '\0' q; printf '\n\nbody\n'; } >"$m"
	filter "$m"
	[ "$status" -eq 0 ]
	# the limit is the administrator's
	echo 'rules-regex-bytes 8192' >"$CONF/limits"
	filter "$m"
	[ "$status" -eq 82 ]
	printf 'D550 5.7.1 end' | cmp - "$BATS_TEST_TMPDIR/fd6"
	# many long fields: past the budget the message fails temporarily, it is not let through unchecked
	printf 'rules-regex-budget 40000\n' >"$CONF/limits"
	{ for i in $(seq 20); do printf 'Subject: '; head -c 4000 /dev/zero | tr '\0' x; printf '\n'; done
	  printf '\nbody\n'; } >"$m"
	start=$(date +%s%N)
	filter "$m"
	took=$((($(date +%s%N) - start) / 1000000))
	[ "$took" -lt 2000 ]
	[ "$status" -eq 82 ]
	printf 'Z451 4.3.0 temporary failure in the content rules' | cmp - "$BATS_TEST_TMPDIR/fd6"
	grep -q 'event=rule-fail .*regular expressions would match more than 40000 bytes here (limits: rules-regex-budget)' "$LOG"
}

@test "log lines: a quoted local part cannot forge a field; its value comes back byte for byte (lib/log.c)" {
	# RFC 5321 Quoted-string local parts may hold blanks, '=' and \" : all of it one field
	smtp 'EHLO c.example\r\nMAIL FROM:<"a id=FAKE \\"x"@example.org>\r\nRCPT TO:<"b id=FAKE2 \\"y"@example.test>\r\nQUIT\r\n'
	cat "$LOG"
	"$FIXTURES/logfmt.py" <"$LOG" >/dev/null # every line parses, no key twice
	"$FIXTURES/logfmt.py" event=mail <"$LOG" | sed 's/^pid\t.*/pid/; s/^id\t.*/id/' >"$BATS_TEST_TMPDIR/parsed"
	printf '%s\n' 'prog	smtp-recv' pid 'event	mail' id 'from	<"a id=FAKE \"x"@example.org>' '' |
		diff - "$BATS_TEST_TMPDIR/parsed"
	"$FIXTURES/logfmt.py" event=rcpt <"$LOG" | grep -x 'rcpt	<"b id=FAKE2 \\"y"@example.test>'
	! "$FIXTURES/logfmt.py" <"$LOG" | grep -q '^id	FAKE' || false
	# deliver-local logs the recipient the same way
	export R='"c id=FAKE3 \"z"@example.test'
	run sh -c 'deliver-local a@example.org "$R" </dev/null 2>"$0"' "$BATS_TEST_TMPDIR/dl"
	[ "$status" -eq 100 ]
	cat "$BATS_TEST_TMPDIR/dl"
	"$FIXTURES/logfmt.py" event=deliver 'rcpt=<"c id=FAKE3 \"z"@example.test>' <"$BATS_TEST_TMPDIR/dl" | grep -x 'result	permanent'
}
