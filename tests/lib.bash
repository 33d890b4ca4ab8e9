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

# sluice_users ADDRESS...: each becomes a user with a maildir under $MAIL
sluice_users() {
	local a
	for a in "$@"; do
		printf '%s %s/%s/\n' "$a" "$MAIL" "${a%%@*}"
	done >>"$CONF/users"
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
