#!/usr/bin/env bats
# mail-auth spf: SPF (RFC 7208) through libspf2 with DNS from the
# configured nameservers; the RFC 7208 test suite shipped by python3-spf.

load lib
load auth/helpers

# passes out of 203 tests; doc/spf-conformance.md lists and explains the rest
SPF_SUITE_MIN=145

setup() {
	sluice_conf
}

spf_zone() {
	cat >"$BATS_TEST_TMPDIR/zone" <<'EOF2'
pass.test TXT v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all
softfail.test TXT v=spf1 ~all
neutral.test TXT v=spf1 ?all
fail.test TXT v=spf1 a -all
fail.test A 192.0.2.1
permerror.test TXT v=spf1 ip4:192.0.2.300 -all
twice.test TXT v=spf1 -all
twice.test TXT v=spf1 +all
temp.test TXT v=spf1 include:down.test -all
down.test TIMEOUT
helo.test TXT v=spf1 ip4:198.51.100.7 -all
EOF2
	dns_serve "$BATS_TEST_TMPDIR/zone"
}

@test "the seven results are told apart" {
	spf_zone
	for c in pass:192.0.2.9:pass.test pass:2001:db8::1:pass.test fail:198.51.100.1:fail.test \
		softfail:198.51.100.1:softfail.test neutral:198.51.100.1:neutral.test none:198.51.100.1:none.test \
		permerror:198.51.100.1:permerror.test permerror:198.51.100.1:twice.test \
		temperror:198.51.100.1:temp.test temperror:198.51.100.1:down.test; do
		want=${c%%:*} rest=${c#*:}
		ip=${rest%:*} dom=${rest##*:}
		run mail-auth spf "$ip" client.example "user@$dom"
		echo "$dom $ip: $output"
		[ "$status" -eq 0 ]
		[[ "${lines[0]}" == "spf=$want identity=mailfrom domain=$dom"* ]]
		[ "${lines[1]%% *}" = "Received-SPF:" ]
		[[ "${lines[1]}" == "Received-SPF: $want ("* ]]
	done
}

@test "the null sender is checked as the HELO identity; Received-SPF says so" {
	spf_zone
	run mail-auth spf 198.51.100.7 helo.test ''
	[ "$status" -eq 0 ]
	[ "$output" = "spf=pass identity=helo domain=helo.test
Received-SPF: pass (mx.example.test: domain of helo.test designates 198.51.100.7 as permitted sender)
	client-ip=198.51.100.7;
	helo=helo.test;
	receiver=mx.example.test;
	identity=helo" ]
	run mail-auth spf 198.51.100.8 helo.test ''
	[[ "${lines[0]}" == "spf=fail identity=helo domain=helo.test explanation=\"198.51.100.8 is not allowed to send mail for helo.test\"" ]]
}

@test "hostile values are quoted in Received-SPF" {
	spf_zone
	run mail-auth spf 192.0.2.9 'evil; x="y"' 'a"b@pass.test'
	echo "$output"
	[[ "$output" == *'envelope-from="a\"b@pass.test";'* ]]
	[[ "$output" == *'helo="evil; x=\"y\"";'* ]]
}

@test "nameservers takes IP PORT per line, and an unreachable resolver is temperror within dns-timeout" {
	spf_zone
	"$PY" "$AUTHDIR/dnszone.py" "$BATS_TEST_TMPDIR/zone" >"$BATS_TEST_TMPDIR/z2"
	bg_start ldns-testns -p 5353 "$BATS_TEST_TMPDIR/z2"
	echo '127.0.0.1 5353' >"$CONF/nameservers"
	wait_for 10 drill -Q -p 5353 @127.0.0.1 probe.invalid TXT
	run mail-auth spf 192.0.2.9 client.example user@pass.test
	[[ "${lines[0]}" == "spf=pass "* ]]
	printf 'dns-timeout 1\ndns-retries 0\n' >"$CONF/limits"
	# each line keeps its own port; a dead first server hands over to the next
	printf '127.0.0.1 5454\n127.0.0.1 5353\n' >"$CONF/nameservers"
	run mail-auth spf 192.0.2.9 client.example user@pass.test
	[[ "${lines[0]}" == "spf=pass "* ]]
	# dns-timeout and dns-retries bound the wait (the defaults would take 15 s)
	echo '127.0.0.1 5454' >"$CONF/nameservers"
	start=$SECONDS
	run mail-auth spf 192.0.2.9 client.example user@pass.test
	[[ "${lines[0]}" == "spf=temperror "* ]]
	[ $((SECONDS - start)) -le 4 ]
}

@test "RFC 7208 test suite (python3-spf's rfc7208-tests.yml): at least $SPF_SUITE_MIN of 203 pass" {
	run "$PY" "$AUTHDIR/spf-suite.py" "$BATS_TEST_TMPDIR"
	echo "$output" | grep -v '^ok'
	[ "$status" -eq 0 ]
	last=${lines[${#lines[@]} - 1]}
	[[ "$last" =~ ^passed\ ([0-9]+)\ of\ 203$ ]]
	[ "${BASH_REMATCH[1]}" -ge "$SPF_SUITE_MIN" ]
}
