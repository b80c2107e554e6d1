/*
 * fuzz_frame.c - framing over an arbitrary byte stream. Oracles: every
 * logical packet found re-encodes to exactly the bytes it spanned (the
 * chunking rule leaves one way to frame a payload), a wrong expected
 * sequence id and a cap one byte short are both refused; the resumable
 * scan the daemon frames commands with, fed the same bytes in pieces cut
 * where the input says, gives the one-shot answer.
 */
#include "fuzz_util.h"

/* Feed [0, size) in growing prefixes; the cut points come from the data. */
static enum proto_status scan_in_pieces(const uint8_t *data, size_t size, uint8_t seq, struct proto_frame_scan *sc)
{
	proto_frame_scan_init(sc, seq);
	size_t avail = 0;
	for (;;) {
		size_t step = avail < size ? 1 + data[avail] % 7 : 1;
		avail = avail + step > size ? size : avail + step;
		enum proto_status st = proto_frame_scan(sc, data, avail, UINT64_MAX, NULL);
		if (st != PROTO_NEED_MORE || avail == size)
			return st;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off < size) {
		struct proto_frame_header h;
		if (proto_frame_peek(data + off, size - off, &h) != PROTO_OK)
			break;
		size_t wire;
		uint64_t plen;
		uint8_t next;
		struct proto_error err = {0};
		enum proto_status st =
			proto_frame_logical(data + off, size - off, h.seq, UINT64_MAX, &wire, &plen, &next, &err);
		struct proto_frame_scan sc;
		FUZZ_CHECK(scan_in_pieces(data + off, size - off, h.seq, &sc) == st);
		if (st == PROTO_OK)
			FUZZ_CHECK(sc.off == wire && sc.payload_len == plen && sc.seq == next);
		if (st == PROTO_NEED_MORE)
			break;
		if (st == PROTO_MALFORMED) {
			fuzz_check_error(&err, size - off);
			break;
		}
		FUZZ_CHECK(wire <= size - off && plen <= wire && wire == proto_frame_wire_size((size_t)plen));

		uint8_t *payload = malloc(plen ? (size_t)plen : 1);
		uint8_t *again = malloc(wire);
		FUZZ_CHECK(payload && again);
		proto_frame_gather(data + off, wire, payload);
		uint8_t next2;
		FUZZ_CHECK(proto_frame_encode(payload, (size_t)plen, h.seq, again, wire, &next2) == wire);
		FUZZ_CHECK(next2 == next);
		FUZZ_CHECK(memcmp(again, data + off, wire) == 0);
		free(again);
		free(payload);

		FUZZ_CHECK(proto_frame_logical(data + off, size - off, (uint8_t)(h.seq + 1), UINT64_MAX, &wire, &plen,
					       &next, &err) == PROTO_MALFORMED);
		FUZZ_CHECK(strcmp(err.what, "packet sequence id") == 0);
		size_t wire2;
		uint64_t plen2;
		if (plen > 0) {
			FUZZ_CHECK(proto_frame_logical(data + off, size - off, h.seq, plen - 1, &wire2, &plen2, &next,
						       &err) == PROTO_MALFORMED);
			FUZZ_CHECK(strcmp(err.what, "packet length") == 0);
		}
		off += wire;
	}
	return 0;
}
