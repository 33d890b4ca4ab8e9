# tests/auth/helpers.bash - DNS and key helpers for the mail-auth tests.
# Load after lib: `load auth/helpers`.

AUTHDIR="$TOP/tests/auth"
PY=/usr/bin/python3   # Debian's python, where python3-dkim and friends live

# dns_serve ZONE: serve ZONE (dnszone.py lines) on 127.0.0.1:53 and point
# the conf at it; returns once the server answers
dns_serve() {
	"$PY" "$AUTHDIR/dnszone.py" "$1" >"$BATS_TEST_TMPDIR/zone.data"
	bg_start ldns-testns -p 53 "$BATS_TEST_TMPDIR/zone.data"
	echo 127.0.0.1 >"$CONF/nameservers"
	printf 'dns-timeout 2\ndns-retries 0\n' >"$CONF/limits"
	wait_for 10 dns_answers
}

dns_answers() {
	drill -Q @127.0.0.1 probe.invalid TXT >/dev/null 2>&1
}

# keys_make DIR: RSA 2048 and Ed25519 keys (rsa.key, ed.key) and their
# DNS TXT values (rsa.txt, ed.txt), as mail-auth(8) tells administrators
keys_make() {
	mkdir -p "$1"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1/rsa.key" 2>/dev/null
	openssl genpkey -algorithm ed25519 -out "$1/ed.key" 2>/dev/null
	echo "v=DKIM1; k=rsa; p=$(openssl pkey -in "$1/rsa.key" -pubout -outform DER | base64 -w0)" >"$1/rsa.txt"
	echo "v=DKIM1; k=ed25519; p=$(openssl pkey -in "$1/ed.key" -pubout -outform DER | tail -c 32 | base64 -w0)" >"$1/ed.txt"
}
