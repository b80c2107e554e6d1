/*
 * fuzz_tracker.c - the response tracker over a chopped-up byte stream.
 *
 * Input: u8 command code, u32 capabilities (without CLIENT_LOCAL_FILES the
 * tracker is told to refuse LOCAL INFILE, as the proxy's local_infile = off
 * does), u32 MariaDB extended capabilities, then packets as (u24 payload length, up to that many bytes;
 * fewer when the input ends, so the tracker also sees packets of which it
 * holds only a prefix, as with the proxy's 64 KiB peek). The command is begun
 * again after each DONE or MALFORMED, so one input covers several responses.
 * Oracles: the events and states stay consistent with each other, and every
 * refusal carries a reason.
 */
#include "fuzz_util.h"

#define PEEK (64u << 10)

static void check_state(const struct proto_tracker *t)
{
	FUZZ_CHECK(t->state >= TRK_IDLE && t->state <= TRK_SINGLE);
	FUZZ_CHECK(strcmp(proto_tracker_state_name(t->state), "unknown") != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 9)
		return 0;
	uint8_t code = data[0];
	uint32_t caps = fuzz_u32(data + 1);
	struct proto_tracker t;
	memset(&t, 0, sizeof(t));
	t.mariadb_ext_caps = fuzz_u32(data + 5);
	t.refuse_local_infile = !(caps & CLIENT_LOCAL_FILES);
	bool expect = proto_tracker_begin(&t, code, caps);
	FUZZ_CHECK(expect == (t.state != TRK_IDLE));

	size_t off = 9;
	while (size - off >= 3) {
		uint64_t plen = (uint64_t)data[off] | (uint64_t)data[off + 1] << 8 | (uint64_t)data[off + 2] << 16;
		off += 3;
		size_t avail = size - off < plen ? size - off : (size_t)plen;
		if (avail > PEEK)
			avail = PEEK;
		uint8_t *p = malloc(avail ? avail : 1);
		FUZZ_CHECK(p);
		memcpy(p, data + off, avail);
		off += avail;

		enum proto_tracker_state before = t.state;
		struct proto_error err = {0};
		enum proto_tracker_event ev = proto_tracker_feed(&t, p, avail, plen, &err);
		free(p);
		check_state(&t);
		switch (ev) {
		case TRK_EV_MALFORMED:
			fuzz_check_error(&err, avail);
			FUZZ_CHECK(before != TRK_IDLE || t.state == TRK_IDLE);
			expect = proto_tracker_begin(&t, code, caps);
			break;
		case TRK_EV_CONTINUE:
			FUZZ_CHECK(t.state != TRK_IDLE && t.state != TRK_LOCAL_INFILE);
			break;
		case TRK_EV_RESULT_END:
			FUZZ_CHECK(t.state == TRK_FIRST);
			FUZZ_CHECK(t.last.kind == END_OK || t.last.kind == END_EOF);
			FUZZ_CHECK(t.last.status_flags & SERVER_MORE_RESULTS_EXISTS);
			break;
		case TRK_EV_DONE:
			FUZZ_CHECK(t.state == TRK_IDLE);
			FUZZ_CHECK(before != TRK_IDLE);
			expect = proto_tracker_begin(&t, code, caps);
			break;
		case TRK_EV_CLIENT_TURN:
			FUZZ_CHECK(t.state == TRK_LOCAL_INFILE && !t.refuse_local_infile);
			proto_tracker_client_done(&t);
			FUZZ_CHECK(t.state == TRK_FIRST);
			break;
		case TRK_EV_INFILE_REFUSED:
			FUZZ_CHECK(t.state == TRK_LOCAL_INFILE && t.refuse_local_infile);
			proto_tracker_client_done(&t);
			FUZZ_CHECK(t.state == TRK_FIRST);
			break;
		}
		FUZZ_CHECK(expect || t.state == TRK_IDLE);
	}
	return 0;
}
