#!/usr/bin/env bats
# smtp-filter -p: Postfix policy delegation requests on stdin, the exact
# replies on stdout.  The rules are tests/fixtures/smtp-filter/policy.rules.

load lib

setup() {
	sluice_conf
	F=$FIXTURES/smtp-filter
	cp "$F/policy.rules" "$CONF/rules"
	cp "$F/clients" "$F/helos" "$F/users" "$CONF/"
	# the sender table exists only as cdb, so the cdb path is what answers
	cdb -c -m "$CONF/senders.cdb" "$F/senders"
}

# req STATE name=value...: one policy request
req() {
	printf 'request=smtpd_access_policy\nprotocol_state=%s\n' "$1"
	shift
	printf '%s\n' "$@"
	printf '\n'
}

# ask STATE name=value...: the reply to one request, in one connection
ask() {
	req "$@" | smtp-filter -p 2>>"$BATS_TEST_TMPDIR/err"
}

# expect ACTION: $output is exactly "action=ACTION\n\n"
expect() {
	[ "$output" = "$(printf 'action=%s\n' "$1")" ] || { echo "got: $output"; echo "want: action=$1"; false; }
}

policy() { # run smtp-filter -p with stdout kept byte-exact (bats trims trailing newlines)
	smtp-filter -p >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
}

@test "the fixture rules are valid (-n exits 0 and prints nothing)" {
	run smtp-filter -n
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "a reply is exactly action=...\\n\\n, byte for byte" {
	req CONNECT client_address=192.0.2.1 | policy
	printf 'action=554 5.7.1 exact address\n\n' | cmp - "$BATS_TEST_TMPDIR/out"
}

@test "client: exact address, IPv4 range, IPv6 range, no match" {
	run ask CONNECT client_address=192.0.2.1; expect "554 5.7.1 exact address"
	run ask CONNECT client_address=198.51.100.200; expect "554 5.7.1 in range"
	run ask CONNECT client_address=2001:db8:1::5; expect "554 5.7.1 v6 range"
	run ask CONNECT client_address=2001:db9::5; expect DUNNO
	run ask CONNECT client_address=192.0.2.2; expect DUNNO
}

@test "client in file:TABLE matches the address or a leading part of it" {
	run ask CONNECT client_address=10.1.2.3; expect "421 4.7.0 listed client"
	run ask CONNECT client_address=10.9.200.1; expect "421 4.7.0 listed client"
	run ask CONNECT client_address=10.1.2.4; expect DUNNO
	run ask CONNECT client_address=10.90.0.1; expect DUNNO
}

@test "client-name regex is case-insensitive with /i; reverse-name warns" {
	run ask CONNECT client_address=192.0.2.9 client_name=host-1.DYN.example; expect "550 5.7.1 dynamic host"
	run ask CONNECT client_address=192.0.2.9 client_name=mail.example reverse_client_name=unconfirmed.example
	expect "WARN reverse name only"
}

@test "disconnect: 521 with the given text, 421 by default" {
	run ask CONNECT client_address=203.0.113.9; expect "521 5.7.0 go away"
	run ask CONNECT client_address=203.0.113.10; expect "421 4.7.0 closing connection"
}

@test "helo: not a FQDN is refused; a listed name or parent domain is refused" {
	for h in foo '[192.0.2.1]' 'bad_name.example' 'trailing.dot.'; do
		run ask EHLO client_address=192.0.2.9 helo_name="$h"; expect "504 5.5.2 need a fully qualified name"
	done
	run ask HELO client_address=192.0.2.9 helo_name=mx.forged.example; expect "550 5.7.1 forged helo"
	run ask EHLO client_address=192.0.2.9 helo_name=mx.good.example; expect DUNNO
}

@test "boolean && and || with parentheses" {
	run ask EHLO client_address=192.0.2.50 helo_name=accept.example; expect OK
	run ask EHLO client_address=192.0.2.51 helo_name=accept.example; expect OK
	run ask EHLO client_address=192.0.2.52 helo_name=accept.example; expect DUNNO
	run ask EHLO client_address=192.0.2.50 helo_name=other.example; expect DUNNO
}

@test "sender: null sender gets a PREPEND; domain and parent domain in cdb:TABLE" {
	run ask MAIL client_address=192.0.2.9 helo_name=a.example sender=; expect "PREPEND X-Null-Sender: yes"
	run ask MAIL client_address=192.0.2.9 helo_name=a.example sender=x@spammer.example
	expect "550 5.7.1 sender domain blocked"
	run ask MAIL client_address=192.0.2.9 helo_name=a.example sender=x@mx.BULK.example
	expect "550 5.7.1 sender domain blocked"
	run ask MAIL client_address=192.0.2.9 helo_name=a.example sender=x@example.org; expect DUNNO
}

@test "sender regex -> quarantine is HOLD with the quarantine's name" {
	run ask MAIL sender=spam42@example.org; expect "HOLD spam"
	run ask MAIL sender=spam@example.org; expect DUNNO
}

@test "size: known from MAIL SIZE=, size=0 means unknown" {
	run ask MAIL sender=a@example.org size=20000000; expect "552 5.3.4 too big"
	run ask MAIL sender=a@example.org size=1000; expect DUNNO
	run ask MAIL sender=a@example.org size=0; expect DUNNO
}

@test "tags persist across the requests of one instance and reset on a new one" {
	{
		req MAIL sender=tag@example.org instance=a1
		req RCPT sender=tag@example.org recipient=x@elsewhere.example instance=a1
		req RCPT sender=tag@example.org recipient=x@elsewhere.example instance=a2
	} | policy
	printf 'action=DUNNO\n\naction=450 4.7.0 use TLS\n\naction=DUNNO\n\n' | cmp - "$BATS_TEST_TMPDIR/out"
}

@test "tls and tls-version; !tls" {
	{
		req MAIL sender=tag@example.org encryption_protocol=TLSv1.3 instance=b
		req RCPT sender=tag@example.org recipient=x@elsewhere.example encryption_protocol=TLSv1.3 instance=b
		req MAIL sender=tls@example.org encryption_protocol=TLSv1.3 instance=c
		req MAIL sender=tls@example.org encryption_protocol=TLSv1.2 instance=d
	} | policy
	printf 'action=DUNNO\n\naction=DUNNO\n\naction=OK\n\naction=DUNNO\n\n' | cmp - "$BATS_TEST_TMPDIR/out"
}

@test "tag at connect, reject at rcpt (the log then shows sender and recipient)" {
	{
		req CONNECT client_address=203.0.113.11 instance=n
		req EHLO client_address=203.0.113.11 helo_name=mx.example.org instance=n
		req MAIL client_address=203.0.113.11 sender=a@example.org instance=n
		req RCPT client_address=203.0.113.11 sender=a@example.org recipient=bob@example.test instance=n
	} | policy
	printf 'action=DUNNO\n\naction=DUNNO\n\naction=DUNNO\n\naction=550 5.7.1 naughty client\n\n' |
		cmp - "$BATS_TEST_TMPDIR/out"
	grep -q 'event=policy stage=rcpt client=203.0.113.11 from=<a@example.org> rcpt=<bob@example.test>' "$BATS_TEST_TMPDIR/err"
}

@test "reject ... at rcpt waits for rcpt; authentication forgives it" {
	{
		req CONNECT client_address=203.0.113.12 instance=p
		req MAIL client_address=203.0.113.12 sender=a@example.org instance=p
		req RCPT client_address=203.0.113.12 sender=a@example.org recipient=x@elsewhere.example instance=p
		req RCPT client_address=203.0.113.12 sender=a@example.org recipient=bob@example.test instance=p
		req CONNECT client_address=203.0.113.12 instance=q
		req MAIL client_address=203.0.113.12 sender=a@example.org sasl_username=alice instance=q
		req RCPT client_address=203.0.113.12 sender=a@example.org recipient=x@elsewhere.example sasl_username=alice instance=q
	} | policy
	printf 'action=DUNNO\n\naction=DUNNO\n\naction=550 5.7.1 listed; reported at rcpt\n\naction=550 5.7.1 listed; reported at rcpt\n\naction=DUNNO\n\naction=DUNNO\n\naction=OK\n\n' |
		cmp - "$BATS_TEST_TMPDIR/out"
	grep -q 'event=rule-forgiven' "$BATS_TEST_TMPDIR/err"
}

@test "rcpt: discard, redirect, bcc, table accept, authenticated user, final reject" {
	run ask RCPT sender=a@example.org recipient=discard@example.test; expect "DISCARD dropped"
	run ask RCPT sender=a@example.org recipient=old@example.test; expect "REDIRECT new@example.test"
	run ask RCPT sender=a@example.org recipient=x@archive.example.test; expect "BCC archive@example.test"
	run ask RCPT sender=a@example.org recipient=Bob@Example.Test; expect OK
	run ask RCPT sender=a@example.org recipient=carol@elsewhere.example sasl_username=alice; expect OK
	run ask RCPT sender=a@example.org recipient=carol@elsewhere.example sasl_username=mallory; expect DUNNO
	run ask RCPT sender=a@example.org recipient=carol@example.test; expect "550 5.1.1 no such user"
}

@test "data: recipient count" {
	run ask DATA sender=a@example.org recipient_count=3; expect "452 4.5.3 too many recipients"
	run ask DATA sender=a@example.org recipient_count=2; expect DUNNO
}

@test "END-OF-MESSAGE, VRFY and unknown states get DUNNO" {
	run ask END-OF-MESSAGE sender=spam1@example.org recipient_count=9; expect DUNNO
	run ask VRFY recipient=carol@example.test; expect DUNNO
}

@test "many requests on one connection, answered in order, then EOF exits 0" {
	for i in $(seq 1 200); do req RCPT sender=a@example.org recipient=bob@example.test; done | policy
	[ "$(grep -c '^action=OK$' "$BATS_TEST_TMPDIR/out")" = 200 ]
	[ "$(wc -l <"$BATS_TEST_TMPDIR/out")" = 400 ]
}

@test "without a rules file every request gets DUNNO" {
	rm "$CONF/rules"
	run ask CONNECT client_address=192.0.2.1; expect DUNNO
}

@test "malformed input: a clear error on stderr and exit 111" {
	run sh -c 'printf "request=smtpd_access_policy\nno equals sign\n\n" | smtp-filter -p'
	[ "$status" -eq 111 ]
	[[ "$output" == *"smtp-filter: fatal: malformed policy request: line is not name=value"* ]]
	run sh -c 'printf "protocol_state=RCPT\n\n" | smtp-filter -p'
	[ "$status" -eq 111 ]
	[[ "$output" == *"request=smtpd_access_policy missing"* ]]
	run sh -c 'printf "request=smtpd_access_policy\nprotocol_state=RCPT\n" | smtp-filter -p'
	[ "$status" -eq 111 ]
	[[ "$output" == *"end of input inside a request"* ]]
}

@test "limits: an over-long line or too many attributes is exit 111, not a reply" {
	run sh -c "{ printf 'request=smtpd_access_policy\nx='; head -c 5000 /dev/zero | tr '\\\\0' a; printf '\n\n'; } | smtp-filter -p"
	[ "$status" -eq 111 ]
	[[ "$output" == *"line longer than 4096 bytes"* ]]
	[[ "$output" != *action=* ]]
	run sh -c "{ printf 'request=smtpd_access_policy\n'; seq -f 'a%g=1' 1 200; printf '\n'; } | smtp-filter -p"
	[ "$status" -eq 111 ]
	[[ "$output" == *"more than 128 attributes"* ]]
}

@test "an invalid rules file makes -p fail (111) rather than answer" {
	echo 'connect frobnicate reject' >>"$CONF/rules"
	run ask CONNECT client_address=192.0.2.1
	[ "$status" -eq 111 ]
	grep -q "rules:[0-9]*: unknown condition 'frobnicate'" "$BATS_TEST_TMPDIR/err"
	[[ "$output" != *action=* ]]
}

@test "an unreadable table fails temporarily (451), never accepts" {
	rm "$CONF/senders.cdb"
	mkdir "$CONF/senders" # a directory cannot be read as a table
	run ask MAIL sender=x@spammer.example
	expect "451 4.3.0 temporary failure in the rules"
}

# the client side of the codec (what smtp-recv calls), against smtp-filter -p
client() {
	local fifo=$BATS_TEST_TMPDIR/fifo
	rm -f "$fifo"
	mkfifo "$fifo"
	"$BATS_TEST_TMPDIR/policy-client" "$@" 3> >(smtp-filter -p >"$fifo" 2>/dev/null) 4<"$fifo"
}

@test "codec client side: requests encoded, replies read and classified" {
	# (a SANITIZE=1 build's library needs the sanitizer runtime to link)
	cc -std=c11 -D_GNU_SOURCE -I"$TOP/lib" -o "$BATS_TEST_TMPDIR/policy-client" "$F/policy-client.c" "$TOP/lib/libsluice.a" 2>/dev/null ||
		cc -std=c11 -D_GNU_SOURCE -fsanitize=address,undefined -I"$TOP/lib" -o "$BATS_TEST_TMPDIR/policy-client" "$F/policy-client.c" "$TOP/lib/libsluice.a"
	run client request=smtpd_access_policy protocol_state=CONNECT client_address=192.0.2.1
	[ "$output" = "CODE 554 5.7.1 exact address" ]
	run client request=smtpd_access_policy protocol_state=RCPT recipient=bob@example.test
	[ "$output" = "OK 0 " ]
	run client request=smtpd_access_policy protocol_state=RCPT recipient=old@example.test
	[ "$output" = "REDIRECT 0 new@example.test" ]
	run client request=smtpd_access_policy protocol_state=MAIL sender=
	[ "$output" = "PREPEND 0 X-Null-Sender: yes" ]
	run client request=smtpd_access_policy protocol_state=MAIL sender=spam1@example.org
	[ "$output" = "HOLD 0 spam" ]
	run client request=smtpd_access_policy protocol_state=CONNECT client_address=192.0.2.2
	[ "$output" = "DUNNO 0 " ]
	# a value with a newline would inject an attribute: refused before sending
	run client request=smtpd_access_policy "helo_name=$(printf 'x\nrecipient=y')"
	[ "$status" -eq 1 ]
	[[ "$output" == "refused helo_name" ]]
}
