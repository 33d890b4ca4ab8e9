#!/usr/bin/env bats
# queue-run killed with SIGKILL at random moments during 500 local
# deliveries, then restarted: every recipient is delivered at least once,
# no message is lost, and only deliveries in flight at a kill are repeated.

load lib

setup() {
	sluice_conf
	export STANDIN=$BATS_TEST_TMPDIR/standin
	mkdir -p "$STANDIN"
	echo "$FIXTURES/queue-run/deliver-count" >"$CONF/local-delivery"
	echo "concurrency-local 10" >"$CONF/limits"
}

no_runs() { [ -z "$(find "$STANDIN" -name 'run.*')" ]; }

@test "kill -9 at random moments: nothing lost, at most the in-flight deliveries repeated" {
	# 100 messages x 5 recipients = 500 deliveries
	for i in $(seq 100); do
		printf 'Subject: crash %s\n\nbody %s\n' $i $i |
			queue-inject 1< <(printf "Fs@example.org\\0Ta$i@example.test\\0Tb$i@example.test\\0Tc$i@example.test\\0Td$i@example.test\\0Te$i@example.test\\0\\0") 2>/dev/null
	done
	ls "$QUEUE/new" | sort >"$BATS_TEST_TMPDIR/ids"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/ids")" = 100 ]

	kills=0
	while [ $kills -lt 20 ]; do
		queue-run 2>>"$BATS_TEST_TMPDIR/qr.log" &
		pid=$!
		sleep "0.$((RANDOM % 40 + 5))"
		kill -KILL $pid 2>/dev/null || { grep fatal "$BATS_TEST_TMPDIR/qr.log" >&3; false; }
		wait $pid || true
		kills=$((kills + 1))
		[ -n "$(find "$QUEUE/new" "$QUEUE/msg" -type f)" ] || break
	done
	echo "kills: $kills" >&3

	# deliveries started by a killed queue-run still finish on their own
	wait_for 30 no_runs
	run queue-run -1
	[ "$status" -eq 0 ]
	wait_for 30 no_runs

	# no message lost: the queue is empty and every recipient was delivered
	find "$QUEUE/new" "$QUEUE/msg" "$QUEUE/state" -type f -exec ls -l {} + >&3
	[ -z "$(find "$QUEUE/new" "$QUEUE/msg" "$QUEUE/state" -type f)" ]
	while read -r id; do
		for r in a b c d e; do echo "$id"; done
	done <"$BATS_TEST_TMPDIR/ids" >"$BATS_TEST_TMPDIR/want-ids"
	sort -u "$STANDIN/log" | wc -l >"$BATS_TEST_TMPDIR/distinct"
	[ "$(cat "$BATS_TEST_TMPDIR/distinct")" = 500 ]
	[ "$(sort -u "$STANDIN/log" | cut -d' ' -f1 | sort | uniq -c | awk '$1 != 5' | wc -l)" = 0 ]
	[ "$(sort -u "$STANDIN/log" | cut -d' ' -f1 | sort -u)" = "$(cat "$BATS_TEST_TMPDIR/ids")" ]
	# repeats: at most the deliveries in flight at each kill (concurrency-local)
	total=$(wc -l <"$STANDIN/log")
	echo "deliveries: $total for 500 recipients" >&3
	[ $((total - 500)) -le $((kills * 10)) ]
}
