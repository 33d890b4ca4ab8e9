#!/usr/bin/env bats
# lib/dns.c against a real DNS server (ldns-testns on 127.0.0.1:53), through
# the small driver tests/peers/dns-query.c: what deliver-remote, and later
# SPF, DKIM, DMARC and smtp-filter, get back.

load lib

setup_file() {
	build_driver "$TOP/tests/peers/dns-query.c" "$BATS_FILE_TMPDIR/dns-query" -lldns
}

setup() {
	sluice_conf
	T=$BATS_TEST_TMPDIR
	echo 127.0.0.1 >"$CONF/nameservers"
	printf 'dns-timeout 2\ndns-retries 0\n' >"$CONF/limits"
	v6ptr=$(python3 -c 'import ipaddress; print(ipaddress.ip_address("2001:db8::25").reverse_pointer)')
	"$TOP/tests/peers/zone.py" >"$T/zone" <<-EOF2
		example.test MX 20 mx2.example.test
		example.test MX 10 mx1.example.test
		example.test MX 30 MX3.Example.Test.
		example.test TXT "v=spf1 " "ip4:192.0.2.0/24 -all"
		example.test TXT "second record"
		mx1.example.test A 192.0.2.1
		mx1.example.test A 192.0.2.2
		mx1.example.test AAAA 2001:db8::25
		loop1.test CNAME loop2.test
		loop2.test CNAME loop1.test
		www.example.test CNAME mx1.example.test
		25.2.0.192.in-addr.arpa PTR mx1.example.test
		$v6ptr PTR mx1.example.test
		broken.test SERVFAIL
	EOF2
	bg_start ldns-testns -p 53 "$T/zone"
	wait_for 10 port_open 53 127.0.0.1
}

q() {
	run "$BATS_FILE_TMPDIR/dns-query" "$@"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "dns_mx: sorted by preference, names lowercased without the dot" {
	q mx example.test
	[ "$output" = "$(printf 'ok\n10 mx1.example.test\n20 mx2.example.test\n30 mx3.example.test')" ]
}

@test "dns_mx: no MX is the implicit MX; NXDOMAIN perm; SERVFAIL temp" {
	q mx mx1.example.test
	[ "$output" = "$(printf 'ok\n0 mx1.example.test implicit')" ]
	q mx nowhere.test
	[ "$output" = "perm nowhere.test does not exist (NXDOMAIN)" ]
	q mx broken.test
	[ "$output" = "temp DNS lookup of broken.test MX failed: SERVFAIL" ]
}

@test "dns_addrs: AAAA before A, one family at a time, CNAME followed" {
	q addrs mx1.example.test
	[ "$output" = "$(printf 'ok\n2001:db8::25\n192.0.2.1\n192.0.2.2')" ]
	q a mx1.example.test
	[ "$output" = "$(printf 'ok\n192.0.2.1\n192.0.2.2')" ]
	q aaaa www.example.test
	[ "$output" = "$(printf 'ok\n2001:db8::25')" ]
	q a mx2.example.test
	[ "$output" = "perm mx2.example.test does not exist (NXDOMAIN)" ]
}

@test "dns: a CNAME loop ends as a temporary failure" {
	q a loop1.test
	[[ "$output" == "temp CNAME chain too long at "* ]]
}

@test "dns_txt: strings of one record joined, one line per record" {
	q txt example.test
	[ "${lines[0]}" = ok ]
	[ "${#lines[@]}" = 3 ]
	printf '%s\n' "${lines[@]:1}" | sort | cmp - <(printf 'second record\nv=spf1 ip4:192.0.2.0/24 -all\n')
}

@test "dns_ptr: IPv4 and IPv6 reverse names" {
	q ptr 192.0.2.25
	[ "$output" = "$(printf 'ok\nmx1.example.test')" ]
	q ptr 2001:db8::25
	[ "$output" = "$(printf 'ok\nmx1.example.test')" ]
	q ptr 192.0.2.99
	[ "${lines[0]:0:4}" = perm ]
}
