#!/usr/bin/env bats
# Regressions found by the fuzz harnesses (fuzz/), checked through the real
# programs where one exists.  Each input is also kept in fuzz/corpus/, so
# `make fuzz-smoke` replays it against the library directly.

load lib

setup() {
	sluice_conf
}

# fuzz/corpus/conf/nul-after-blank: "item \0junk" used to become "item "
@test "a NUL byte in a configuration file ends the line, like a comment" {
	printf '%s \0/elsewhere\n' "$QUEUE" >"$CONF/queuedir"
	printf 'x\n' | queue-inject 1< <(printf 'Fa@b\0Tc@d\0\0')
	[ "$(queued_files | wc -l)" = 1 ]
}

truncated_envelope() {
	printf x | queue-inject 2>&1 1< <(printf 'Fa@b\0Tc@d\0')
}

# an envelope cut short is reported as such, not with a stale errno
@test "an envelope ending early is logged as a protocol error" {
	run truncated_envelope
	[ "$status" -eq 54 ]
	[[ "$output" == *'reason="unable to read envelope: Protocol error"'* ]]
}

# fuzz/corpus/header/quoted-backslash-before-fold: a backslash before a
# fold inside quotes used to escape the line break itself, so the address
# held an LF and sendmail -t refused the whole message
@test "sendmail -t: a fold after a backslash in a quoted local part is dropped" {
	printf 'To: "x\\\n y"@example.test, z@example.test\nSubject: s\n\nbody\n' | sendmail -t
	[ "$(queued_files | wc -l)" = 1 ]
	f=$(queued_files)
	sed '/^$/q' "$f" >"$BATS_TEST_TMPDIR/env"
	cat "$BATS_TEST_TMPDIR/env"
	[ "$(grep -c '^T' "$BATS_TEST_TMPDIR/env")" = 2 ]
	grep -qx 'Tz@example.test' "$BATS_TEST_TMPDIR/env"
	! grep -q '^T.*\\$' "$BATS_TEST_TMPDIR/env" || false
}

# fuzz/corpus/local/wide-alias-tree: local-alias-depth bounded the nesting
# but not the work; four targets a level, ten levels deep, made one
# recipient cost 4^10 table lookups (seconds, at every RCPT)
@test "deliver-local: an alias tree too large to expand fails 5.4.6 at once" {
	printf 'example.test\n' >"$CONF/locals"
	python3 -c '
for d in range(10):
    for k in range(4):
        print("l%dn%d: %s" % (d, k, ", ".join("l%dn%d" % (d + 1, j) for j in range(4))))
for k in range(4):
    print("l10n%d: mail/%d/" % (k, k))' >"$CONF/aliases"
	printf 'Subject: x\n\nbody\n' >"$BATS_TEST_TMPDIR/m"
	run timeout 10 deliver-local s@example.org l0n0@example.test <"$BATS_TEST_TMPDIR/m"
	[ "$status" -eq 100 ]
	[ "${lines[${#lines[@]}-1]}" = "5.4.6 l0n0@example.test expands through more than 10000 addresses" ]
	# a small tree still delivers to every leaf, once
	echo 'local-alias-lookups 100000' >"$CONF/limits"
	mkdir "$CONF/mail"
	sed -i 's/^l[3-9]n.*//' "$CONF/aliases"
	printf 'l3n%s: mail/%s/\n' 0 0 1 1 2 2 3 3 >>"$CONF/aliases"
	run timeout 10 deliver-local s@example.org l0n0@example.test <"$BATS_TEST_TMPDIR/m"
	[ "$status" -eq 0 ]
	[ "$(find "$CONF/mail" -path '*/new/*' -type f | wc -l)" = 4 ]
}
