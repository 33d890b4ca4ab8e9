#!/usr/bin/env bats
# smtp-filter -n: rules are checked with file:line messages.

load lib

setup() {
	sluice_conf
	F=$FIXTURES/smtp-filter
}

@test "every mistake is reported once, as file:line: message, in line order; exit 1" {
	cd "$F"
	run smtp-filter -f bad.rules -n
	[ "$status" -eq 1 ]
	diff <(printf '%s\n' "$output") bad.expected
}

@test "the examples in rules(5) are valid" {
	run smtp-filter -f "$F/examples.rules" -n
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# and the fixture is what the man page shows
	sed -n '/^\.Sh EXAMPLES/,/^\.Ed/p' "$TOP/smtp-filter/rules.5" | sed '1,2d;$d' | cmp - "$F/examples.rules"
}

@test "the conf rules file is the default; its name prefixes the messages" {
	printf 'connect accept\nhelo frob reject\n' >"$CONF/rules"
	run smtp-filter -n
	[ "$status" -eq 1 ]
	[ "$output" = "$CONF/rules:2: unknown condition 'frob'" ]
}

@test "no rules file is valid: nothing to do" {
	run smtp-filter -n
	[ "$status" -eq 0 ]
	[[ "$output" == *"no rules file"* ]]
}

@test "a continuation line with no rule above it" {
	printf '  connect accept\n' >"$CONF/rules"
	run smtp-filter -n
	[ "$status" -eq 1 ]
	[ "$output" = "$CONF/rules:1: a continuation line with no rule above it" ]
}

@test "a missing -f file is a system error (111)" {
	run smtp-filter -f "$BATS_TEST_TMPDIR/nope" -n
	[ "$status" -eq 111 ]
	[[ "$output" == *"unable to read"* ]]
}

@test "comments, quotes with # inside, escapes, continuation lines" {
	cat >"$CONF/rules" <<'EOF2'
# a comment
mail sender = "we#ird\"x\\@example.org"   # trailing comment
	reject 550 5.7.1 "a # in text"
EOF2
	run smtp-filter -n
	[ "$status" -eq 0 ]
	printf 'request=smtpd_access_policy\nprotocol_state=MAIL\nsender=we#ird"x\\@example.org\n\n' | smtp-filter -p >"$BATS_TEST_TMPDIR/o"
	printf 'action=550 5.7.1 a # in text\n\n' | cmp - "$BATS_TEST_TMPDIR/o"
}

@test "usage errors are exit 100" {
	run smtp-filter -n -p
	[ "$status" -eq 100 ]
	run smtp-filter -x
	[ "$status" -eq 100 ]
	run smtp-filter queue-inject
	[ "$status" -eq 100 ]
}
