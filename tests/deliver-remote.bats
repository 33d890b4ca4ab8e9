#!/usr/bin/env bats
# deliver-remote: real DNS (ldns-testns on 127.0.0.1:53), real SMTP peers
# (tests/peers/smtp-peer.py, Postfix's smtp-sink, lib/tlsio's server side)
# on 127.0.0.x, certificates made here with openssl.

load lib

PEER="$TOP/tests/peers/smtp-peer.py"

setup_file() {
	# one CA and two certificates for the whole file (keys are slow-ish)
	local d=$BATS_FILE_TMPDIR
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=sluice test CA" -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=other CA" -keyout "$d/other.key" -out "$d/other.crt" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=mx1.example.test" \
		-keyout "$d/mx1.key" -out "$d/mx1.csr" 2>/dev/null
	printf 'subjectAltName=DNS:mx1.example.test\n' >"$d/ext"
	openssl x509 -req -in "$d/mx1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/ext" -out "$d/mx1.crt" 2>/dev/null
}

setup() {
	sluice_conf
	T=$BATS_TEST_TMPDIR
	CERTS=$BATS_FILE_TMPDIR
	echo 127.0.0.1 >"$CONF/nameservers"
	cat >"$CONF/limits" <<-EOF2
		dns-timeout 2
		dns-retries 0
		remote-connect-timeout 5
		remote-greeting-timeout 10
		remote-command-timeout 10
		remote-data-timeout 10
		remote-block-timeout 10
		remote-dot-timeout 10
	EOF2
	printf 'From: a@sender.test\nSubject: test\n\nhello\n' >"$T/msg"
}

# zone < LINES: serve these records (tests/peers/zone.py syntax) on 127.0.0.1:53
zone() {
	"$TOP/tests/peers/zone.py" >"$T/zone"
	bg_start ldns-testns -p 53 "$T/zone"
	wait_for 10 port_open 53 127.0.0.1
}

# the usual two MX hosts of example.test
std_zone() {
	zone <<-EOF2
		example.test MX 10 mx1.example.test
		example.test MX 20 mx2.example.test
		mx1.example.test A 127.0.0.2
		mx2.example.test A 127.0.0.3
		wrongname.example.test A 127.0.0.2
		other.test MX 10 wrongname.example.test
		nomx.test A 127.0.0.4
		null.test MX 0 .
		broken.test SERVFAIL
		alias.test CNAME nomx.test
		relay.test A 127.0.0.6
		noaddr.test MX 10 gone.test
		one.test MX 10 mx1.example.test
		equal.test MX 10 mx1.example.test
		equal.test MX 10 mx2.example.test
		v6.test MX 10 mx6.v6.test
		mx6.v6.test AAAA ::1
		mx6.v6.test A 127.0.0.8
	EOF2
}

# peer ADDR PORT NAME [smtp-peer options]: recorded into $T/NAME.rec
peer() {
	local addr=$1 port=$2 name=$3
	shift 3
	bg_start python3 "$PEER" --listen "$addr:$port" --record "$T/$name.rec" "$@"
	wait_for 10 port_open "$port" "$addr"
}

# deliver DOMAIN SENDER RCPT...: reports, one per line, in $output; log in $T/log
deliver() {
	run sh -c 'deliver-remote "$@" <"$0" 2>"$0.log" | tr "\0" "\n"' "$T/msg" "$@"
	mv "$T/msg.log" "$T/log"
	echo "$output"
	cat "$T/log"
	# under make SANITIZE=1, any finding fails the test
	! grep -q 'Sanitizer\|runtime error' "$T/log" || false
}

# reports LINE...: the reports are exactly these lines
reports() {
	local want
	want=$(printf '%s\n' "$@")
	[ "$output" = "$want" ] || { printf 'expected:\n%s\n' "$want"; return 1; }
}

# rec NAME: the bytes the peer NAME received, CR shown as \r
rec() {
	sed 's/\r/\\r/' "$T/$1.rec"
}

@test "usage: too few arguments is exit 100" {
	run deliver-remote example.test a@b.test
	[ "$status" -eq 100 ]
}

@test "-n checks routes, secrets, nameservers and the CA file" {
	printf '* relay.test:587 tls=verify auth=u\nexample.test - tls=maybe\n' >"$CONF/routes"
	echo "$BATS_TEST_TMPDIR/nonexistent.crt" >"$CONF/tls-ca-file"
	echo "not-an-ip" >"$CONF/nameservers"
	run deliver-remote -n
	echo "$output"
	[ "$status" -eq 111 ]
	[[ "$output" == *"routes: bad line: example.test - tls=maybe"* ]]
	[[ "$output" == *"no password for u"* || "$output" == *"unable to read"*"secrets"* ]]
	[[ "$output" == *"nameservers: bad line: not-an-ip"* ]]
	[[ "$output" == *"unable to read the CA file"* ]]
	printf '* relay.test:587 tls=verify auth=u\n' >"$CONF/routes"
	printf 'u secret\n' >"$CONF/secrets"
	chmod 600 "$CONF/secrets"
	echo 127.0.0.1 >"$CONF/nameservers"
	rm "$CONF/tls-ca-file"
	run deliver-remote -n
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "MX: the lowest preference gets the mail" {
	std_zone
	peer 127.0.0.2 25 mx1
	peer 127.0.0.3 25 mx2
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "rmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" ]
	[ "${lines[1]}" = "Kmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" ]
	[ ${#lines[@]} -eq 2 ]
	[ -s "$T/mx1.rec" ]
	[ ! -e "$T/mx2.rec" ]
}

@test "MX: a refused connection falls back to the second MX" {
	std_zone
	peer 127.0.0.3 25 mx2
	deliver example.test a@sender.test bob@example.test
	t="mx2.example.test[127.0.0.3] said: 250 2.0.0 ok queued"
	reports "r$t" "K$t"
	grep -q 'mx=mx1.example.test ip=127.0.0.2 .*result=next connection=new reason=.*Connection refused' "$T/log"
	grep -q 'mx=mx2.example.test ip=127.0.0.3 .*result=done' "$T/log"
}

@test "MX: a 4xx greeting and a dropped session move on to the next MX" {
	std_zone
	peer 127.0.0.2 25 mx1 --greeting "421 4.3.2 busy"
	peer 127.0.0.3 25 mx2
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "rmx2.example.test[127.0.0.3] said: 250 2.0.0 ok queued" ]
	grep -q 'mx=mx1.example.test .*reason=.*greeted us with: 421 4.3.2 busy' "$T/log"
	bg_stop_all
	std_zone
	peer 127.0.0.2 25 mx1b --drop-at DATA
	peer 127.0.0.3 25 mx2b
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "rmx2.example.test[127.0.0.3] said: 250 2.0.0 ok queued" ]
	grep -q 'RCPT TO:<bob@example.test>' "$T/mx1b.rec"
	grep -q 'connection closed after DATA' "$T/log"
}

@test "MX: 421 (closing) to RCPT or at the end of data moves on; plain 4xx does not" {
	std_zone
	peer 127.0.0.2 25 mx1 --rcpt "bob@example.test=421 4.3.2 shutting down" \
		--rcpt "carl@example.test=451 4.3.0 later"
	peer 127.0.0.3 25 mx2
	deliver example.test a@sender.test carl@example.test bob@example.test
	reports "smx1.example.test[127.0.0.2] said: 451 4.3.0 later" \
		"rmx2.example.test[127.0.0.3] said: 250 2.0.0 ok queued" \
		"Kmx2.example.test[127.0.0.3] said: 250 2.0.0 ok queued"
	! grep -q 'carl' "$T/mx2.rec" || false
}

@test "MX: a 5xx greeting everywhere fails permanently; with one host down, temporarily" {
	std_zone
	peer 127.0.0.2 25 mx1 --greeting "554 5.7.1 go away"
	peer 127.0.0.3 25 mx2 --greeting "554 5.7.1 go away too"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "hmx2.example.test[127.0.0.3]: greeted us with: 554 5.7.1 go away too" ]
	[ "${lines[1]:0:1}" = D ]
	bg_stop_all
	std_zone
	peer 127.0.0.2 25 mx1b --greeting "554 5.7.1 go away"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]:0:1}" = s ]
	[ "${lines[1]:0:1}" = Z ]
}

@test "MX: equal preferences are tried in random order" {
	std_zone
	peer 127.0.0.2 25 mx1
	peer 127.0.0.3 25 mx2
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		deliver equal.test a@sender.test bob@equal.test
		[ "${lines[0]:0:1}" = r ]
	done
	# both got some: fails with probability 2^-11
	[ -s "$T/mx1.rec" ]
	[ -s "$T/mx2.rec" ]
}

@test "IPv6 and IPv4: AAAA first, then A when IPv6 does not answer" {
	std_zone
	peer ::1 25 six
	peer 127.0.0.8 25 four
	deliver v6.test a@sender.test bob@v6.test
	[ "${lines[0]}" = "rmx6.v6.test[::1] said: 250 2.0.0 ok queued" ]
	bg_stop_all
	std_zone
	peer 127.0.0.8 25 fourb
	deliver v6.test a@sender.test bob@v6.test
	[ "${lines[0]}" = "rmx6.v6.test[127.0.0.8] said: 250 2.0.0 ok queued" ]
	grep -q 'ip=::1 .*result=next' "$T/log"
}

@test "recipients: 250, 550 and 450 in one transaction give r, h and s" {
	std_zone
	peer 127.0.0.2 25 mx1 --rcpt "bad@example.test=550 5.1.1 no such user" \
		--rcpt "later@example.test=450 4.2.1 mailbox busy"
	deliver example.test a@sender.test ok@example.test bad@example.test later@example.test
	[ "${lines[0]}" = "rmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" ]
	[ "${lines[1]}" = "hmx1.example.test[127.0.0.2] said: 550 5.1.1 no such user" ]
	[ "${lines[2]}" = "smx1.example.test[127.0.0.2] said: 450 4.2.1 mailbox busy" ]
	[ "${lines[3]}" = "Kmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" ]
	[ "$(grep -c '^MAIL FROM' "$T/mx1.rec")" = 1 ]
	[ "$(grep -c '^DATA' "$T/mx1.rec")" = 1 ]
	[ "$(grep -c '^RCPT TO' "$T/mx1.rec")" = 3 ]
}

@test "recipients: all refused is D and no DATA; without PIPELINING the same" {
	std_zone
	peer 127.0.0.2 25 mx1 --no-pipelining --rcpt "bad@example.test=550 5.1.1 no such user" \
		--rcpt "bad2@example.test=553 5.1.3 bad address"
	deliver example.test a@sender.test bad@example.test bad2@example.test
	[ "${lines[0]}" = "hmx1.example.test[127.0.0.2] said: 550 5.1.1 no such user" ]
	[ "${lines[1]}" = "hmx1.example.test[127.0.0.2] said: 553 5.1.3 bad address" ]
	[ "${lines[2]}" = "Dmx1.example.test[127.0.0.2] said: 550 5.1.1 no such user" ]
	! grep -q '^DATA' "$T/mx1.rec" || false
}

@test "multi-line replies are kept verbatim, joined on one line" {
	std_zone
	peer 127.0.0.2 25 mx1 --data-reply $'550-5.7.1 first line\r\n550 5.7.1 second line'
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "hmx1.example.test[127.0.0.2] said: 550-5.7.1 first line 550 5.7.1 second line" ]
	[ "${lines[1]:0:1}" = D ]
}

@test "data: 5xx after accepted recipients is h for all, 4xx is s for all" {
	std_zone
	peer 127.0.0.2 25 mx1 --data-reply "554 5.6.0 content rejected"
	deliver example.test a@sender.test a@example.test b@example.test
	t="mx1.example.test[127.0.0.2] said: 554 5.6.0 content rejected"
	reports "h$t" "h$t" "D$t"
	bg_stop_all
	std_zone
	peer 127.0.0.2 25 mx1b --data-reply "451 4.3.0 try again"
	deliver example.test a@sender.test a@example.test b@example.test
	t="mx1.example.test[127.0.0.2] said: 451 4.3.0 try again"
	reports "s$t" "s$t" "Z$t"
}

@test "sender refused with 5xx: every recipient h, no RCPT answered matters" {
	std_zone
	peer 127.0.0.2 25 mx1 --mail-reply "553 5.7.1 sender not welcome"
	deliver example.test a@sender.test a@example.test b@example.test
	t="mx1.example.test[127.0.0.2] said: 553 5.7.1 sender not welcome"
	reports "h$t" "h$t" "D$t"
	! grep -q '^DATA' "$T/mx1.rec" || false
}

@test "the wire: CRLF, dot-stuffing, a final line without LF, exact dialogue" {
	std_zone
	peer 127.0.0.2 25 mx1
	printf 'Subject: dots\n\n.\n..x\n.leading\nlast' >"$T/msg"
	deliver example.test "" bob@example.test
	[ "${lines[0]:0:1}" = r ]
	printf '%s\r\n' "EHLO mx.example.test" "MAIL FROM:<> SIZE=41" "RCPT TO:<bob@example.test>" DATA \
		"Subject: dots" "" ".." "...x" "..leading" "last" "." QUIT | cmp - "$T/mx1.rec"
}

@test "EHLO refused: HELO, and no ESMTP parameters" {
	std_zone
	peer 127.0.0.2 25 mx1 --no-ehlo
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]:0:1}" = r ]
	grep -q $'^HELO mx.example.test\r$' "$T/mx1.rec"
	grep -q $'^MAIL FROM:<a@sender.test>\r$' "$T/mx1.rec"
}

@test "SIZE: a message over the server's limit fails permanently without being sent" {
	std_zone
	peer 127.0.0.2 25 mx1 --size 100
	head -c 500 /dev/zero | tr '\0' x >>"$T/msg"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "h552 5.3.4 message size 547 exceeds the limit 100 of mx1.example.test[127.0.0.2]" ]
	[ "${lines[1]:0:1}" = D ]
	! grep -q '^MAIL' "$T/mx1.rec" || false
	! grep -q '^DATA' "$T/mx1.rec" || false
}

@test "8BITMIME and SMTPUTF8: parameters when needed, permanent failure when SMTPUTF8 is missing" {
	std_zone
	peer 127.0.0.2 25 mx1
	printf 'Subject: x\n\ncaf\xc3\xa9\n' >"$T/msg"
	deliver example.test a@sender.test "j\xc3\xb6rg@example.test"
	deliver example.test a@sender.test "$(printf 'j\xc3\xb6rg@example.test')"
	[ "${lines[0]:0:1}" = r ]
	grep -q $'^MAIL FROM:<a@sender.test> SIZE=[0-9]* BODY=8BITMIME SMTPUTF8\r$' "$T/mx1.rec"
	bg_stop_all
	std_zone
	peer 127.0.0.2 25 mx1b --no-smtputf8
	deliver example.test a@sender.test "$(printf 'j\xc3\xb6rg@example.test')" plain@example.test
	[ "${lines[0]}" = "h553 5.6.7 mx1.example.test[127.0.0.2] does not support SMTPUTF8, needed for the addresses" ]
	[ "${lines[1]:0:1}" = h ]
	! grep -q '^MAIL' "$T/mx1b.rec" || false
}

@test "DNS: no MX means the domain's own address; CNAMEs are followed" {
	std_zone
	peer 127.0.0.4 25 nomx
	deliver nomx.test a@sender.test bob@nomx.test
	[ "${lines[0]}" = "rnomx.test[127.0.0.4] said: 250 2.0.0 ok queued" ]
	deliver alias.test a@sender.test bob@alias.test
	[ "${lines[0]}" = "ralias.test[127.0.0.4] said: 250 2.0.0 ok queued" ]
}

@test "DNS: Null MX is 556 5.1.10, permanent, nothing connects" {
	std_zone
	deliver null.test a@sender.test bob@null.test
	[ "${lines[0]}" = "h556 5.1.10 domain null.test does not accept mail (Null MX, RFC 7505)" ]
	[ "${lines[1]}" = "D556 5.1.10 domain null.test does not accept mail (Null MX, RFC 7505)" ]
	! grep -q event=attempt "$T/log" || false
}

@test "DNS: NXDOMAIN is permanent, SERVFAIL temporary, an MX without address permanent" {
	std_zone
	deliver nowhere.test a@sender.test bob@nowhere.test
	[ "${lines[0]}" = "h5.1.2 nowhere.test does not exist (NXDOMAIN)" ]
	[ "${lines[1]:0:1}" = D ]
	deliver broken.test a@sender.test bob@broken.test
	[ "${lines[0]}" = "s4.4.3 DNS lookup of broken.test MX failed: SERVFAIL" ]
	[ "${lines[1]:0:1}" = Z ]
	deliver noaddr.test a@sender.test bob@noaddr.test
	[ "${lines[0]:0:1}" = h ]
	[[ "${lines[0]}" == *"mail server gone.test has no address"* ]]
}

@test "DNS: a nameserver that never answers is a bounded temporary failure" {
	# a UDP socket that swallows every query
	bg_start python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.9", 53))
while True: s.recv(4096)'
	wait_for 10 sh -c 'ss -uln | grep -q 127.0.0.9:53'
	echo 127.0.0.9 >"$CONF/nameservers"
	echo "dns-timeout 1" >"$CONF/limits"
	echo "dns-retries 1" >>"$CONF/limits"
	start=$(date +%s)
	deliver example.test a@sender.test bob@example.test
	[ $(($(date +%s) - start)) -lt 10 ]
	[ "${lines[0]:0:1}" = s ]
	[[ "${lines[0]}" == "s4.4.3 DNS lookup of example.test MX failed"* ]]
	[ "${lines[1]:0:1}" = Z ]
}

@test "nameservers: IP PORT is honoured" {
	zone <<-EOF2
		example.test MX 10 mx1.example.test
		mx1.example.test A 127.0.0.2
	EOF2
	bg_stop_all
	bg_start ldns-testns -p 5353 "$T/zone"
	wait_for 10 port_open 5353 127.0.0.1
	echo "127.0.0.1 5353" >"$CONF/nameservers"
	peer 127.0.0.2 25 mx1
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]:0:1}" = r ]
}

@test "routes: a smarthost with a port, by literal and by name, skips MX" {
	std_zone
	peer 127.0.0.6 2526 relay
	echo "example.test [127.0.0.6]:2526" >"$CONF/routes"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "r127.0.0.6[127.0.0.6] said: 250 2.0.0 ok queued" ]
	printf '# everything through the relay\n*  relay.test:2526  tls=none\n' >"$CONF/routes"
	deliver faraway.test a@sender.test bob@faraway.test
	[ "${lines[0]}" = "rrelay.test[127.0.0.6] said: 250 2.0.0 ok queued" ]
	[ "$(grep -c '^MAIL' "$T/relay.rec")" = 2 ]
	grep -q 'mx=relay.test ip=127.0.0.6 port=2526 tls=none' "$T/log"
}

@test "routes: a bad line is a temporary failure, not a guess" {
	echo "example.test relay.test:99999" >"$CONF/routes"
	deliver example.test a@sender.test bob@example.test
	[[ "${lines[0]}" == "sroutes: bad line: example.test relay.test:99999" ]]
}

@test "TLS may (default): STARTTLS when offered, certificate unchecked; plain when not offered" {
	std_zone
	peer 127.0.0.2 25 mx1 --tls "$CERTS/mx1.crt" "$CERTS/mx1.key"
	deliver other.test a@sender.test bob@other.test
	[ "${lines[0]:0:1}" = r ]
	grep -q '^<TLS>' "$T/mx1.rec"
	grep -q 'tls=TLSv1.[23] cipher=[A-Z0-9_-]* result=done' "$T/log"
	bg_stop_all
	std_zone
	peer 127.0.0.2 25 plain
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]:0:1}" = r ]
	grep -q 'tls=none' "$T/log"
}

@test "TLS may: a failed handshake is retried on the same address without TLS" {
	std_zone
	peer 127.0.0.2 25 mx1 --tls-broken
	deliver one.test a@sender.test bob@one.test
	[ "${lines[0]}" = "rmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" ]
	grep -q '^<BROKEN TLS>' "$T/mx1.rec"
	[ "$(grep -c '^EHLO' "$T/mx1.rec")" = 2 ]
	[ "$(grep -c '^STARTTLS' "$T/mx1.rec")" = 1 ]
	grep -q 'result=next connection=new reason=.*TLS handshake failed' "$T/log"
}

@test "TLS: data after the STARTTLS reply (command injection) ends the session" {
	std_zone
	peer 127.0.0.2 25 mx1 --tls-inject
	deliver one.test a@sender.test bob@one.test
	reports "smx1.example.test[127.0.0.2]: sent data after the STARTTLS reply" \
		"Zmx1.example.test[127.0.0.2]: sent data after the STARTTLS reply"
	! grep -q '^MAIL' "$T/mx1.rec" || false
}

@test "TLS verify: the right CA and name pass; a wrong name or CA fails temporarily" {
	std_zone
	peer 127.0.0.2 25 mx1 --tls "$CERTS/mx1.crt" "$CERTS/mx1.key"
	echo "$CERTS/ca.crt" >"$CONF/tls-ca-file"
	printf 'example.test - tls=verify\nother.test - tls=verify\n' >"$CONF/routes"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "rmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" ]
	grep -q '^<TLS>' "$T/mx1.rec"
	# other.test's MX is wrongname.example.test: same server, wrong name
	deliver other.test a@sender.test bob@other.test
	[ "${lines[0]:0:1}" = s ]
	[[ "${lines[0]}" == *"wrongname.example.test[127.0.0.2]: TLS handshake failed"* ]]
	[ "$(grep -c '^MAIL' "$T/mx1.rec")" = 1 ]
	echo "$CERTS/other.crt" >"$CONF/tls-ca-file"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]:0:1}" = s ]
	[ "$(grep -c '^MAIL' "$T/mx1.rec")" = 1 ]
}

@test "TLS encrypt: no STARTTLS offered is a temporary failure and nothing is sent" {
	std_zone
	peer 127.0.0.2 25 mx1
	echo "one.test - tls=encrypt" >"$CONF/routes"
	deliver one.test a@sender.test bob@one.test
	[ "${lines[0]}" = "smx1.example.test[127.0.0.2]: TLS required (tls=encrypt) but STARTTLS not offered" ]
	[ "${lines[1]:0:1}" = Z ]
	! grep -q '^MAIL' "$T/mx1.rec" || false
}

@test "AUTH: credentials from secrets, only over TLS" {
	std_zone
	peer 127.0.0.6 587 relay --tls "$CERTS/mx1.crt" "$CERTS/mx1.key" --auth "relayuser:pa ss#word"
	echo "* [127.0.0.6]:587 tls=encrypt auth=relayuser" >"$CONF/routes"
	printf '# user password\nrelayuser pa ss#word\n' >"$CONF/secrets"
	chmod 600 "$CONF/secrets"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]:0:1}" = r ]
	grep -q "^AUTH PLAIN $(printf '\0relayuser\0pa ss#word' | base64)" "$T/relay.rec"
	! grep -q 'pa ss' "$T/log" || false
	bg_stop_all
	peer 127.0.0.6 587 relay2 --tls "$CERTS/mx1.crt" "$CERTS/mx1.key" --auth "relayuser:pa ss#word" \
		--auth-mechs LOGIN
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]:0:1}" = r ]
	grep -q "^AUTH LOGIN" "$T/relay2.rec"
	chmod 644 "$CONF/secrets"
	deliver example.test a@sender.test bob@example.test
	[[ "${lines[0]}" == "srefusing "*"secrets: readable by others" ]]
	chmod 600 "$CONF/secrets"
	echo "* [127.0.0.6]:587 tls=none auth=relayuser" >"$CONF/routes"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "s127.0.0.6[127.0.0.6]: refusing to send a password without TLS" ]
	[ "$(grep -c '^AUTH' "$T/relay2.rec")" = 1 ]
}

@test "smtp-sink (Postfix) as a real peer receives the message intact" {
	std_zone
	bg_start smtp-sink -u root -D "$T/sink.dump" 127.0.0.2:25 10
	wait_for 10 port_open 25 127.0.0.2
	printf 'Subject: sink\n\n.\n..two\n.x\nend\n' >"$T/msg"
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "rmx1.example.test[127.0.0.2] said: 250 2.0.0 Ok" ]
	wait_for 5 test -s "$T/sink.dump"
	sed -n '/^Subject: sink$/,$p' "$T/sink.dump" | cmp - <(printf 'Subject: sink\n\n.\n..two\n.x\nend\n\n')
}

@test "lib/tlsio server side: deliver-remote talks TLS to a tlsio server under tcpserver" {
	build_driver "$TOP/tests/peers/tls-server.c" "$T/tls-server" -ltls
	bg_start tcpserver -q 127.0.0.7 2525 "$T/tls-server" "$CERTS/mx1.crt" "$CERTS/mx1.key" "$T/dump"
	wait_for 10 port_open 2525 127.0.0.7
	echo "$CERTS/ca.crt" >"$CONF/tls-ca-file"
	echo "example.test mx1.example.test:2525 tls=verify" >"$CONF/routes"
	echo "127.0.0.7" >/dev/null
	zone <<-EOF2
		mx1.example.test A 127.0.0.7
	EOF2
	deliver example.test a@sender.test bob@example.test
	[ "${lines[0]}" = "rmx1.example.test[127.0.0.7] said: 250 2.0.0 received over TLS" ]
	printf 'From: a@sender.test\r\nSubject: test\r\n\r\nhello\r\n' | cmp - "$T/dump"
	grep -q 'prog=tls-server .*event=tls version=TLSv1.[23] cipher=' "$BATS_TEST_TMPDIR/bg.log"
}

# batch ARG...: deliver-remote -b ARG... with $T/m3, $T/m4, $T/m5 on fds 3, 4, 5;
# its exit status in $status
batch() {
	run bash -o pipefail -c 'deliver-remote -b "$@" 3<"$0/m3" 4<"$0/m4" 5<"$0/m5" 2>"$0/log" | tr "\0" "\n"' "$T" "$@"
	echo "$output"
	cat "$T/log"
	! grep -q 'Sanitizer\|runtime error' "$T/log" || false
}

batch_msgs() {
	for i in 3 4 5; do printf 'From: a@sender.test\nSubject: m%s\n\nbody %s\n' "$i" "$i" >"$T/m$i"; done
}

# the three messages to bob, carol and dave, one each
batch_three() {
	batch example.test 3 - a@sender.test 1 bob@example.test 4 - b@sender.test 1 carol@example.test \
		5 - c@sender.test 1 dave@example.test
}

@test "-b: three messages, one connection: RSET between them, each message reported in turn" {
	std_zone
	batch_msgs
	peer 127.0.0.2 25 mx1 --rcpt 'no@example.test=550 5.1.1 no such user'
	batch example.test 3 1795372591.125686.0030125 a@sender.test 2 bob@example.test no@example.test \
		4 - b@sender.test 1 no@example.test 5 - c@sender.test 1 carol@example.test
	[ "$status" -eq 0 ]
	reports "rmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" \
		"hmx1.example.test[127.0.0.2] said: 550 5.1.1 no such user" \
		"Kmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" \
		"hmx1.example.test[127.0.0.2] said: 550 5.1.1 no such user" \
		"Dmx1.example.test[127.0.0.2] said: 550 5.1.1 no such user" \
		"rmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" \
		"Kmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued"
	# one connection; the second message's transaction ended at its RCPT, so RSET before each
	[ "$(grep -c '^EHLO' "$T/mx1.rec")" = 1 ]
	[ "$(grep -c '^RSET' "$T/mx1.rec")" = 2 ]
	[ "$(grep -c '^MAIL FROM' "$T/mx1.rec")" = 3 ]
	[ "$(grep -c '^QUIT' "$T/mx1.rec")" = 1 ]
	grep -q '^Subject: m3' "$T/mx1.rec"
	grep -q '^Subject: m5' "$T/mx1.rec"
	! grep -q '^Subject: m4' "$T/mx1.rec" || false
	# the log names each message by its id
	grep -q 'event=attempt id=1795372591.125686.0030125 .*result=done connection=new' "$T/log"
	[ "$(grep -c 'event=attempt id=- .*result=done connection=reused' "$T/log")" = 2 ]
}

@test "-b: over STARTTLS with verification: one handshake carries the three messages" {
	std_zone
	batch_msgs
	peer 127.0.0.2 25 mx1 --tls "$CERTS/mx1.crt" "$CERTS/mx1.key"
	echo "$CERTS/ca.crt" >"$CONF/tls-ca-file"
	echo "example.test mx1.example.test tls=verify" >"$CONF/routes"
	batch_three
	[ "$status" -eq 0 ]
	[ "$(grep -c '^r' <<<"$output")" = 3 ]
	[ "$(grep -c '^<TLS>' "$T/mx1.rec")" = 1 ]
	[ "$(grep -c '^Subject: m' "$T/mx1.rec")" = 3 ]
	[ "$(grep -c 'tls=TLSv1.[23] cipher=[A-Z0-9_-]* result=done connection=reused' "$T/log")" = 2 ]
}

@test "-b: a server that drops the connection after a message: the next one goes on a new connection" {
	std_zone
	batch_msgs
	peer 127.0.0.2 25 mx1 --messages-per-connection 1
	batch_three
	[ "$status" -eq 0 ]
	[ "$(grep -c '^r' <<<"$output")" = 3 ]
	[ "$(grep -c '^K' <<<"$output")" = 3 ]
	[ "$(grep -c '^EHLO' "$T/mx1.rec")" = 3 ]
	[ "$(grep -c '^Subject: m' "$T/mx1.rec")" = 3 ]
	[ "$(grep -c 'connection=reused reason=.*connection closed after RSET' "$T/log")" = 2 ]
}

@test "-b: a malformed call delivers nothing and exits 100" {
	std_zone
	batch_msgs
	peer 127.0.0.2 25 mx1
	# a count beyond the arguments, fd 1, a bad id, nothing after the domain
	batch example.test 3 - a@sender.test 2 bob@example.test
	[ "$status" -eq 100 ]
	batch example.test 1 - a@sender.test 1 bob@example.test
	[ "$status" -eq 100 ]
	batch example.test 3 not-an-id a@sender.test 1 bob@example.test
	[ "$status" -eq 100 ]
	batch example.test 3 - a@sender.test 0
	[ "$status" -eq 100 ]
	run deliver-remote -b example.test
	[ "$status" -eq 100 ]
	[ ! -e "$T/mx1.rec" ]
}

@test "-b: a message refused before any SMTP (bad sender) leaves the kept connection to the next" {
	std_zone
	batch_msgs
	peer 127.0.0.2 25 mx1
	batch example.test 3 - a@sender.test 1 bob@example.test 4 - 'bad<sender' 1 carol@example.test \
		5 - c@sender.test 1 dave@example.test
	[ "$status" -eq 0 ]
	reports "rmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" \
		"Kmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" \
		"h5.1.7 invalid sender address" \
		"D5.1.7 invalid sender address" \
		"rmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued" \
		"Kmx1.example.test[127.0.0.2] said: 250 2.0.0 ok queued"
	[ "$(grep -c '^EHLO' "$T/mx1.rec")" = 1 ]
	[ "$(grep -c '^MAIL FROM' "$T/mx1.rec")" = 2 ]
	! grep -q 'carol@' "$T/mx1.rec" || false
}
