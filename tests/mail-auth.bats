#!/usr/bin/env bats
# mail-auth: DKIM signing and verification, DMARC, Authentication-Results
# and Null MX, checked against independent implementations (dkimpy from
# python3-dkim, authheaders from python3-authheaders) over real DNS
# (ldns-testns on 127.0.0.1:53 inside the test network namespace).

load lib
load auth/helpers

DKIMDATA=/usr/lib/python3/dist-packages/dkim/tests/data

setup_file() {
	KEYS=$BATS_FILE_TMPDIR/keys
	keys_make "$KEYS"
}

setup() {
	KEYS=$BATS_FILE_TMPDIR/keys
	sluice_conf
	# the RFC 6376 / RFC 8463 example keys, as dkimpy's own tests serve them
	cat >"$BATS_TEST_TMPDIR/zone" <<EOF2
rsa._domainkey.example.org TXT $(cat "$KEYS/rsa.txt")
ed._domainkey.example.org TXT $(cat "$KEYS/ed.txt")
rsa._domainkey.other.net TXT $(cat "$KEYS/rsa.txt")
rsa._domainkey.example.co.uk TXT $(cat "$KEYS/rsa.txt")
brisbane._domainkey.football.example.com TXT v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=
test._domainkey.football.example.com TXT $(cat $DKIMDATA/test.txt)
broken._domainkey.example.org TIMEOUT
_dmarc.example.org TXT v=DMARC1; p=reject
_dmarc.example.net TXT v=DMARC1; p=reject; sp=quarantine
_dmarc.other.net TXT v=DMARC1; p=none
_dmarc.example.co.uk TXT v=DMARC1; p=reject
_dmarc.example.com TXT v=DMARC1; p=quarantine; adkim=s; aspf=s
rsa._domainkey.example.com TXT $(cat "$KEYS/rsa.txt")
rsa._domainkey.mail.example.com TXT $(cat "$KEYS/rsa.txt")
_dmarc.example.info TXT v=DMARC1; p=reject; sp=none
rsa._domainkey.example.info TXT $(cat "$KEYS/rsa.txt")
nullmx.example.org MX 0 .
_dmarc.two.example.org TXT v=DMARC1; p=none
_dmarc.pct0.example.org TXT v=DMARC1; p=reject; pct=0
_dmarc.pct100.example.org TXT v=DMARC1; p=quarantine; pct=100
_dmarc.two.example.org TXT v=DMARC1; p=reject
_dmarc.nop.example.org TXT v=DMARC1; adkim=s
_dmarc.rua.example.org TXT v=DMARC1; p=bogus; rua=mailto:d@example.org
example.org MX 10 mx.example.org
mx.example.org A 192.0.2.25
EOF2
	dns_serve "$BATS_TEST_TMPDIR/zone"
}

msg() { # msg FROM [more header lines]: a small message on stdout
	local from=$1
	shift
	printf 'From: %s\n' "$from"
	for h in "$@"; do printf '%s\n' "$h"; done
	printf 'To: bob@example.net\nSubject: lunch?\nDate: Sun, 22 Nov 2026 03:00:00 +0000\n'
	printf 'Message-ID: <%s@example.org>\n\nShall we meet at noon?\n\n-- \nAlice\n' "$RANDOM"
}

sign() { # sign DOMAIN SELECTOR KEY ALG < msg
	mail-auth sign -d "$1" -s "$2" -k "$KEYS/$3" -a "$4"
}

@test "sluice signs with RSA 2048 and Ed25519; dkimpy verifies both signatures" {
	msg 'Alice <alice@example.org>' >"$BATS_TEST_TMPDIR/m"
	sign example.org rsa rsa.key rsa <"$BATS_TEST_TMPDIR/m" | sign example.org ed ed.key ed25519 >"$BATS_TEST_TMPDIR/s"
	run "$PY" "$AUTHDIR/pyauth.py" dkim-verify <"$BATS_TEST_TMPDIR/s"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "pass d=example.org a=ed25519-sha256" ]
	[ "${lines[1]}" = "pass d=example.org a=rsa-sha256" ]
}

@test "sluice's signature: relaxed/relaxed, recommended fields, From oversigned" {
	msg 'Alice <alice@example.org>' 'Reply-To: a@example.org' 'X-Unsigned: 1' |
		sign example.org rsa rsa.key rsa >"$BATS_TEST_TMPDIR/s"
	hdr=$(sed -n '1,/^[^ \t]/{/^DKIM-Signature:/p;/^[ \t]/p}' "$BATS_TEST_TMPDIR/s" | tr -d ' \t\n')
	echo "$hdr"
	[[ "$hdr" == *"c=relaxed/relaxed;"* ]]
	[[ "$hdr" == *"a=rsa-sha256;"* ]]
	h=$(echo "$hdr" | sed 's/.*;h=\([^;]*\);.*/\1/' | tr 'A-Z' 'a-z')
	[ "$h" = "from:reply-to:to:subject:date:message-id:from" ]
	# the oversigned From means an added From breaks the signature
	sed '0,/^From:/s//From: Mallory <m@evil.test>\nFrom:/' "$BATS_TEST_TMPDIR/s" >"$BATS_TEST_TMPDIR/f"
	run "$PY" "$AUTHDIR/pyauth.py" dkim-verify <"$BATS_TEST_TMPDIR/f"
	[ "$output" = "fail d=example.org a=rsa-sha256" ]
}

@test "messages signed by dkimpy (RSA, Ed25519) verify in sluice; rsa-sha1 is reported as such" {
	msg 'Alice <alice@example.org>' >"$BATS_TEST_TMPDIR/m"
	"$PY" "$AUTHDIR/pyauth.py" dkim-sign rsa example.org "$KEYS/rsa.key" rsa <"$BATS_TEST_TMPDIR/m" |
		"$PY" "$AUTHDIR/pyauth.py" dkim-sign ed example.org "$KEYS/ed.key" ed25519 |
		"$PY" "$AUTHDIR/pyauth.py" dkim-sign rsa example.org "$KEYS/rsa.key" rsa-sha1 >"$BATS_TEST_TMPDIR/s"
	run mail-auth verify <"$BATS_TEST_TMPDIR/s"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "dkim=pass d=example.org s=rsa a=rsa-sha1 bits=2048" ]
	[ "${lines[1]}" = "dkim=pass d=example.org s=ed a=ed25519-sha256 bits=0" ]
	[ "${lines[2]}" = "dkim=pass d=example.org s=rsa a=rsa-sha256 bits=2048" ]
	[[ "$output" == *"dkim=pass (2048-bit key) header.d=example.org header.i=@example.org header.s=rsa header.a=rsa-sha1 header.b="* ]]
}

@test "the RFC 6376 / RFC 8463 example messages from dkimpy's test data verify" {
	run mail-auth verify <"$DKIMDATA/rfc6376.signed.msg"
	echo "$output"
	[ "${lines[0]}" = "dkim=pass d=football.example.com s=brisbane a=ed25519-sha256 bits=0" ]
	[ "${lines[1]}" = "dkim=pass d=football.example.com s=test a=rsa-sha256 bits=1024" ]
	run mail-auth verify <"$DKIMDATA/rfc6376.signed.rsa.msg"
	echo "$output"
	[ "${lines[0]}" = "dkim=pass d=football.example.com s=test a=rsa-sha256 bits=1024" ]
}

@test "a one-byte body change fails every signature" {
	sed 's/lost the game/lost the gamf/' "$DKIMDATA/rfc6376.signed.msg" >"$BATS_TEST_TMPDIR/b"
	run mail-auth verify <"$BATS_TEST_TMPDIR/b"
	echo "$output"
	[[ "${lines[0]}" == "dkim=fail d=football.example.com s=brisbane a=ed25519-sha256 "* ]]
	[[ "${lines[1]}" == "dkim=fail d=football.example.com s=test a=rsa-sha256 "* ]]
	msg 'Alice <alice@example.org>' | sign example.org ed ed.key ed25519 | sed 's/noon/nooN/' >"$BATS_TEST_TMPDIR/s"
	run mail-auth verify <"$BATS_TEST_TMPDIR/s"
	[[ "${lines[0]}" == "dkim=fail d=example.org s=ed a=ed25519-sha256 "* ]]
	run "$PY" "$AUTHDIR/pyauth.py" dkim-verify <"$BATS_TEST_TMPDIR/s"
	[ "$output" = "fail d=example.org a=ed25519-sha256" ]
}

@test "keys come from the dkim file: both keys of the From domain sign" {
	printf 'example.org rsa %s\nexample.org ed %s ed25519\nother.net rsa %s rsa\n' \
		"$KEYS/rsa.key" "$KEYS/ed.key" "$KEYS/rsa.key" >"$CONF/dkim"
	msg 'Alice <alice@example.org>' | mail-auth sign >"$BATS_TEST_TMPDIR/s"
	[ "$(grep -c '^DKIM-Signature:' "$BATS_TEST_TMPDIR/s")" -eq 2 ]
	run "$PY" "$AUTHDIR/pyauth.py" dkim-verify <"$BATS_TEST_TMPDIR/s"
	[ "$status" -eq 0 ]
	# no key for the domain: the message passes unsigned, with a warning
	run mail-auth sign < <(msg 'Carol <carol@nokey.test>')
	[ "$status" -eq 0 ]
	[[ "$output" == *"no key in dkim for the From domain nokey.test"* ]]
	[[ "$output" != *"DKIM-Signature"* ]]
}

@test "missing key is permerror, an unreachable key temperror" {
	msg 'Alice <alice@example.org>' | sign example.org nokey rsa.key rsa >"$BATS_TEST_TMPDIR/a"
	run mail-auth verify <"$BATS_TEST_TMPDIR/a"
	[[ "${lines[0]}" == "dkim=permerror d=example.org s=nokey "* ]]
	msg 'Alice <alice@example.org>' | sign example.org broken rsa.key rsa >"$BATS_TEST_TMPDIR/b"
	run mail-auth verify <"$BATS_TEST_TMPDIR/b"
	[[ "${lines[0]}" == "dkim=temperror d=example.org s=broken "* ]]
}

# cross_check FILE [SPFDOMAIN]: sluice's DMARC verdict equals authheaders'
cross_check() {
	local spf=()
	[ -n "${2:-}" ] && spf=(-e)
	sluice=$(SPF_RESULT=pass SPF_DOMAIN=${2:-} SPF_IDENTITY=mailfrom mail-auth verify "${spf[@]}" <"$1" |
		sed -n 's/^dmarc=\([a-z]*\) from=[^ ]* policy=\([a-z]*\) .*/dmarc=\1 policy=\2/p')
	theirs=$("$PY" "$AUTHDIR/pyauth.py" dmarc "${2:-}" <"$1" 2>/dev/null)
	echo "sluice: $sluice / authheaders: $theirs"
	[ "$sluice" = "$theirs" ]
}

@test "DMARC: aligned DKIM pass, p=reject (cross-checked with authheaders)" {
	msg 'Alice <alice@example.org>' | sign example.org rsa rsa.key rsa >"$BATS_TEST_TMPDIR/s"
	cross_check "$BATS_TEST_TMPDIR/s"
	[ "$sluice" = "dmarc=pass policy=reject" ]
}

@test "DMARC: unaligned signature fails with p=reject; aligned SPF passes" {
	msg 'Alice <alice@example.org>' | sign other.net rsa rsa.key rsa >"$BATS_TEST_TMPDIR/s"
	cross_check "$BATS_TEST_TMPDIR/s"
	[ "$sluice" = "dmarc=fail policy=reject" ]
	run mail-auth verify <"$BATS_TEST_TMPDIR/s"
	[[ "$output" == *"dmarc=fail from=example.org policy=reject disposition=reject "* ]]
	[[ "$output" == *"dmarc=fail (p=reject dis=reject) header.from=example.org"* ]]
	cross_check "$BATS_TEST_TMPDIR/s" example.org
	[ "$sluice" = "dmarc=pass policy=reject" ]
	cross_check "$BATS_TEST_TMPDIR/s" other.net
	[ "$sluice" = "dmarc=fail policy=reject" ]
}

@test "DMARC: sp= applies to a subdomain found through the organizational domain" {
	msg 'Alice <alice@news.example.net>' | sign other.net rsa rsa.key rsa >"$BATS_TEST_TMPDIR/s"
	cross_check "$BATS_TEST_TMPDIR/s"
	[ "$sluice" = "dmarc=fail policy=quarantine" ]
	# at the organizational domain itself p= applies (authheaders 0.15
	# applies sp= there too, so this one is not cross-checked)
	msg 'Alice <alice@example.net>' | sign other.net rsa rsa.key rsa >"$BATS_TEST_TMPDIR/p"
	run mail-auth verify <"$BATS_TEST_TMPDIR/p"
	[[ "$output" == *"dmarc=fail from=example.net policy=reject disposition=reject "* ]]
	msg 'Alice <alice@news.example.info>' | sign other.net rsa rsa.key rsa >"$BATS_TEST_TMPDIR/t"
	cross_check "$BATS_TEST_TMPDIR/t"
	[ "$sluice" = "dmarc=fail policy=none" ]
}

@test "DMARC: organizational domain from the Public Suffix List, relaxed and strict alignment" {
	# co.uk is a public suffix: the organizational domain is example.co.uk
	msg 'Alice <alice@mail.example.co.uk>' | sign example.co.uk rsa rsa.key rsa >"$BATS_TEST_TMPDIR/s"
	cross_check "$BATS_TEST_TMPDIR/s"
	[ "$sluice" = "dmarc=pass policy=reject" ]
	# adkim=s: a parent domain's signature is not aligned
	msg 'Alice <alice@mail.example.com>' | sign example.com rsa rsa.key rsa >"$BATS_TEST_TMPDIR/t"
	cross_check "$BATS_TEST_TMPDIR/t"
	[ "$sluice" = "dmarc=fail policy=quarantine" ]
	msg 'Alice <alice@example.com>' | sign example.com rsa rsa.key rsa >"$BATS_TEST_TMPDIR/u"
	cross_check "$BATS_TEST_TMPDIR/u"
	[ "$sluice" = "dmarc=pass policy=quarantine" ]
}

@test "DMARC: pct= sampling lowers the disposition one step for messages left out" {
	run mail-auth verify < <(msg 'Alice <alice@pct0.example.org>')
	[[ "$output" == *"dmarc=fail from=pct0.example.org policy=reject disposition=quarantine "* ]]
	run mail-auth verify < <(msg 'Alice <alice@pct100.example.org>')
	[[ "$output" == *"dmarc=fail from=pct100.example.org policy=quarantine disposition=quarantine "* ]]
}

@test "DMARC: multiple From fields are each evaluated, the strictest failure wins" {
	msg 'Alice <alice@other.net>' 'From: Mallory <m@example.org>' | sign other.net rsa rsa.key rsa >"$BATS_TEST_TMPDIR/s"
	cross_check "$BATS_TEST_TMPDIR/s"
	[ "$sluice" = "dmarc=fail policy=reject" ]
	run mail-auth verify <"$BATS_TEST_TMPDIR/s"
	[[ "$output" == *"from-fields=2"* ]]
	[[ "$output" == *"dmarc=fail from=example.org policy=reject disposition=reject"* ]]
}

@test "DMARC: no record is none; no From is permerror" {
	msg 'Alice <alice@nodmarc.test>' >"$BATS_TEST_TMPDIR/s"
	cross_check "$BATS_TEST_TMPDIR/s"
	[ "$sluice" = "dmarc=none policy=none" ]
	# RFC 7489 6.6.3: two records, or one without a usable p=, end discovery
	# (no fallback to example.org's p=reject); a rua= makes a bad p= read as none
	run mail-auth verify < <(msg 'Alice <alice@two.example.org>')
	[[ "$output" == *"dmarc=none (several DMARC records) header.from=two.example.org"* ]]
	run mail-auth verify < <(msg 'Alice <alice@nop.example.org>')
	[[ "$output" == *"dmarc=none (DMARC record without a usable policy) header.from=nop.example.org"* ]]
	run mail-auth verify < <(msg 'Alice <alice@rua.example.org>')
	[[ "$output" == *"dmarc=fail from=rua.example.org policy=none disposition=none "* ]]
	run mail-auth verify < <(printf 'To: a@b.test\n\nbody\n')
	[[ "$output" == *"dmarc=permerror from= "* ]]
}

@test "Authentication-Results: SPF, DKIM and DMARC under our authserv-id; forged ones removed" {
	{
		printf 'Authentication-Results: mx.example.test; dkim=pass header.d=example.org\n'
		printf 'Authentication-Results: (comment) "MX.Example.Test"; spf=pass\n'
		printf 'Authentication-Results: other.host; dkim=fail\n'
		msg 'Alice <alice@example.org>'
	} | sign example.org rsa rsa.key rsa >"$BATS_TEST_TMPDIR/s"
	mail-auth verify -r -i 192.0.2.25 -h mx.example.org -f alice@example.org <"$BATS_TEST_TMPDIR/s" \
		>"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/report"
	output=$(cat "$BATS_TEST_TMPDIR/out")
	echo "$output"
	grep -q '^removed=2$' "$BATS_TEST_TMPDIR/report"
	[ "$(head -1 "$BATS_TEST_TMPDIR/out")" = "Authentication-Results: mx.example.test;" ]
	grep -q '^	spf=none smtp.mailfrom=example.org;$' <<<"$output"
	grep -q '^	dkim=pass (2048-bit key) header.d=example.org header.s=rsa header.a=rsa-sha256 header.b=' <<<"$output"
	grep -q '^	dmarc=pass (p=reject dis=none) header.from=example.org$' <<<"$output"
	grep -q '^Authentication-Results: other.host; dkim=fail$' <<<"$output"
	[ "$(grep -c -i '^Authentication-Results: .*mx.example.test' <<<"$output")" -eq 1 ]
	# the rewritten message still verifies: our header is not signed over
	mail-auth verify -r -m mx.example.test <"$BATS_TEST_TMPDIR/s" 2>/dev/null | "$PY" "$AUTHDIR/pyauth.py" dkim-verify
}

@test "Null MX (RFC 7505) is told from ordinary MX, and DNS failure from both" {
	run mail-auth nullmx nullmx.example.org
	[ "$status" -eq 0 ]
	[ "$output" = "null-mx" ]
	run mail-auth nullmx example.org
	[ "$status" -eq 1 ]
	[ "$output" = "no-null-mx" ]
	run mail-auth nullmx nothing.example.org
	[ "$status" -eq 1 ]
	run mail-auth nullmx broken._domainkey.example.org
	[ "$status" -eq 111 ]
}

@test "organizational domains follow the Public Suffix List (checked with authheaders' lookup)" {
	doms="www.ck a.b.ck foo.bar.example.co.uk example.com com x.github.io a.x.github.io a.b.c.kawasaki.jp city.kawasaki.jp Mail.Example.ORG."
	run mail-auth orgdomain $doms
	[ "$status" -eq 0 ]
	theirs=$("$PY" -c 'import sys
from authheaders.dmarc_lookup import get_org_domain
for d in sys.argv[1:]:
    print(d, get_org_domain(d.lower().rstrip(".")))' $doms)
	echo "$output"
	echo "$theirs"
	[ "$output" = "$theirs" ]
	# a name under a TLD the list does not know falls to the default rule "*"
	# (publicsuffix2, under authheaders, answers "test" here)
	run mail-auth orgdomain mail.example.test
	[ "$output" = "mail.example.test example.test" ]
}
