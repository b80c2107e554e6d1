/*
 * fuzz_stmt_params.c - a prepared statement's execution as text. Input:
 * u16 nparams, u8 text length, the prepared text, then a COM_STMT_EXECUTE
 * payload (after its command byte). Oracles: the output is NUL-terminated
 * and within its buffer, a refusal names its reason, and a statement with
 * as many placeholders as parameters never fails for want of room when
 * the buffer is sized as the recorder sizes it.
 */
#include "fuzz_util.h"
#include "stmt_params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint16_t nparams = (uint16_t)((data[0] | data[1] << 8) % 64);
	size_t tlen = data[2];
	if (size < 3 + tlen)
		return 0;
	const char *text = (const char *)data + 3;
	const uint8_t *payload = data + 3 + tlen;
	size_t plen = size - 3 - tlen;
	(void)proto_sql_count_placeholders(text, tlen);
	struct proto_stmt_execute ex;
	struct proto_error err = {0};
	if (proto_parse_stmt_execute(payload, plen, &ex, &err) != PROTO_OK) {
		fuzz_check_error(&err, plen);
		return 0;
	}
	uint8_t types[128] = {0};
	bool known = false;
	size_t cap = tlen + 8 * ex.params_len + 32u * nparams + 64;
	char *out = malloc(cap);
	FUZZ_CHECK(out);
	size_t n = 0;
	if (proto_stmt_execute_to_sql(text, tlen, &ex, nparams, types, &known, NULL, data[0] & 1, out, cap, &n,
				      &err) == PROTO_OK) {
		FUZZ_CHECK(n < cap && out[n] == '\0');
		FUZZ_CHECK(proto_sql_count_placeholders(text, tlen) == nparams);
	} else {
		FUZZ_CHECK(err.what != NULL && err.kind != PROTO_ERR_TOO_LARGE);
	}
	free(out);
	return 0;
}
