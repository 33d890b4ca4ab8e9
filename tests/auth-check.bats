#!/usr/bin/env bats
# auth-check: the built-in checkpassword program (checkpassword interface).

load lib

setup() {
	sluice_conf
	y=$(mkpasswd -m yescrypt 'correct horse')
	s=$(openssl passwd -6 -salt abcdefgh 's3cret pass')
	printf 'alice@example.test %s\nbob %s\nlocked !%s\nempty\n' "$y" "$s" "$y" >"$CONF/passwords"
}

check() { # check USER PASS [prog...]
	local u=$1 p=$2
	shift 2
	auth-check "${@:-true}" 3< <(printf '%s\0%s\0%s\0' "$u" "$p" 12345)
}

@test "right password (yescrypt) runs the next program with AUTH_USER" {
	run check alice@example.test 'correct horse' sh -c 'echo "user=$AUTH_USER"'
	[ "$status" -eq 0 ]
	[ "$output" = "user=alice@example.test" ]
}

@test "right password (sha512-crypt) and case-insensitive user" {
	run check BOB 's3cret pass'
	[ "$status" -eq 0 ]
}

@test "wrong password, unknown user, locked and empty entries all exit 1" {
	run check alice@example.test 'correct horsE'
	[ "$status" -eq 1 ]
	run check nobody 'correct horse'
	[ "$status" -eq 1 ]
	run check locked 'correct horse'
	[ "$status" -eq 1 ]
	run check empty ''
	[ "$status" -eq 1 ]
	run check alice@example.test ''
	[ "$status" -eq 1 ]
}

@test "the failure log names the user, never the password" {
	run check alice@example.test 'wrong-password-xyz'
	[ "$status" -eq 1 ]
	[[ "$output" == *"event=auth result=fail user=alice@example.test"* ]]
	[[ "$output" != *wrong-password-xyz* ]]
}

@test "malformed input on fd 3 is a usage failure, not a success" {
	run auth-check true 3< <(printf 'alice@example.test')
	[ "$status" -eq 2 ]
	run auth-check true 3< <(printf 'alice@example.test\0correct horse')
	[ "$status" -eq 2 ]
	run auth-check true 3</dev/null
	[ "$status" -eq 2 ]
}

@test "no program to run is a usage error" {
	run auth-check 3< <(printf 'alice@example.test\0correct horse\0')
	[ "$status" -eq 2 ]
}

@test "the cdb form of the table gives the same answers" {
	cdb -c -m "$CONF/passwords.cdb" "$CONF/passwords"
	rm "$CONF/passwords"
	run check alice@example.test 'correct horse'
	[ "$status" -eq 0 ]
	run check alice@example.test 'nope'
	[ "$status" -eq 1 ]
}
