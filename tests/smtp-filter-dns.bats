#!/usr/bin/env bats
# smtp-filter's DNS conditions (dnsbl, dnswl, rdns, fcrdns) against a real
# DNS server: ldns-testns on 127.0.0.1:53 in the private network namespace
# tests/run provides, answering from fixtures/smtp-filter/dns.data.

load lib

setup() {
	[ -n "${SLUICE_NETNS:-}" ] || skip "needs the private network namespace of tests/run (root)"
	sluice_conf
	F=$FIXTURES/smtp-filter
	echo 127.0.0.1 >"$CONF/nameservers"
	printf 'dns-timeout 2\ndns-retries 0\n' >"$CONF/limits"
	bg_start ldns-testns -p 53 "$F/dns.data"
	wait_for 10 sh -c 'drill -Q @127.0.0.1 99.2.0.192.bl.test A 2>/dev/null | grep -q 127.0.0.2'
	cat >"$CONF/rules" <<'EOF2'
connect dnswl wl.test = 127.0.10.2   accept
connect dnsbl bl.test                reject 554 5.7.1 "listed in bl.test"
connect !rdns                        reject 550 5.7.25 "no reverse DNS"
connect !fcrdns                      tag unconfirmed
rcpt    tagged unconfirmed           defer 450 4.7.25 "reverse DNS does not match"
EOF2
}

@test "dnswl with a required answer wins over the dnsbl listing" {
	policy_req CONNECT client_address=192.0.2.99 | policy_run
	policy_expect 'action=OK\n\n'
	grep -q 'event=dnswl zone=wl.test client=192.0.2.99 answer=127.0.10.2' "$BATS_TEST_TMPDIR/err"
}

@test "dnsbl: an IPv6 client is looked up by its nibbles" {
	policy_req CONNECT client_address=2001:db8::1 | policy_run
	policy_expect 'action=554 5.7.1 listed in bl.test\n\n'
}

@test "no PTR record: rdns is false" {
	policy_req CONNECT client_address=192.0.2.97 | policy_run
	policy_expect 'action=550 5.7.25 no reverse DNS\n\n'
}

@test "fcrdns: a PTR name that does not resolve back tags the client; refused at rcpt" {
	{
		policy_req CONNECT client_address=192.0.2.98 instance=x
		policy_req RCPT client_address=192.0.2.98 sender=a@example.org recipient=b@example.test instance=x
	} | policy_run
	policy_expect 'action=DUNNO\n\naction=450 4.7.25 reverse DNS does not match\n\n'
}

@test "a DNS list that fails (SERVFAIL) lists nobody; it is logged" {
	policy_req CONNECT client_address=192.0.2.95 | policy_run
	policy_expect 'action=550 5.7.25 no reverse DNS\n\n'
	grep -q 'event=dnslist-fail zone=bl.test client=192.0.2.95' "$BATS_TEST_TMPDIR/err"
}

@test "a failed reverse lookup is a temporary failure, never an accept" {
	policy_req CONNECT client_address=192.0.2.96 | policy_run
	policy_expect 'action=451 4.3.0 temporary failure in the rules\n\n'
}

@test "names the client already verified (Postfix's client_name) are used without DNS" {
	{
		policy_req CONNECT client_address=192.0.2.97 reverse_client_name=x.example client_name=unknown instance=y
		policy_req RCPT client_address=192.0.2.97 reverse_client_name=x.example client_name=unknown recipient=b@example.test instance=y
	} | policy_run
	policy_expect 'action=DUNNO\n\naction=450 4.7.25 reverse DNS does not match\n\n'
}

@test "chain mode: dnsbl on REMOTE_IP at eom" {
	printf 'eom dnsbl bl.test add-header "X-DNSBL: bl.test"\n' >"$CONF/rules"
	export OUT=$BATS_TEST_TMPDIR
	printf 'Subject: x\n\nbody\n' | REMOTE_IP=192.0.2.99 smtp-filter -- "$F/dump-next" 1< <(printf 'Fa@b.example\0Tc@d.example\0\0')
	printf 'X-DNSBL: bl.test\nSubject: x\n\nbody\n' | cmp - "$OUT/msg"
}

@test "-n checks DNS list arguments" {
	printf 'connect dnsbl nodot reject\nconnect dnswl wl.test = 127.0.0 accept\n' >"$CONF/rules"
	run smtp-filter -n
	[ "$status" -eq 1 ]
	[ "$output" = "$(printf "%s\n%s" "$CONF/rules:1: 'nodot' is not a DNS zone name" "$CONF/rules:2: '127.0.0' is not an IPv4 address")" ]
}
