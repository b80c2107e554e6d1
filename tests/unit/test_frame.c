/*
 * test_frame.c - physical and logical packets: headers, NEED_MORE at every
 * cut, sequence checks, the size cap checked before the body arrives, and
 * packets of 16 MiB and more split into 0xFFFFFF chunks (with the trailing
 * empty chunk when the payload is an exact multiple).
 */
#include "test_util.h"

static void test_peek_and_write_header(void **state)
{
	uint8_t h[PROTO_HEADER_LEN];
	proto_frame_write_header(h, 0x123456, 7);
	assert_memory_equal(h, "\x56\x34\x12\x07", 4);
	struct proto_frame_header fh;
	assert_int_equal(proto_frame_peek(h, 3, &fh), PROTO_NEED_MORE);
	assert_int_equal(proto_frame_peek(h, 4, &fh), PROTO_OK);
	assert_int_equal(fh.payload_len, 0x123456);
	assert_int_equal(fh.seq, 7);
}

static void test_single_packet_every_cut(void **state)
{
	const uint8_t wire[] = {0x03, 0x00, 0x00, 0x05, 'a', 'b', 'c', 0xAA};
	for (size_t cut = 0; cut < 7; cut++) {
		uint8_t *c = exact_copy(wire, cut);
		size_t wl;
		uint64_t pl;
		uint8_t next;
		assert_int_equal(proto_frame_logical(c, cut, 5, 100, &wl, &pl, &next, NULL), PROTO_NEED_MORE);
		free(c);
	}
	size_t wl;
	uint64_t pl;
	uint8_t next;
	assert_int_equal(proto_frame_logical(wire, sizeof(wire), 5, 100, &wl, &pl, &next, NULL), PROTO_OK);
	assert_int_equal(wl, 7);
	assert_int_equal(pl, 3);
	assert_int_equal(next, 6);
	uint8_t out[3];
	proto_frame_gather(wire, wl, out);
	assert_memory_equal(out, "abc", 3);
}

static void test_bad_sequence(void **state)
{
	const uint8_t wire[] = {0x01, 0x00, 0x00, 0x02, 'x'};
	size_t wl;
	uint64_t pl;
	uint8_t next;
	struct proto_error err;
	assert_int_equal(proto_frame_logical(wire, sizeof(wire), 1, 100, &wl, &pl, &next, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "packet sequence id");
	assert_int_equal(err.offset, 3);
	assert_int_equal(err.expected, 1);
	assert_int_equal(err.actual, 2);
}

/* The cap is enforced from the header alone: no body bytes are needed. */
static void test_oversized_before_body(void **state)
{
	const uint8_t wire[] = {0x00, 0x10, 0x00, 0x00};
	size_t wl;
	uint64_t pl;
	uint8_t next;
	struct proto_error err;
	assert_int_equal(proto_frame_logical(wire, sizeof(wire), 0, 0xFFF, &wl, &pl, &next, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "packet length");
	assert_int_equal(err.offset, 0);
	assert_int_equal(err.expected, 0xFFF);
	assert_int_equal(err.actual, 0x1000);
	/* At the cap exactly it is fine (and incomplete). */
	assert_int_equal(proto_frame_logical(wire, sizeof(wire), 0, 0x1000, &wl, &pl, &next, &err), PROTO_NEED_MORE);
}

/* Build the wire form of a payload with the encoder and check it against
 * the chunk layout the protocol requires. */
static uint8_t *encode(const uint8_t *payload, size_t len, uint8_t seq, size_t *wire_len, uint8_t *next)
{
	size_t cap = proto_frame_wire_size(len);
	uint8_t *wire = malloc(cap);
	assert_non_null(wire);
	assert_int_equal(proto_frame_encode(payload, len, seq, wire, cap - 1, next), 0);
	*wire_len = proto_frame_encode(payload, len, seq, wire, cap, next);
	assert_int_equal(*wire_len, cap);
	return wire;
}

static void check_split(size_t len, size_t chunks, uint8_t first_seq)
{
	uint8_t *payload = malloc(len ? len : 1);
	assert_non_null(payload);
	for (size_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	size_t wl;
	uint8_t next;
	uint8_t *wire = encode(payload, len, first_seq, &wl, &next);
	assert_int_equal(wl, len + PROTO_HEADER_LEN * chunks);
	assert_int_equal(next, (uint8_t)(first_seq + chunks));

	/* Chunk headers: full chunks, then the short (maybe empty) last one. */
	size_t off = 0;
	for (size_t c = 0; c < chunks; c++) {
		struct proto_frame_header h;
		assert_int_equal(proto_frame_peek(wire + off, wl - off, &h), PROTO_OK);
		assert_int_equal(h.seq, (uint8_t)(first_seq + c));
		size_t expect = c + 1 < chunks ? PROTO_MAX_CHUNK : len - (chunks - 1) * PROTO_MAX_CHUNK;
		assert_int_equal(h.payload_len, expect);
		off += PROTO_HEADER_LEN + h.payload_len;
	}
	assert_int_equal(off, wl);

	size_t got_wl;
	uint64_t pl;
	uint8_t got_next;
	struct proto_error err;
	assert_int_equal(proto_frame_logical(wire, wl, first_seq, len, &got_wl, &pl, &got_next, &err), PROTO_OK);
	assert_int_equal(got_wl, wl);
	assert_int_equal(pl, len);
	assert_int_equal(got_next, next);
	uint8_t *back = malloc(len ? len : 1);
	assert_non_null(back);
	proto_frame_gather(wire, wl, back);
	assert_memory_equal(back, payload, len);

	/* Incomplete without the last chunk's header; over a smaller cap. */
	assert_int_equal(proto_frame_logical(wire, wl - (len - (chunks - 1) * PROTO_MAX_CHUNK) - 1, first_seq, len,
					     &got_wl, &pl, &got_next, &err),
			 PROTO_NEED_MORE);
	if (len) {
		assert_int_equal(proto_frame_logical(wire, wl, first_seq, len - 1, &got_wl, &pl, &got_next, &err),
				 PROTO_MALFORMED);
		assert_string_equal(err.what, "packet length");
	}
	free(back);
	free(wire);
	free(payload);
}

static void test_split_packets(void **state)
{
	check_split(0, 1, 0);
	check_split(PROTO_MAX_CHUNK - 1, 1, 0);
	check_split(PROTO_MAX_CHUNK, 2, 3);                  /* trailing empty chunk */
	check_split(PROTO_MAX_CHUNK + 10, 2, 0);
	check_split(2 * (size_t)PROTO_MAX_CHUNK, 3, 255);    /* sequence wraps */
}

/* A continuation chunk with the wrong sequence id is caught at its header. */
static void test_split_bad_continuation_seq(void **state)
{
	size_t len = PROTO_MAX_CHUNK + 1;
	uint8_t *payload = calloc(1, len);
	assert_non_null(payload);
	size_t wl;
	uint8_t next;
	uint8_t *wire = encode(payload, len, 0, &wl, &next);
	wire[PROTO_HEADER_LEN + PROTO_MAX_CHUNK + 3] = 9;
	size_t got_wl;
	uint64_t pl;
	uint8_t got_next;
	struct proto_error err;
	assert_int_equal(proto_frame_logical(wire, wl, 0, 1u << 30, &got_wl, &pl, &got_next, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "packet sequence id");
	assert_int_equal(err.offset, PROTO_HEADER_LEN + PROTO_MAX_CHUNK + 3);
	assert_int_equal(err.expected, 1);
	assert_int_equal(err.actual, 9);
	free(wire);
	free(payload);
}

static void test_wire_size(void **state)
{
	assert_int_equal(proto_frame_wire_size(0), 4);
	assert_int_equal(proto_frame_wire_size(10), 14);
	assert_int_equal(proto_frame_wire_size(PROTO_MAX_CHUNK - 1), PROTO_MAX_CHUNK + 3);
	assert_int_equal(proto_frame_wire_size(PROTO_MAX_CHUNK), PROTO_MAX_CHUNK + 8);
}

/* Two packets back to back: the first is found alone. */
static void test_back_to_back(void **state)
{
	const uint8_t wire[] = {0x01, 0x00, 0x00, 0x00, 'a', 0x01, 0x00, 0x00, 0x01, 'b'};
	size_t wl;
	uint64_t pl;
	uint8_t next;
	assert_int_equal(proto_frame_logical(wire, sizeof(wire), 0, 10, &wl, &pl, &next, NULL), PROTO_OK);
	assert_int_equal(wl, 5);
	assert_int_equal(proto_frame_logical(wire + wl, sizeof(wire) - wl, next, 10, &wl, &pl, &next, NULL), PROTO_OK);
	assert_int_equal(next, 2);
}

/* The resumable scan, fed a growing buffer one byte at a time, finds the
 * same packet as the one-shot call, and each chunk header is checked once:
 * a sequence error in the third chunk is found when its header arrives. */
static void test_scan_resumes(void **state)
{
	size_t len = 2 * PROTO_MAX_CHUNK + 10;
	uint8_t *payload = calloc(1, len);
	size_t wire_cap = proto_frame_wire_size(len);
	uint8_t *wire = malloc(wire_cap);
	uint8_t next;
	assert_int_equal(proto_frame_encode(payload, len, 3, wire, wire_cap, &next), wire_cap);
	struct proto_frame_scan sc;
	proto_frame_scan_init(&sc, 3);
	size_t avail = 0;
	enum proto_status st = PROTO_NEED_MORE;
	/* Large steps through the bodies, single bytes around each header. */
	while (st == PROTO_NEED_MORE) {
		avail += (avail % PROTO_MAX_CHUNK) < 16 ? 1 : 65536;
		if (avail > wire_cap)
			avail = wire_cap;
		st = proto_frame_scan(&sc, wire, avail, UINT64_MAX, NULL);
	}
	assert_int_equal(st, PROTO_OK);
	assert_int_equal(avail, wire_cap);
	assert_int_equal(sc.off, wire_cap);
	assert_int_equal(sc.payload_len, len);
	assert_int_equal(sc.seq, next);

	wire[2 * (PROTO_HEADER_LEN + PROTO_MAX_CHUNK) + 3] = 0x77; /* the third chunk's id */
	proto_frame_scan_init(&sc, 3);
	struct proto_error err;
	assert_int_equal(proto_frame_scan(&sc, wire, 2 * (PROTO_HEADER_LEN + PROTO_MAX_CHUNK), UINT64_MAX, &err),
			 PROTO_NEED_MORE);
	assert_int_equal(proto_frame_scan(&sc, wire, wire_cap, UINT64_MAX, &err), PROTO_MALFORMED);
	assert_int_equal(err.kind, PROTO_ERR_SEQUENCE);
	assert_int_equal(err.offset, 2 * (PROTO_HEADER_LEN + PROTO_MAX_CHUNK) + 3);
	assert_int_equal(err.expected, 5);
	assert_int_equal(err.actual, 0x77);

	/* Over the cap as soon as the second header shows. */
	proto_frame_scan_init(&sc, 3);
	assert_int_equal(proto_frame_scan(&sc, wire, PROTO_HEADER_LEN + PROTO_MAX_CHUNK + PROTO_HEADER_LEN,
					  PROTO_MAX_CHUNK + 5, &err),
			 PROTO_MALFORMED);
	assert_int_equal(err.kind, PROTO_ERR_TOO_LARGE);
	assert_int_equal(err.expected, PROTO_MAX_CHUNK + 5);
	assert_int_equal(err.actual, 2 * (uint64_t)PROTO_MAX_CHUNK);
	free(wire);
	free(payload);
}

/* Renumbering rewrites each chunk's id in place and nothing else. */
static void test_rewrite_seq(void **state)
{
	size_t len = PROTO_MAX_CHUNK + 1;
	uint8_t *payload = malloc(len);
	memset(payload, 0xAB, len);
	size_t wire_cap = proto_frame_wire_size(len);
	uint8_t *wire = malloc(wire_cap), *want = malloc(wire_cap);
	uint8_t next;
	assert_int_equal(proto_frame_encode(payload, len, 0, wire, wire_cap, &next), wire_cap);
	assert_int_equal(proto_frame_encode(payload, len, 9, want, wire_cap, &next), wire_cap);
	proto_frame_rewrite_seq(wire, wire_cap, 9);
	assert_memory_equal(wire, want, wire_cap);
	/* A span that ends inside a body stops there. */
	proto_frame_rewrite_seq(wire, 10, 1);
	assert_int_equal(wire[3], 1);
	free(wire);
	free(want);
	free(payload);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peek_and_write_header), cmocka_unit_test(test_single_packet_every_cut),
		cmocka_unit_test(test_bad_sequence),	      cmocka_unit_test(test_oversized_before_body),
		cmocka_unit_test(test_split_packets),	      cmocka_unit_test(test_split_bad_continuation_seq),
		cmocka_unit_test(test_wire_size),	      cmocka_unit_test(test_back_to_back),
		cmocka_unit_test(test_scan_resumes),	      cmocka_unit_test(test_rewrite_seq),
	};
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
