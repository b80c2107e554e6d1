/*
 * fuzz_admin_parse.c - the admin port's command parser (proxy/admin_parse.h)
 * over arbitrary bytes, as an admin client could send them. Oracles: a
 * refusal says why in a NUL-terminated, printable message; an accepted
 * command names a known verb, and its values are NUL-terminated inside
 * their fields and made only of the bytes their grammar allows (a
 * snapshot id can never climb out of [snapshot] dir).
 */
#include "fuzz_util.h"

#include "admin_parse.h"

static bool printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

static bool only(const char *s, size_t cap, const char *allowed_punct)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  strchr(allowed_punct, c) != NULL;
		if (!ok || c == '\0')
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_command cmd;
	char err[300];
	memset(err, 'x', sizeof(err));
	if (!admin_parse((const char *)data, size, &cmd, err, sizeof(err))) {
		FUZZ_CHECK(printable(err, sizeof(err)));
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK((unsigned)cmd.verb <= ADMIN_VERSION_COMMENT);
	FUZZ_CHECK(only(cmd.snapshot_id, sizeof(cmd.snapshot_id), "-_."));
	FUZZ_CHECK(cmd.snapshot_id[0] != '.');
	FUZZ_CHECK(only(cmd.into_database, sizeof(cmd.into_database), "_$"));
	FUZZ_CHECK(only(cmd.until_time, sizeof(cmd.until_time), "-:. @+"));
	bool takes_id = cmd.verb == ADMIN_VERIFY_SNAPSHOT || cmd.verb == ADMIN_DROP_SNAPSHOT ||
			cmd.verb == ADMIN_RESTORE_SNAPSHOT;
	FUZZ_CHECK(takes_id == (cmd.snapshot_id[0] != '\0'));
	/* INTO DATABASE is RESTORE's alone (without it: in place). */
	FUZZ_CHECK(cmd.verb == ADMIN_RESTORE_SNAPSHOT || cmd.into_database[0] == '\0');
	FUZZ_CHECK(!(cmd.until_time[0] && cmd.until_seq));
	return 0;
}
