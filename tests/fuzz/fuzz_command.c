/*
 * fuzz_command.c - client commands. Input: u32 capabilities, then the
 * command payload. Oracles: a reason for every refusal, a name for every
 * code, and writing back what was parsed reaches a fixed point (exactly the
 * input unless a lenenc field was non-minimal).
 */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t caps = fuzz_u32(data);
	size_t len = size - 4;
	uint8_t *p = malloc(len ? len : 1);
	size_t cap = fuzz_out_cap(len);
	uint8_t *out = malloc(cap), *out2 = malloc(cap);
	FUZZ_CHECK(p && out && out2);
	memcpy(p, data + 4, len);

	struct proto_command cmd;
	struct proto_error err = {0};
	if (proto_parse_command(p, len, caps, &cmd, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		goto done;
	}
	FUZZ_CHECK(proto_command_name(cmd.code) != NULL);
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_command(&w, caps, &cmd));
	size_t n1 = w.len;
	FUZZ_CHECK(n1 <= len);
	if (cmd.code != COM_CHANGE_USER)
		FUZZ_CHECK(n1 == len && memcmp(out, p, len) == 0);
	struct proto_command again;
	FUZZ_CHECK(proto_parse_command(out, n1, caps, &again, &err) == PROTO_OK);
	proto_writer_init(&w, out2, cap);
	FUZZ_CHECK(proto_write_command(&w, caps, &again));
	FUZZ_CHECK(w.len == n1 && memcmp(out, out2, n1) == 0);
done:
	free(out2);
	free(out);
	free(p);
	return 0;
}
