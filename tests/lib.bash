# tests/lib.bash - shared helpers for the bats suite.  Load with
#   load lib
# Every test gets its own configuration directory and queue under
# $BATS_TEST_TMPDIR; processes started with bg_start are killed in teardown.

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
# every program directory (one with a build.mk) goes on PATH
for _d in "$TOP"/*/build.mk; do
	PATH="${_d%/build.mk}:$PATH"
done
unset _d
export PATH
FIXTURES="$TOP/tests/fixtures"

# sluice_conf: a fresh conf dir ($CONF) and queue ($QUEUE); exports SLUICE_CONF
sluice_conf() {
	CONF=$BATS_TEST_TMPDIR/conf
	QUEUE=$BATS_TEST_TMPDIR/queue
	MAIL=$BATS_TEST_TMPDIR/mail
	mkdir -p "$CONF" "$MAIL" "$QUEUE"/tmp "$QUEUE"/new "$QUEUE"/msg "$QUEUE"/state \
		"$QUEUE"/hold "$QUEUE"/quarantine
	echo "$QUEUE" >"$CONF/queuedir"
	echo mx.example.test >"$CONF/me"
	printf 'example.test\n' >"$CONF/locals"
	: >"$CONF/rcpthosts"
	export SLUICE_CONF=$CONF
}

# queued_files: the committed queue files (new/ and msg/), one per line
queued_files() {
	find "$QUEUE/new" "$QUEUE/msg" -type f 2>/dev/null | sort
}

# wait_for SECONDS COMMAND...: poll COMMAND every 50 ms until it succeeds
wait_for() {
	local limit=$1
	shift
	local deadline=$(($(date +%s%N) + limit * 1000000000))
	until "$@"; do
		if [ "$(date +%s%N)" -ge "$deadline" ]; then
			echo "wait_for: timed out after ${limit}s: $*" >&2
			return 1
		fi
		sleep 0.05
	done
}

# port_open PORT [HOST]: something listens there
port_open() {
	(exec 3<>"/dev/tcp/${2:-127.0.0.1}/$1") 2>/dev/null
}

# bg_start COMMAND...: run in the background (own process group), killed in teardown
bg_start() {
	setsid "$@" >>"$BATS_TEST_TMPDIR/bg.log" 2>&1 &
	echo $! >>"$BATS_TEST_TMPDIR/bg.pids"
}

bg_stop_all() {
	[ -f "$BATS_TEST_TMPDIR/bg.pids" ] || return 0
	local p
	while read -r p; do
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
	done <"$BATS_TEST_TMPDIR/bg.pids"
	while read -r p; do
		local i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
	done <"$BATS_TEST_TMPDIR/bg.pids"
	rm -f "$BATS_TEST_TMPDIR/bg.pids"
}

# crlf: turn LF into CRLF (for writing SMTP dialogues readably)
crlf() {
	sed 's/$/\r/'
}

teardown() {
	bg_stop_all
}

# test_ca DIR: a throw-away CA in DIR (ca.pem, ca.key), EC keys for speed
test_ca() {
	mkdir -p "$1"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=sluice test CA" -keyout "$1/ca.key" -out "$1/ca.pem" 2>/dev/null
}

# test_cert DIR NAME [CN]: NAME.pem (certificate then the CA: a chain) and
# NAME.key, for host mx.example.test and 127.0.0.1, signed by test_ca's CA
test_cert() {
	local d=$1 n=$2 cn=${3:-mx.example.test}
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
		-keyout "$d/$n.key" -out "$d/$n.csr" 2>/dev/null
	printf 'subjectAltName=DNS:mx.example.test,IP:127.0.0.1\n' >"$d/$n.ext"
	openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null
	cat "$d/$n.crt" "$d/ca.pem" >"$d/$n.pem"
}

# sluice_users ADDRESS...: each becomes a user with a maildir under $MAIL
sluice_users() {
	local a
	for a in "$@"; do
		printf '%s %s/%s/\n' "$a" "$MAIL" "${a%%@*}"
	done >>"$CONF/users"
}

# recv_tcpserver [smtp-recv options]: smtp-recv behind tcpserver on 127.0.0.1:$PORT
recv_tcpserver() {
	bg_start tcpserver -HR -l mx.example.test 127.0.0.1 "$PORT" smtp-recv "$@"
	wait_for 10 port_open "$PORT"
}

# recv_socket_activate [smtp-recv options]: the same behind systemd-socket-activate --accept
recv_socket_activate() {
	# --inetd: the connection on fd 0/1 (without it the socket is fd 3)
	bg_start systemd-socket-activate --accept --inetd -l "127.0.0.1:$PORT" -E SLUICE_CONF -E PATH -E TZ \
		-E ASAN_OPTIONS smtp-recv "$@"
	wait_for 10 port_open "$PORT"
}

# sluice_tls_conf: tls-cert and tls-key name the certificate test_cert made
# as "server" in $BATS_FILE_TMPDIR/pki (set up in setup_file); sets PKI
sluice_tls_conf() {
	PKI=$BATS_FILE_TMPDIR/pki
	echo "$PKI/server.pem" >"$CONF/tls-cert"
	echo "$PKI/server.key" >"$CONF/tls-key"
}

# tls_session_setup: what the STARTTLS and submission tests start from: the
# configuration with the "server" certificate, bob@example.test as a user,
# no relay or launcher variables left from the caller, dates in UTC
tls_session_setup() {
	sluice_conf
	sluice_tls_conf
	sluice_users bob@example.test
	unset RELAYCLIENT QMAILQUEUE TCPREMOTEIP TCPLOCALIP REMOTE_ADDR REMOTE_PORT
	export TZ=UTC
}

# build_driver SOURCE OUTPUT [LIBS...]: compile a test driver against lib/,
# with the sanitizers when the library was built with them (make SANITIZE=1)
build_driver() {
	local src=$1 out=$2 san=
	shift 2
	nm "$TOP/lib/libsluice.a" 2>/dev/null | grep -q __asan_init && san=-fsanitize=address,undefined
	cc -std=c11 -D_GNU_SOURCE $san -I"$TOP/lib" -o "$out" "$src" "$TOP/lib/libsluice.a" "$@"
}

# need_valgrind: skip the test when valgrind is missing or the programs were
# built with SANITIZE=1 (valgrind cannot run ASan binaries)
need_valgrind() {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	if grep -q fsanitize "$TOP/.build-flags" 2>/dev/null; then
		skip "sanitized build"
	fi
}

# under_valgrind COMMAND...: run COMMAND under valgrind; its own exit code,
# or 99 on any invalid access, uninitialised use or leak (definite, indirect
# or possible); the report goes to $BATS_TEST_TMPDIR/valgrind.log
under_valgrind() {
	valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect,possible \
		--show-leak-kinds=definite,indirect,possible \
		--log-file="$BATS_TEST_TMPDIR/valgrind.log" "$@"
}

# standin_delivery: queue-run's delivery commands become the stand-ins in
# fixtures/queue-run/ (DESIGN.md section 3 contracts); they work in
# $STANDIN.  Empty limits file.
standin_delivery() {
	export STANDIN=$BATS_TEST_TMPDIR/standin
	mkdir -p "$STANDIN"
	echo "$FIXTURES/queue-run/deliver-local" >"$CONF/local-delivery"
	echo "$FIXTURES/queue-run/deliver-remote" >"$CONF/remote-delivery"
	: >"$CONF/limits"
}

# inject_env SENDER RCPT... < message: queue it with the real queue-inject
inject_env() {
	local env="F$1\\0"
	shift
	local r
	for r; do env="$env""T$r\\0"; done
	queue-inject 1< <(printf "$env\\0") 2>>"$BATS_TEST_TMPDIR/inject.log"
}

# refute COMMAND...: COMMAND must fail (a bare "! cmd" never fails a bats test)
refute() {
	if "$@"; then
		echo "unexpectedly succeeded: $*"
		return 1
	fi
}

# policy_req STATE name=value...: one Postfix policy request on stdout
policy_req() {
	printf 'request=smtpd_access_policy\nprotocol_state=%s\n' "$1"
	shift
	printf '%s\n' "$@"
	printf '\n'
}

# policy_run: smtp-filter -p on stdin; replies byte-exact in
# $BATS_TEST_TMPDIR/out, log in $BATS_TEST_TMPDIR/err
policy_run() {
	smtp-filter -p >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err"
}

# policy_expect PRINTF-FORMAT: the replies of policy_run are exactly that
policy_expect() {
	printf "$1" | cmp - "$BATS_TEST_TMPDIR/out" || { cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"; false; }
}

# queue_check_line FILE: the check line queue-inject writes into the queue
# file's header for a message of FILE's bytes, "C<length> <CRC-32C>"
# (lib/queue.h)
queue_check_line() {
	python3 - "$1" <<-'EOF'
		import sys
		t = []
		for i in range(256):
		    c = i
		    for _ in range(8):
		        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
		    t.append(c)
		data = open(sys.argv[1], 'rb').read()
		c = 0xffffffff
		for b in data:
		    c = t[(c ^ b) & 0xff] ^ (c >> 8)
		print('C%d %08x' % (len(data), c ^ 0xffffffff))
	EOF
}

# without_check FILE: a queue file without its check line (the last line
# of the header, if it is one), for tests about the rest of the file
without_check() {
	python3 - "$1" <<-'EOF'
		import re, sys
		data = open(sys.argv[1], 'rb').read()
		end = data.find(b'\n\n')
		if end >= 0:
		    head = data[:end + 1]
		    m = re.search(rb'(^|\n)(C\d+ [0-9a-f]{8}\n)$', head)
		    if m:
		        data = head[:m.start(2)] + data[end + 1:]
		sys.stdout.buffer.write(data)
	EOF
}

# queue_check_ok FILE: the queue file's header ends with a check line that
# matches its message (length and CRC-32C)
queue_check_ok() {
	local head body=$BATS_TEST_TMPDIR/.qbody
	head=$(sed '/^$/q' "$1") # the header without its blank line
	tail -c +"$(($(printf '%s\n\n' "$head" | wc -c) + 1))" "$1" >"$body"
	[ "$(printf '%s\n' "$head" | tail -n1)" = "$(queue_check_line "$body")" ]
}
