#!/usr/bin/env bats
# Two sluice instances on one machine: A (a.test) relays through its
# queue-run and deliver-remote to B (example.test, MX found in real DNS),
# whose smtp-recv takes the message over STARTTLS (or plain) and whose
# deliver-local puts it in a maildir.  Everything is the real programs:
# swaks -> tcpserver -> smtp-recv -> queue-inject -> queue-run ->
# deliver-remote -> tcpserver -> smtp-recv -> queue-inject -> queue-run ->
# deliver-local.

load lib

setup_file() {
	test_ca "$BATS_FILE_TMPDIR/pki"
	test_cert "$BATS_FILE_TMPDIR/pki" server
}

# instance NAME ME LOCAL-DOMAIN: conf and queue in $T/NAME
instance() {
	local d=$T/$1
	mkdir -p "$d/conf" "$d/queue/tmp" "$d/queue/new" "$d/mail"
	echo "$d/queue" >"$d/conf/queuedir"
	echo "$2" >"$d/conf/me"
	echo "$3" >"$d/conf/locals"
	echo 127.0.0.1 >"$d/conf/nameservers"
	cat >"$d/conf/limits" <<-EOF2
		dns-timeout 2
		dns-retries 0
		timeout 20
	EOF2
}

setup() {
	T=$BATS_TEST_TMPDIR
	PKI=$BATS_FILE_TMPDIR/pki
	instance a mx.a.test a.test
	instance b mx.example.test example.test
	echo "bob@example.test $T/b/mail/bob/" >"$T/b/conf/users"
	"$TOP/tests/peers/zone.py" >"$T/zone" <<-EOF2
		example.test MX 10 mx.example.test
		mx.example.test A 127.0.0.1
	EOF2
	bg_start ldns-testns -p 53 "$T/zone"
	wait_for 10 port_open 53 127.0.0.1
	# A takes mail from its users (RELAYCLIENT) on 127.0.0.5:2525
	bg_start env SLUICE_CONF="$T/a/conf" RELAYCLIENT= tcpserver -HR -l mx.a.test 127.0.0.5 2525 smtp-recv
	wait_for 10 port_open 2525 127.0.0.5
}

# start_b: B's smtp-recv on port 25 of mx.example.test (127.0.0.1)
start_b() {
	bg_start env SLUICE_CONF="$T/b/conf" tcpserver -HR -l mx.example.test 127.0.0.1 25 smtp-recv
	wait_for 10 port_open 25 127.0.0.1
}

send_via_a() {
	swaks --server 127.0.0.5:2525 --from alice@a.test --to bob@example.test \
		--header "Subject: across" --body "hello from A" >"$T/swaks.log" 2>&1 || { cat "$T/swaks.log"; return 1; }
}

# run_queue NAME: one queue-run pass of that instance
run_queue() {
	SLUICE_CONF="$T/$1/conf" queue-run -1 2>>"$T/$1.log"
}

delivered() {
	ls "$T/b/mail/bob/new" 2>/dev/null | grep -q .
}

@test "A relays to B over STARTTLS with a verified certificate; B delivers to the maildir" {
	echo "$PKI/server.pem" >"$T/b/conf/tls-cert"
	echo "$PKI/server.key" >"$T/b/conf/tls-key"
	echo "$PKI/ca.pem" >"$T/a/conf/tls-ca-file"
	echo 'example.test - tls=verify' >"$T/a/conf/routes"
	start_b
	send_via_a
	grep -q '250 2.0.0 Ok: queued as' "$T/swaks.log"
	run_queue a
	grep -q 'prog=deliver-remote .*tls=TLSv1.[23]' "$T/a.log" || { cat "$T/a.log"; false; }
	[ -z "$(find "$T/a/queue/new" "$T/a/queue/msg" -type f)" ]
	run_queue b
	wait_for 10 delivered
	f=$(ls "$T/b/mail/bob/new"/*)
	grep -q '^Subject: across' "$f"
	grep -q 'hello from A' "$f"
	# B's trace says the hop was encrypted; A's hop from swaks was plain
	grep -A2 '^Received: from mx.a.test' "$f" | grep -q 'with ESMTPS'
	grep -q '^Delivered-To: bob@example.test' "$f"
	grep -q '^Return-Path: <alice@a.test>' "$f"
}

@test "without a certificate on B the default policy (may) sends in the clear" {
	start_b
	send_via_a
	run_queue a
	[ -z "$(find "$T/a/queue/new" "$T/a/queue/msg" -type f)" ]
	run_queue b
	wait_for 10 delivered
	f=$(ls "$T/b/mail/bob/new"/*)
	grep -A2 '^Received: from mx.a.test' "$f" | grep -q 'with ESMTP '
}

@test "tls=verify with the wrong CA keeps the message queued at A, nothing reaches B" {
	echo "$PKI/server.pem" >"$T/b/conf/tls-cert"
	echo "$PKI/server.key" >"$T/b/conf/tls-key"
	mkdir -p "$T/other"
	test_ca "$T/other"
	echo "$T/other/ca.pem" >"$T/a/conf/tls-ca-file"
	echo 'example.test - tls=verify' >"$T/a/conf/routes"
	start_b
	send_via_a
	run_queue a
	[ -n "$(find "$T/a/queue/msg" -type f)" ]
	run env SLUICE_CONF="$T/a/conf" queue-ctl list
	[[ "$output" == *bob@example.test* ]]
	[ -z "$(find "$T/b/queue/new" "$T/b/queue/msg" -type f 2>/dev/null)" ]
}
