# tests/lib.bash - shared helpers for the bats suite.  Load with
#   load lib
# Every test gets its own configuration directory and queue under
# $BATS_TEST_TMPDIR; processes started with bg_start are killed in teardown.

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
export PATH="$TOP/smtp-recv:$TOP/smtp-filter:$TOP/queue-inject:$TOP/queue-run:$TOP/deliver-local:$TOP/deliver-remote:$TOP/sendmail:$PATH"
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

# queue-ctl (and its mailq name) lives in its own directory
PATH="$TOP/queue-ctl:$PATH"

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
