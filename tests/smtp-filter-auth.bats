#!/usr/bin/env bats
# smtp-filter with email authentication: the spf, dkim, dmarc, dmarc-policy
# and sender-null-mx conditions, the add-auth-results and dkim-sign actions,
# in policy mode and chain mode, against real DNS (ldns-testns on
# 127.0.0.1:53 in the private network namespace) and dkimpy (python3-dkim)
# as the independent DKIM implementation.

load lib
load auth/helpers

setup_file() {
	KEYS=$BATS_FILE_TMPDIR/keys
	keys_make "$KEYS"
}

setup() {
	[ -n "${SLUICE_NETNS:-}" ] || skip "needs the private network namespace of tests/run (root)"
	KEYS=$BATS_FILE_TMPDIR/keys
	F=$FIXTURES/smtp-filter
	export OUT=$BATS_TEST_TMPDIR
	sluice_conf
	unset REMOTE_IP REMOTE_HOST HELO PROTOCOL TLS_VERSION TLS_CIPHER AUTH_USER QUEUE_ID SPF_RESULT SPF_DOMAIN SPF_IDENTITY
	cat >"$BATS_TEST_TMPDIR/zone" <<EOF2
example.org TXT v=spf1 ip4:192.0.2.0/24 -all
_dmarc.example.org TXT v=DMARC1; p=reject
rsa._domainkey.example.org TXT $(cat "$KEYS/rsa.txt")
ed._domainkey.example.org TXT $(cat "$KEYS/ed.txt")
example.org MX 10 mx.example.org
quar.example TXT v=spf1 -all
_dmarc.quar.example TXT v=DMARC1; p=quarantine
nullmx.example MX 0 .
down.example TIMEOUT
EOF2
	dns_serve "$BATS_TEST_TMPDIR/zone"
}

chain() { # chain MSG ENVELOPE: smtp-filter in the queue chain, fd 6 kept
	set +e
	smtp-filter -- "$F/dump-next" <"$1" 1< <(printf "$2") 6>"$BATS_TEST_TMPDIR/fd6" 2>"$BATS_TEST_TMPDIR/err"
	status=$?
	set -e
}

msg() { # msg FROM [header lines]: a small message on stdout
	local from=$1
	shift
	printf 'From: %s\n' "$from"
	for h in "$@"; do printf '%s\n' "$h"; done
	printf 'To: bob@example.test\nSubject: lunch?\nDate: Sun, 22 Nov 2026 03:00:00 +0000\n'
	printf 'Message-ID: <1@example.org>\n\nShall we meet at noon?\n'
}

dkimpy_sign() { # dkimpy_sign < msg: signed by example.org with the RSA key
	"$PY" "$AUTHDIR/pyauth.py" dkim-sign rsa example.org "$KEYS/rsa.key" rsa
}

@test "policy mode: spf fail at mail is the rule's exact reply; computed once per instance" {
	printf 'mail spf fail reject 550 5.7.23 "SPF check failed"\nrcpt spf = fail reject 550 5.7.23 "still failing"\n' >"$CONF/rules"
	{
		policy_req MAIL instance=a client_address=198.51.100.1 helo_name=client.example sender=alice@example.org
		policy_req RCPT instance=a client_address=198.51.100.1 helo_name=client.example sender=alice@example.org recipient=bob@example.test
		policy_req MAIL instance=b client_address=192.0.2.7 helo_name=client.example sender=alice@example.org
	} | policy_run
	policy_expect 'action=550 5.7.23 SPF check failed\n\naction=550 5.7.23 still failing\n\naction=DUNNO\n\n'
	[ "$(grep -c 'event=spf result=fail identity=mailfrom domain=example.org client=198.51.100.1' "$BATS_TEST_TMPDIR/err")" -eq 1 ]
	grep -q 'event=spf result=pass identity=mailfrom domain=example.org client=192.0.2.7' "$BATS_TEST_TMPDIR/err"
}

@test "policy mode: no SPF rule, no SPF lookup; the null sender is checked by HELO" {
	printf 'mail sender = <> && spf none reject 550 5.7.23 "no SPF for HELO"\nmail !tls warn "plain"\n' >"$CONF/rules"
	policy_req MAIL client_address=198.51.100.1 helo_name=nospf.example sender= | policy_run
	policy_expect 'action=550 5.7.23 no SPF for HELO\n\n'
	grep -q 'event=spf result=none identity=helo domain=nospf.example' "$BATS_TEST_TMPDIR/err"
	policy_req MAIL client_address=198.51.100.1 helo_name=nospf.example sender=a@example.org | policy_run
	policy_expect 'action=WARN plain\n\n'
	[ "$(grep -c 'event=spf' "$BATS_TEST_TMPDIR/err")" -eq 0 ]
}

@test "policy mode: a DNS failure is spf temperror, which a rule can defer on" {
	printf 'data spf temperror defer 451 4.7.24 "SPF temporary error"
' >"$CONF/rules"
	policy_req DATA client_address=198.51.100.1 helo_name=client.example sender=x@down.example recipient_count=1 | policy_run
	policy_expect 'action=451 4.7.24 SPF temporary error\n\n'
}

@test "sender-null-mx: a sender domain publishing a Null MX is refused with 5.7.27" {
	printf 'mail sender-null-mx reject 550 5.7.27 "sender domain publishes a null MX"\n' >"$CONF/rules"
	{
		policy_req MAIL instance=a client_address=192.0.2.7 sender=x@nullmx.example
		policy_req MAIL instance=b client_address=192.0.2.7 sender=x@example.org
		policy_req MAIL instance=c client_address=192.0.2.7 sender=
		policy_req MAIL instance=d client_address=192.0.2.7 sender=x@down.example
	} | policy_run
	policy_expect 'action=550 5.7.27 sender domain publishes a null MX\n\naction=DUNNO\n\naction=DUNNO\n\naction=451 4.3.0 temporary failure in the rules\n\n'
}

@test "chain mode: an SPF-fail sender gets Received-SPF and Authentication-Results with spf=fail" {
	printf 'eom add-auth-results\n' >"$CONF/rules"
	msg 'Alice <alice@example.org>' >"$BATS_TEST_TMPDIR/m"
	REMOTE_IP=198.51.100.1 HELO=client.example chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 0 ]
	cat "$OUT/msg"
	sed -n 1p "$OUT/msg" | grep -qx 'Authentication-Results: mx.example.test;'
	grep -q '^[[:space:]]*spf=fail smtp.mailfrom=example.org' "$OUT/msg"
	grep -q '^[[:space:]]*dkim=none' "$OUT/msg"
	grep -q '^[[:space:]]*dmarc=fail' "$OUT/msg"
	grep -q '^Received-SPF: fail (mx.example.test: domain of example.org does not designate 198.51.100.1 as permitted sender)' "$OUT/msg"
	# the message itself follows unchanged
	sed '1,/^Received-SPF:/d' "$OUT/msg" | sed '/^[ \t]/d' | cmp - "$BATS_TEST_TMPDIR/m"
}

@test "chain mode: SPF_RESULT from smtp-recv is used as given, without DNS for SPF" {
	printf 'eom spf softfail add-header "X-SPF: soft"\neom add-auth-results\n' >"$CONF/rules"
	msg 'Alice <alice@example.org>' >"$BATS_TEST_TMPDIR/m"
	REMOTE_IP=192.0.2.7 HELO=client.example SPF_RESULT=softfail SPF_DOMAIN=example.org SPF_IDENTITY=mailfrom \
		chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 0 ]
	grep -q '^X-SPF: soft$' "$OUT/msg"
	grep -q '^[[:space:]]*spf=softfail smtp.mailfrom=example.org' "$OUT/msg"
	grep -q '^Received-SPF: softfail ' "$OUT/msg"
	[ "$(grep -c 'event=spf ' "$BATS_TEST_TMPDIR/err")" -eq 0 ]
}

@test "chain mode: a message signed by dkimpy passes dkim and DMARC; rules see both" {
	cat >"$CONF/rules" <<'EOF2'
eom add-auth-results
eom dkim pass example.org && dmarc pass     add-header "X-Auth: good"
eom dkim pass other.example                 add-header "X-Wrong: other domain"
eom dmarc fail && dmarc-policy reject       reject 550 5.7.1 "rejected by DMARC policy"
EOF2
	msg 'Alice <alice@example.org>' | dkimpy_sign >"$BATS_TEST_TMPDIR/m"
	# SPF fails (unlisted client): DKIM alone makes DMARC pass
	REMOTE_IP=198.51.100.1 HELO=client.example chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	cat "$BATS_TEST_TMPDIR/err"
	[ "$status" -eq 0 ]
	grep -q '^X-Auth: good$' "$OUT/msg"
	[ "$(grep -c '^X-Wrong' "$OUT/msg")" -eq 0 ]
	grep -q '^[[:space:]]*dkim=pass (2048-bit key) header.d=example.org header.i=@example.org header.s=rsa header.a=rsa-sha256' "$OUT/msg"
	grep -q '^[[:space:]]*dmarc=pass (p=reject dis=none) header.from=example.org' "$OUT/msg"
	grep -q '^[[:space:]]*spf=fail' "$OUT/msg"
	# our headers are on top of the message as it came, which still verifies
	run "$PY" "$AUTHDIR/pyauth.py" dkim-verify <"$OUT/msg"
	[ "$output" = "pass d=example.org a=rsa-sha256" ]
}

@test "chain mode: DMARC p=reject and a failure is refused with the rule's reply (exit 82, fd 6)" {
	printf 'eom dmarc fail && dmarc-policy reject reject 550 5.7.1 "rejected by DMARC policy"\n' >"$CONF/rules"
	msg 'Alice <alice@example.org>' | dkimpy_sign | sed 's/noon/nooN/' >"$BATS_TEST_TMPDIR/m"
	REMOTE_IP=198.51.100.1 HELO=client.example chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 82 ]
	printf 'D550 5.7.1 rejected by DMARC policy' | cmp - "$BATS_TEST_TMPDIR/fd6"
	[ ! -e "$OUT/msg" ]
	grep -q 'event=dmarc result=fail from=example.org policy=reject disposition=reject' "$BATS_TEST_TMPDIR/err"
}

@test "chain mode: DMARC quarantine goes to the quarantine action" {
	printf 'eom dmarc fail && dmarc-policy quarantine quarantine dmarc\n' >"$CONF/rules"
	msg 'Q <q@quar.example>' >"$BATS_TEST_TMPDIR/m"
	REMOTE_IP=198.51.100.1 HELO=client.example smtp-filter -- queue-inject <"$BATS_TEST_TMPDIR/m" \
		1< <(printf 'Fq@quar.example\0Tbob@example.test\0\0') 2>"$BATS_TEST_TMPDIR/err"
	[ "$(ls "$QUEUE/quarantine/dmarc" | wc -l)" -eq 1 ]
	[ -z "$(ls "$QUEUE/new")" ]
}

@test "chain mode: a forged Authentication-Results with our authserv-id is removed, others kept" {
	printf 'eom add-auth-results\n' >"$CONF/rules"
	msg 'Alice <alice@example.org>' \
		'Authentication-Results: mx.example.test; dkim=pass header.d=example.org' \
		'Authentication-Results: other.example; spf=pass smtp.mailfrom=example.org' \
		'Authentication-Results: MX.Example.Test (forged);' \
		'	dmarc=pass (p=reject dis=none) header.from=example.org' >"$BATS_TEST_TMPDIR/m"
	REMOTE_IP=192.0.2.7 HELO=client.example chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 0 ]
	cat "$OUT/msg"
	[ "$(grep -c '^Authentication-Results: mx.example.test;$' "$OUT/msg")" -eq 1 ]
	[ "$(grep -ci '^Authentication-Results: mx.example.test' "$OUT/msg")" -eq 1 ]
	grep -q '^Authentication-Results: other.example; spf=pass' "$OUT/msg"
	[ "$(grep -c 'forged' "$OUT/msg")" -eq 0 ]
	grep -q '^[[:space:]]*spf=pass smtp.mailfrom=example.org' "$OUT/msg"
	grep -q 'event=authres-removed count=2' "$BATS_TEST_TMPDIR/err"
}

@test "without add-auth-results or auth conditions nothing is looked up or added" {
	printf 'eom header Subject =~ /lunch/ add-header "X-Lunch: yes"\n' >"$CONF/rules"
	msg 'Alice <alice@example.org>' 'Authentication-Results: mx.example.test; dkim=pass' >"$BATS_TEST_TMPDIR/m"
	REMOTE_IP=198.51.100.1 HELO=client.example chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 0 ]
	{ echo 'X-Lunch: yes'; cat "$BATS_TEST_TMPDIR/m"; } | cmp - "$OUT/msg"
	[ "$(grep -c 'event=\(spf\|dkim\|dmarc\)' "$BATS_TEST_TMPDIR/err")" -eq 0 ]
}

@test "dkim-sign: authenticated mail is signed with RSA and Ed25519; dkimpy verifies both" {
	printf 'example.org rsa %s\nexample.org ed %s ed25519\n' "$KEYS/rsa.key" "$KEYS/ed.key" >"$CONF/dkim"
	printf 'eom authenticated add-header "Reply-To: alice@example.org"\neom authenticated dkim-sign\n' >"$CONF/rules"
	msg 'Alice <alice@example.org>' >"$BATS_TEST_TMPDIR/m"
	AUTH_USER=alice REMOTE_IP=192.0.2.7 chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 0 ]
	[ "$(grep -c '^DKIM-Signature:' "$OUT/msg")" -eq 2 ]
	grep -q 'event=dkim-signed id=.* domain=example.org' "$BATS_TEST_TMPDIR/err"
	run "$PY" "$AUTHDIR/pyauth.py" dkim-verify <"$OUT/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "pass d=example.org a=rsa-sha256" ]
	[ "${lines[1]}" = "pass d=example.org a=ed25519-sha256" ]
	# the signature covers the header the filter added
	sed 's/^Reply-To: alice@/Reply-To: mallory@/' "$OUT/msg" | "$PY" "$AUTHDIR/pyauth.py" dkim-verify | grep -q '^fail'
	# not authenticated: not signed
	chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 0 ]
	cmp "$BATS_TEST_TMPDIR/m" "$OUT/msg"
}

@test "dkim-sign: no key for the domain passes unsigned; an unreadable key defers" {
	printf 'example.org rsa %s\n' "$BATS_TEST_TMPDIR/missing.key" >"$CONF/dkim"
	printf 'eom dkim-sign\n' >"$CONF/rules"
	msg 'Carol <carol@nokey.example>' >"$BATS_TEST_TMPDIR/m"
	chain "$BATS_TEST_TMPDIR/m" 'Fcarol@nokey.example\0Tbob@example.test\0\0'
	[ "$status" -eq 0 ]
	cmp "$BATS_TEST_TMPDIR/m" "$OUT/msg"
	grep -q 'event=dkim-unsigned id=.* domain=nokey.example' "$BATS_TEST_TMPDIR/err"
	msg 'Alice <alice@example.org>' >"$BATS_TEST_TMPDIR/m2"
	chain "$BATS_TEST_TMPDIR/m2" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 82 ]
	printf 'Z451 4.7.0 temporary failure in DKIM signing' | cmp - "$BATS_TEST_TMPDIR/fd6"
}

@test "the rules of DESIGN.md parse; result names are checked" {
	cat >"$CONF/rules" <<'EOF2'
# stage   condition                            action
connect   client in cdb:blocklist               reject 554 5.7.1 "blocked"
helo      !helo-fqdn                            reject 504 5.5.2 "need a fully qualified name"
mail      spf fail                              reject 550 5.7.23 "SPF check failed"
rcpt      rcpt-domain in file:locals && !(rcpt in cdb:users)  reject 550 5.1.1 "no such user"
eom       dmarc fail && dmarc-policy reject     reject 550 5.7.1 "rejected by DMARC policy"
eom       header Subject =~ /^\[SPAM\]/         quarantine spam
eom       authenticated                         dkim-sign
EOF2
	run smtp-filter -n
	echo "$output"
	[ "$status" -eq 0 ]
	printf 'mail spf failed reject\nrcpt dkim pass reject\nmail dmarc pass reject\neom dkim pass nodot reject\nrcpt dkim-sign\n' >"$CONF/rules"
	run smtp-filter -n
	echo "$output"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "$CONF/rules:1: 'failed' is not a spf result (pass, fail, softfail, neutral, none, temperror, permerror)" ]
	[ "${lines[1]}" = "$CONF/rules:2: 'dkim' is not known before the eom stage" ]
	[ "${lines[2]}" = "$CONF/rules:3: 'dmarc' is not known before the eom stage" ]
	[ "${lines[3]}" = "$CONF/rules:4: 'nodot' is not a signing domain" ]
	[ "${lines[4]}" = "$CONF/rules:5: 'dkim-sign' works on the message: only at the eom stage" ]
}

@test "valgrind: policy-mode SPF and Null MX, chain-mode verify, auth results and signing are clean" {
	need_valgrind
	printf 'mail spf fail reject 550 5.7.23 "SPF check failed"\nmail sender-null-mx reject 550 5.7.27 "null MX"\n' >"$CONF/rules"
	{
		policy_req MAIL instance=a client_address=198.51.100.1 helo_name=client.example sender=alice@example.org
		policy_req MAIL instance=b client_address=192.0.2.7 helo_name=client.example sender=x@nullmx.example
	} >"$BATS_TEST_TMPDIR/reqs"
	run under_valgrind smtp-filter -p <"$BATS_TEST_TMPDIR/reqs"
	cat "$BATS_TEST_TMPDIR/valgrind.log"
	[ "$status" -eq 0 ]
	printf 'example.org rsa %s\nexample.org ed %s ed25519\n' "$KEYS/rsa.key" "$KEYS/ed.key" >"$CONF/dkim"
	printf 'eom add-auth-results\neom dkim pass && dmarc pass dkim-sign\n' >"$CONF/rules"
	msg 'Alice <alice@example.org>' 'Authentication-Results: mx.example.test; dkim=pass' | dkimpy_sign >"$BATS_TEST_TMPDIR/m"
	set +e
	REMOTE_IP=198.51.100.1 HELO=client.example under_valgrind smtp-filter -- "$F/dump-next" <"$BATS_TEST_TMPDIR/m" \
		1< <(printf 'Falice@example.org\0Tbob@example.test\0\0') 2>"$BATS_TEST_TMPDIR/err"
	status=$?
	set -e
	cat "$BATS_TEST_TMPDIR/valgrind.log"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^DKIM-Signature:' "$OUT/msg")" -eq 3 ]
}

@test "local mail (no REMOTE_IP): spf is none, the headers leave SPF out" {
	printf 'eom spf none add-header "X-SPF: none"\neom add-auth-results\n' >"$CONF/rules"
	msg 'Alice <alice@example.org>' >"$BATS_TEST_TMPDIR/m"
	chain "$BATS_TEST_TMPDIR/m" 'Falice@example.org\0Tbob@example.test\0\0'
	[ "$status" -eq 0 ]
	cat "$OUT/msg"
	grep -q '^X-SPF: none$' "$OUT/msg"
	[ "$(grep -c 'spf=\|Received-SPF' "$OUT/msg")" -eq 0 ]
	grep -q '^[[:space:]]*dmarc=fail (p=reject dis=reject) header.from=example.org' "$OUT/msg"
}
