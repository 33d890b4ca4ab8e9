#!/usr/bin/env bats
# smtp-filter -- next...: message + envelope in, message + envelope out to
# the next program (fixtures/smtp-filter/dump-next keeps what it got), or
# an exit code and the custom reply on fd 6.

load lib

setup() {
	sluice_conf
	F=$FIXTURES/smtp-filter
	export OUT=$BATS_TEST_TMPDIR/out
	mkdir -p "$OUT"
	unset REMOTE_IP REMOTE_HOST HELO PROTOCOL TLS_VERSION TLS_CIPHER AUTH_USER QUEUE_ID SPF_RESULT
}

rules() { cat >"$CONF/rules"; }

# chain MESSAGE-FILE ENVELOPE-PRINTF: run the filter; status in $status,
# fd 6 in $BATS_TEST_TMPDIR/fd6, stderr in $BATS_TEST_TMPDIR/err
chain() {
	set +e
	smtp-filter -- "$F/dump-next" one two <"$1" 1< <(printf "$2") 6>"$BATS_TEST_TMPDIR/fd6" 2>"$BATS_TEST_TMPDIR/err"
	status=$?
	set -e
}

ENV1='Falice@example.org\0Tbob@example.test\0\0'

# chain_q MSG ENVELOPE: the real queue-inject after the filter (quarantine
# is queue-inject's commit to QUEUE/quarantine/NAME, asked by QUEUE_QUARANTINE)
chain_q() {
	set +e
	smtp-filter -- queue-inject <"$1" 1< <(printf "$2") 6>"$BATS_TEST_TMPDIR/fd6" 2>"$BATS_TEST_TMPDIR/err"
	status=$?
	set -e
}

passed_unchanged() { # the next program got exactly the input
	cmp "$1" "$OUT/msg" && printf "$2" | cmp - "$OUT/env"
}

@test "no rules file: the next program gets the very same message and envelope" {
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 0 ]
	passed_unchanged "$F/plain.eml" "$ENV1"
	printf 'one\ntwo\n' | cmp - "$OUT/args"
}

@test "rules that match nothing pass message and envelope through byte for byte" {
	rules <<<'eom header Subject =~ /nothing-like-this/ reject'
	chain "$F/plain.eml" 'F\0Tbob@example.test\0Tcarol@example.test\0\0'
	[ "$status" -eq 0 ]
	passed_unchanged "$F/plain.eml" 'F\0Tbob@example.test\0Tcarol@example.test\0\0'
}

@test "the next program's exit code is the filter's (it is exec'd)" {
	rules <<<'eom header Subject =~ /nothing/ reject'
	NEXT_EXIT=53 chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 53 ]
}

@test "reject: exit 82 and D<code> <enhanced> <text> on fd 6; nothing goes on" {
	rules <<<'eom header Subject =~ /^\[spam\]/i reject 554 5.7.1 "spam refused"'
	chain "$F/spam.eml" "$ENV1"
	[ "$status" -eq 82 ]
	printf 'D554 5.7.1 spam refused' | cmp - "$BATS_TEST_TMPDIR/fd6"
	[ ! -e "$OUT/msg" ]
}

@test "defer: exit 82 and Z text; disconnect at eom is temporary too" {
	rules <<<'eom header X-Spam-Flag = "yes" defer 451 4.7.1 "greylisted content"'
	chain "$F/spam.eml" "$ENV1"
	[ "$status" -eq 82 ]
	printf 'Z451 4.7.1 greylisted content' | cmp - "$BATS_TEST_TMPDIR/fd6"
	rules <<<'eom header X-Spam-Flag disconnect'
	chain "$F/spam.eml" "$ENV1"
	[ "$status" -eq 82 ]
	printf 'Z421 4.7.0 closing connection' | cmp - "$BATS_TEST_TMPDIR/fd6"
}

@test "without fd 6 a refusal is exit 31 (permanent) or 71 (temporary)" {
	rules <<<'eom header Subject =~ /SPAM/ reject'
	run sh -c "exec 6>&-; smtp-filter -- '$F/dump-next' <'$F/spam.eml' 1< <(printf '$ENV1')"
	run bash -c "exec 6>&-; smtp-filter -- '$F/dump-next' <'$F/spam.eml' 1< <(printf '$ENV1')"
	[ "$status" -eq 31 ]
	rules <<<'eom header Subject =~ /SPAM/ defer'
	run bash -c "exec 6>&-; smtp-filter -- '$F/dump-next' <'$F/spam.eml' 1< <(printf '$ENV1')"
	[ "$status" -eq 71 ]
}

@test "header edits: add, replace, remove give exactly the expected message" {
	rules <<'EOF2'
eom sender = "alice@example.org"  add-header "X-Filtered: yes"
eom header x-mailer               replace-header "X-Mailer: sluice-filter"
eom header Message-ID             remove-header message-id
EOF2
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 0 ]
	cmp "$F/edited.expected" "$OUT/msg"
	printf "$ENV1" | cmp - "$OUT/env"
}

@test "header match sees folded values unfolded; header NAME alone tests presence" {
	rules <<'EOF2'
eom header Subject = "[SPAM] You have won"  add-header "X-Hit: unfolded"
eom header X-Absent                         add-header "X-Hit: absent"
eom !header X-Absent && header x-spam-flag  add-header "X-Hit: presence"
EOF2
	chain "$F/spam.eml" "$ENV1"
	[ "$status" -eq 0 ]
	head -n2 "$OUT/msg" | cmp - <(printf 'X-Hit: unfolded\nX-Hit: presence\n')
}

@test "rewrite-sender, bcc (once), redirect change the envelope" {
	rules <<'EOF2'
eom rcpt = "bob@example.test"      rewrite-sender "bounces@example.test"
eom rcpt-domain = "example.test"   bcc "archive@example.test"
eom rcpt-count >= 1                bcc "archive@example.test"
EOF2
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 0 ]
	printf 'Fbounces@example.test\0Tbob@example.test\0Tarchive@example.test\0\0' | cmp - "$OUT/env"
	cmp "$F/plain.eml" "$OUT/msg"
	rules <<<'eom rcpt = "carol@example.test" redirect "review@example.test"'
	chain "$F/plain.eml" 'Falice@example.org\0Tbob@example.test\0Tcarol@example.test\0\0'
	printf 'Falice@example.org\0Treview@example.test\0\0' | cmp - "$OUT/env"
	rules <<<'eom sender-domain = "example.org" rewrite-sender <>'
	chain "$F/plain.eml" "$ENV1"
	printf 'F\0Tbob@example.test\0\0' | cmp - "$OUT/env"
}

@test "quarantine: queue-inject commits a valid queue file in QUEUE/quarantine/NAME/ID, nothing in new/" {
	rules <<'EOF2'
eom header X-Spam-Flag = "YES"  add-header "X-Quarantined: spam"
eom header X-Spam-Flag = "YES"  quarantine spam
EOF2
	export QUEUE_ID=1795312345.004211.0031337
	chain_q "$F/spam.eml" 'Fwinner@lottery.example\0Tbob@example.test\0Tcarol@example.test\0\0'
	[ "$status" -eq 0 ]
	f=$QUEUE/quarantine/spam/1795312345.004211.0031337
	queue_check_ok "$f"
	{ printf 'Fwinner@lottery.example\nTbob@example.test\nTcarol@example.test\n\nX-Quarantined: spam\n'; cat "$F/spam.eml"; } | cmp - <(without_check "$f")
	[ -z "$(ls -A "$QUEUE/tmp")" ]
	[ -z "$(queued_files)" ]
	grep -q 'event=quarantined id=1795312345.004211.0031337 quarantine=spam' "$BATS_TEST_TMPDIR/err"
	# the same id again (a retry): a fresh id, the first file untouched
	chain_q "$F/spam.eml" 'Fwinner@lottery.example\0Tbob@example.test\0\0'
	[ "$(ls "$QUEUE/quarantine/spam" | wc -l)" = 2 ]
}

@test "quarantine into an unwritable queue fails temporarily (53), never exit 0" {
	rules <<<'eom header X-Spam-Flag quarantine spam'
	rm -rf "$QUEUE/quarantine"
	touch "$QUEUE/quarantine"
	chain_q "$F/spam.eml" "$ENV1"
	[ "$status" -eq 53 ]
}

@test "discard: exit 0, logged, nothing goes on" {
	rules <<<'eom sender = "alice@example.org" discard'
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 0 ]
	[ ! -e "$OUT/msg" ]
	grep -q 'event=discarded' "$BATS_TEST_TMPDIR/err"
}

@test "run: exit code decides, printed header fields are added (once per command)" {
	rules <<EOF2
eom run "$F/scanner" exit 1   reject 554 5.7.0 "virus found"
eom run "$F/scanner"          add-header "X-Never: because scanner exits 0"
EOF2
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 0 ]
	{ printf 'X-Scanned: clean\n'; cat "$F/plain.eml"; } | cmp - "$OUT/msg"
	chain "$F/virus.eml" "$ENV1"
	[ "$status" -eq 82 ]
	printf 'D554 5.7.0 virus found' | cmp - "$BATS_TEST_TMPDIR/fd6"
}

@test "run: the program's headers with folding reach the message; a failing program is a 451" {
	rules <<EOF2
eom run "$F/scanner" exit 1   quarantine virus
EOF2
	export QUEUE_ID=1795312345.004211.0031338
	chain_q "$F/virus.eml" "$ENV1"
	[ "$status" -eq 0 ]
	f=$QUEUE/quarantine/virus/$QUEUE_ID
	without_check "$f" | sed -n '4,6p' | cmp - <(printf 'X-Scanned: infected\nX-Scan-Detail: EICAR-Test-Signature\n\tfound in body\n')
	rules <<<'eom run "/nonexistent/scanner" exit 1 reject'
	chain "$F/virus.eml" "$ENV1"
	[ "$status" -eq 82 ]
	printf 'Z451 4.3.0 temporary failure in the content rules' | cmp - "$BATS_TEST_TMPDIR/fd6"
}

@test "run: a program over filter-timeout is killed and the message deferred" {
	printf '#!/bin/sh\nsleep 30\n' >"$BATS_TEST_TMPDIR/slow"
	chmod +x "$BATS_TEST_TMPDIR/slow"
	echo 'filter-timeout 1' >"$CONF/limits"
	rules <<<"eom run \"$BATS_TEST_TMPDIR/slow\" reject"
	start=$(date +%s)
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 82 ]
	[ $(($(date +%s) - start)) -lt 10 ]
	printf 'Z451 4.3.0 temporary failure in the content rules' | cmp - "$BATS_TEST_TMPDIR/fd6"
}

@test "export: DIR/ID.eml and DIR/ID.json with envelope, connection facts and headers" {
	mkdir "$BATS_TEST_TMPDIR/export"
	rules <<EOF2
eom header Subject =~ /report/  add-header "X-Exported: yes"
eom header Subject =~ /report/  export $BATS_TEST_TMPDIR/export
EOF2
	export QUEUE_ID=1795312345.004211.0031339 REMOTE_IP=192.0.2.7 HELO=client.example.org TLS_VERSION=TLSv1.3
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 0 ]
	d=$BATS_TEST_TMPDIR/export
	{ printf 'X-Exported: yes\n'; cat "$F/plain.eml"; } | cmp - "$d/$QUEUE_ID.eml"
	cmp "$d/$QUEUE_ID.eml" "$OUT/msg"
	python3 - "$d/$QUEUE_ID.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["id"] == "1795312345.004211.0031339", j
assert j["sender"] == "alice@example.org"
assert j["recipients"] == ["bob@example.test"]
assert j["connection"] == {"REMOTE_IP": "192.0.2.7", "HELO": "client.example.org",
                           "TLS_VERSION": "TLSv1.3", "QUEUE_ID": "1795312345.004211.0031339"}, j["connection"]
h = j["headers"]
assert h[0] == {"name": "X-Exported", "value": "yes"}, h[0]
assert h[1]["name"] == "Received" and "by mx.example.test with ESMTP" in h[1]["value"], h[1]
assert [x["name"] for x in h] == ["X-Exported", "Received", "From", "To", "Subject", "X-Mailer", "Message-ID"]
PY
	[ -z "$(ls -A "$d" | grep '^\.')" ]
}

@test "connection facts from the environment: client, helo, auth, tls, spf" {
	rules <<'EOF2'
eom client in 192.0.2.0/24 && helo = "client.example.org"  add-header "X-C: client+helo"
eom authenticated && auth-user = "alice"                   add-header "X-C: auth"
eom tls && tls-version =~ /^TLSv1\.[23]$/                  add-header "X-C: tls"
eom spf = "fail"                                           reject 550 5.7.23 "SPF check failed"
eom client-name =~ /\.example\.org$/                       add-header "X-C: name"
EOF2
	REMOTE_IP=192.0.2.7 HELO=client.example.org AUTH_USER=alice TLS_VERSION=TLSv1.2 REMOTE_HOST=client.example.org \
		chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 0 ]
	head -n4 "$OUT/msg" | cmp - <(printf 'X-C: client+helo\nX-C: auth\nX-C: tls\nX-C: name\n')
	REMOTE_IP=198.51.100.1 SPF_RESULT=fail chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 82 ]
	printf 'D550 5.7.23 SPF check failed' | cmp - "$BATS_TEST_TMPDIR/fd6"
}

@test "size and recipient count; accept stops later rules; tags within the stage" {
	rules <<'EOF2'
eom size > 100K                       reject 552 5.3.4 "too big"
eom rcpt-count > 2                    tag many
eom tagged many                       add-header "X-Many: yes"
eom sender = "boss@example.org"       accept
eom rcpt-count > 2                    defer 452 4.5.3 "too many"
EOF2
	head -c 200000 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/big"
	chain "$BATS_TEST_TMPDIR/big" "$ENV1"
	[ "$status" -eq 82 ]
	printf 'D552 5.3.4 too big' | cmp - "$BATS_TEST_TMPDIR/fd6"
	chain "$F/plain.eml" 'Fboss@example.org\0Ta@x.test\0Tb@x.test\0Tc@x.test\0\0'
	[ "$status" -eq 0 ]
	head -n1 "$OUT/msg" | grep -qx 'X-Many: yes'
	chain "$F/plain.eml" 'Fother@example.org\0Ta@x.test\0Tb@x.test\0Tc@x.test\0\0'
	[ "$status" -eq 82 ]
	printf 'Z452 4.5.3 too many' | cmp - "$BATS_TEST_TMPDIR/fd6"
}

@test "a big envelope (more than a pipe holds) reaches the next program whole" {
	rules <<<'eom header Subject =~ /report/ add-header "X-Big-Envelope: yes"'
	{ printf 'Fa@example.org\\0'; for i in $(seq 1 6000); do printf 'Trecipient-number-%05d@example.test\\0' "$i"; done; printf '\\0'; } >"$BATS_TEST_TMPDIR/envfmt"
	chain "$F/plain.eml" "$(cat "$BATS_TEST_TMPDIR/envfmt")"
	[ "$status" -eq 0 ]
	[ "$(tr '\0' '\n' <"$OUT/env" | grep -c '^Trecipient-number-')" = 6000 ]
	[ "$(tail -c 2 "$OUT/env" | od -An -tx1 | tr -d ' ')" = 0000 ]
}

@test "queue protocol errors: bad envelope 91, truncated 54, bad rules 55, no program 100" {
	rules <<<'eom header Subject =~ /x/ reject'
	chain "$F/plain.eml" 'Xbad\0\0'
	[ "$status" -eq 91 ]
	chain "$F/plain.eml" 'Fa@b\0Tc@d\0'
	[ "$status" -eq 54 ]
	rules <<<'eom header Subject =~ /x/ frobnicate'
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 55 ]
	grep -q "rules:1: expected an action, found 'frobnicate'" "$BATS_TEST_TMPDIR/err"
	run smtp-filter --
	[ "$status" -eq 100 ]
	run smtp-filter
	[ "$status" -eq 100 ]
}

@test "an empty message and a message with no header pass through" {
	rules <<<'eom header Subject =~ /x/ reject'
	: >"$BATS_TEST_TMPDIR/empty"
	chain "$BATS_TEST_TMPDIR/empty" "$ENV1"
	[ "$status" -eq 0 ]
	[ ! -s "$OUT/msg" ]
	printf 'just a body line\nand another\n' >"$BATS_TEST_TMPDIR/nohdr"
	rules <<<'eom rcpt-count = 1 add-header "X-Added: 1"'
	chain "$BATS_TEST_TMPDIR/nohdr" "$ENV1"
	printf 'X-Added: 1\njust a body line\nand another\n' | cmp - "$OUT/msg"
}

@test "run: a checker gets the message read-only and cannot change it" {
	printf '#!/bin/sh\nprintf EVIL >&0 2>/dev/null\nprintf "X-Tried: yes\\n"\nexit 0\n' >"$BATS_TEST_TMPDIR/evil"
	chmod +x "$BATS_TEST_TMPDIR/evil"
	rules <<<"eom run \"$BATS_TEST_TMPDIR/evil\" reject"
	chain "$F/plain.eml" "$ENV1"
	[ "$status" -eq 0 ]
	{ printf 'X-Tried: yes\n'; cat "$F/plain.eml"; } | cmp - "$OUT/msg"
}
