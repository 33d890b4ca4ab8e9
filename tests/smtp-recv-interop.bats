#!/usr/bin/env bats
# The policy protocol with peers sluice did not write:
#  - smtp-recv asking postgrey (Debian's greylisting policy server) on a
#    unix socket: 450 first, accepted once the delay has passed;
#  - a private Postfix instance asking smtp-filter -p, started by Postfix's
#    spawn(8) as an unprivileged user: a rule refuses a recipient in
#    Postfix's own SMTP dialogue.
# Both peers are private instances in the test's directory and network
# namespace; teardown stops them and checks that nothing is left.

load lib

setup() {
	sluice_conf
	sluice_users bob@example.test
	PORT=2525
	LOG=$BATS_TEST_TMPDIR/bg.log
	export TZ=UTC
	unset RELAYCLIENT QMAILQUEUE
}

teardown() {
	if [ -n "${PF:-}" ] && [ -f "$PF/etc/main.cf" ]; then
		postfix -c "$PF/etc" stop >/dev/null 2>&1 || true
		master=$(cat "$PF/spool/pid/master.pid" 2>/dev/null | tr -d ' ')
		if [ -n "$master" ]; then
			wait_for 10 bash -c "! kill -0 $master 2>/dev/null" || kill -KILL "$master" 2>/dev/null || true
		fi
	fi
	bg_stop_all
}

# install a Debian package the test needs when it is missing (make deps lists it)
need_package() {
	command -v "$1" >/dev/null && return 0
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null 2>&1 || skip "unable to install $2"
}

# one SMTP transaction up to RCPT with swaks; its whole transcript in $OUT
swaks_rcpt() { # PORT FROM TO
	OUT=$BATS_TEST_TMPDIR/swaks
	swaks --server "127.0.0.1:$1" --ehlo client.example --from "$2" --to "$3" --quit-after RCPT \
		--timeout 20 >"$OUT" 2>&1 || true
}

@test "postgrey on a unix socket: greylisted (450) first, accepted after the delay" {
	need_package postgrey postgrey
	mkdir -p "$BATS_TEST_TMPDIR/pgdb"
	SOCK=$BATS_TEST_TMPDIR/postgrey.sock
	# a private instance: its own socket and database, in the foreground (no --daemonize)
	bg_start postgrey --unix="$SOCK" --dbdir="$BATS_TEST_TMPDIR/pgdb" --delay=2 --user=root --group=root
	wait_for 20 test -S "$SOCK"
	echo "unix:$SOCK" >"$CONF/policy"
	echo RCPT >"$CONF/policy-stages" # as in Postfix: postgrey belongs in the recipient restrictions
	recv_tcpserver
	swaks_rcpt "$PORT" alice@example.org bob@example.test
	grep -q '^<\*\* *450 4.2.0 Greylisted, see http://postgrey' "$OUT"
	grep -q 'event=policy stage=RCPT id=[0-9.]* rcpt=<bob@example.test> action="DEFER_IF_PERMIT 4.2.0 Greylisted' "$LOG"
	# the retry: poll until postgrey lets the triplet pass (the delay is 2 s)
	retry() {
		swaks_rcpt "$PORT" alice@example.org bob@example.test
		grep -q '^<-  250 2.1.5 Ok' "$OUT"
	}
	wait_for 15 retry
	# another triplet is greylisted afresh
	swaks_rcpt "$PORT" carol@example.org bob@example.test
	grep -q '^<\*\* *450 4.2.0 Greylisted' "$OUT"
}

@test "Postfix with smtp-filter -p via spawn(8) as check_policy_service: a rule refuses a recipient" {
	command -v postfix >/dev/null || need_package postfix postfix
	PF=$BATS_TEST_TMPDIR/postfix
	# Postfix's daemons run as user postfix and smtp-filter as nobody: they
	# must be able to walk down to the test's directory (search, not read)
	d=$BATS_TEST_TMPDIR
	while [ "$d" != / ]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
	mkdir -p "$PF/etc" "$PF/spool" "$PF/data" "$PF/sconf"
	chown postfix "$PF/data"
	chmod 755 "$PF" "$PF/sconf"
	cat >"$PF/sconf/rules" <<'R'
rcpt rcpt = "blocked@example.test" reject 550 5.7.1 "blocked by a sluice rule"
R
	cat >"$PF/etc/main.cf" <<M
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.example.test
mydomain = example.test
mydestination = example.test
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = check_policy_service unix:private/sluice-policy, permit_mynetworks, reject_unauth_destination
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
biff = no
M
	# spawn(8) runs the policy server once per connection, as nobody, with its conf
	cat >"$PF/etc/master.cf" <<M
127.0.0.1:2526 inet n - n - - smtpd
sluice-policy unix - n n - 0 spawn user=nobody argv=/usr/bin/env SLUICE_CONF=$PF/sconf $TOP/smtp-filter/smtp-filter -p
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
smtp unix - - n - - smtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
showq unix n - n - - showq
flush unix n - n 1000? 0 flush
postlog unix-dgram n - n - 1 postlogd
M
	postfix -c "$PF/etc" start >"$BATS_TEST_TMPDIR/postfix-start" 2>&1 || {
		cat "$BATS_TEST_TMPDIR/postfix-start" "$PF/maillog"
		false
	}
	wait_for 20 port_open 2526
	swaks_rcpt 2526 alice@example.org blocked@example.test
	grep -q '^<\*\* *550 5.7.1 <blocked@example.test>: Recipient address rejected: blocked by a sluice rule$' "$OUT"
	swaks_rcpt 2526 alice@example.org friend@example.test
	grep -q '^<-  250 2.1.5 Ok' "$OUT"
	grep -q 'NOQUEUE: reject: RCPT from .*blocked by a sluice rule; from=<alice@example.org> to=<blocked@example.test>' "$PF/maillog"
	# the policy service never failed (spawn logs a fatal or a warning for that)
	! grep -Eq 'spawn.*(fatal|warning)|policy.*(fatal|warning)' "$PF/maillog" || false
}
