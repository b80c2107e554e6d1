/*
 * test_reader_writer.c - the bounded reader and writer: every typed read,
 * every length-encoded form, and the failure rules (first error wins, later
 * reads fail, nothing is read or written out of bounds).
 */
#include "test_util.h"

static void test_fixed_ints(void **state)
{
	const uint8_t b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
			     0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12};
	struct proto_reader r;
	proto_reader_init(&r, b, sizeof(b));
	assert_int_equal(proto_read_u8(&r, "a"), 0x01);
	assert_int_equal(proto_read_u16(&r, "b"), 0x0302);
	assert_int_equal(proto_read_u24(&r, "c"), 0x060504);
	assert_int_equal(proto_read_u32(&r, "d"), 0x0a090807);
	assert_true(proto_read_u64(&r, "e") == 0x1211100f0e0d0c0bull);
	assert_int_equal(proto_reader_remaining(&r), 0);
	struct proto_error err;
	assert_int_equal(proto_reader_status(&r, &err), PROTO_OK);
}

/* A short read names the field, its offset, what it needed and what was
 * left; the reader then stays failed and later reads return zero. */
static void test_short_read_is_sticky(void **state)
{
	const uint8_t b[] = {0xAA, 0xBB, 0xCC};
	struct proto_reader r;
	proto_reader_init(&r, b, sizeof(b));
	assert_int_equal(proto_read_u8(&r, "first"), 0xAA);
	assert_int_equal(proto_read_u32(&r, "too long"), 0);
	assert_int_equal(proto_read_u8(&r, "after"), 0);
	assert_int_equal(proto_reader_remaining(&r), 0);
	struct proto_error err;
	assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "too long");
	assert_int_equal(err.offset, 1);
	assert_int_equal(err.expected, 4);
	assert_int_equal(err.actual, 2);
	assert_int_equal(proto_reader_status(&r, NULL), PROTO_MALFORMED);
}

static void test_lenenc_forms(void **state)
{
	const struct {
		const char *hex;
		uint64_t value;
	} cases[] = {
		{"00", 0},
		{"fa", 250},
		{"fc fb 00", 251},
		{"fc ff ff", 0xFFFF},
		{"fd 00 00 01", 0x10000},
		{"fd ff ff ff", 0xFFFFFF},
		{"fe 00 00 00 01 00 00 00 00", 0x1000000},
		{"fe ff ff ff ff ff ff ff ff", UINT64_MAX},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t b[16];
		size_t n = hex_decode(cases[i].hex, b, sizeof(b));
		uint8_t *c = exact_copy(b, n);
		struct proto_reader r;
		proto_reader_init(&r, c, n);
		bool is_null = true;
		assert_true(proto_read_lenenc(&r, &is_null, "v") == cases[i].value);
		assert_false(is_null);
		assert_int_equal(proto_reader_remaining(&r), 0);
		assert_int_equal(proto_reader_status(&r, NULL), PROTO_OK);
		assert_int_equal(proto_lenenc_size(cases[i].value), n);

		/* The writer produces exactly the same (minimal) bytes. */
		uint8_t out[16];
		struct proto_writer w;
		proto_writer_init(&w, out, sizeof(out));
		proto_write_lenenc(&w, cases[i].value);
		assert_false(w.overflow);
		assert_int_equal(w.len, n);
		assert_memory_equal(out, b, n);

		/* Every truncation fails on the field: first for want of the
		 * length byte, then for want of the whole encoding. */
		for (size_t cut = 0; cut < n; cut++) {
			proto_reader_init(&r, c, cut);
			(void)proto_read_lenenc(&r, NULL, "cut");
			struct proto_error err;
			assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
			assert_string_equal(err.what, "cut");
			assert_int_equal(err.offset, 0);
			assert_int_equal(err.expected, cut == 0 ? 1 : n);
			assert_int_equal(err.actual, cut);
		}
		free(c);
	}
}

static void test_lenenc_null_and_ff(void **state)
{
	const uint8_t fb[] = {0xFB};
	struct proto_reader r;
	bool is_null = false;
	proto_reader_init(&r, fb, 1);
	assert_int_equal(proto_read_lenenc(&r, &is_null, "nullable"), 0);
	assert_true(is_null);
	assert_int_equal(proto_reader_status(&r, NULL), PROTO_OK);

	/* Where the caller cannot take a NULL, 0xFB is malformed. */
	struct proto_error err;
	proto_reader_init(&r, fb, 1);
	(void)proto_read_lenenc(&r, NULL, "count");
	assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "count");
	assert_int_equal(err.actual, 0xFB);

	const uint8_t ff[] = {0xFF, 0x00, 0x00};
	proto_reader_init(&r, ff, sizeof(ff));
	(void)proto_read_lenenc(&r, &is_null, "bad lenenc");
	assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "bad lenenc");
	assert_int_equal(err.offset, 0);
	assert_int_equal(err.actual, 0xFF);
}

static void test_strings(void **state)
{
	const uint8_t b[] = {'a', 'b', 0, 3, 'x', 'y', 'z', 'r', 'e', 's', 't'};
	struct proto_reader r;
	proto_reader_init(&r, b, sizeof(b));
	struct proto_slice s = proto_read_nulstr(&r, "nul");
	assert_int_equal(s.len, 2);
	assert_memory_equal(s.ptr, "ab", 2);
	s = proto_read_lenenc_str(&r, "lenenc");
	assert_int_equal(s.len, 3);
	assert_memory_equal(s.ptr, "xyz", 3);
	s = proto_read_bytes(&r, 1, "one");
	assert_memory_equal(s.ptr, "r", 1);
	proto_skip(&r, 1, "skip");
	s = proto_read_rest(&r);
	assert_int_equal(s.len, 2);
	assert_memory_equal(s.ptr, "st", 2);
	assert_int_equal(proto_reader_status(&r, NULL), PROTO_OK);
	s = proto_read_rest(&r);
	assert_int_equal(s.len, 0);
}

static void test_missing_nul(void **state)
{
	uint8_t *b = exact_copy((const uint8_t *)"abc", 3);
	struct proto_reader r;
	proto_reader_init(&r, b, 3);
	(void)proto_read_nulstr(&r, "name");
	struct proto_error err;
	assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "name");
	assert_int_equal(err.offset, 0);
	assert_int_equal(err.expected, 1);
	assert_int_equal(err.actual, 0);
	free(b);
}

/* A lenenc string longer than the packet fails before any byte is taken,
 * even with an 8-byte length that would overflow pointer arithmetic. */
static void test_lenenc_str_overlong(void **state)
{
	const uint8_t b[] = {0x05, 'a', 'b'};
	struct proto_reader r;
	proto_reader_init(&r, b, sizeof(b));
	(void)proto_read_lenenc_str(&r, "s");
	struct proto_error err;
	assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "s");
	assert_int_equal(err.offset, 0);
	assert_int_equal(err.expected, 5);
	assert_int_equal(err.actual, 2);

	const uint8_t huge[] = {0xFE, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'x'};
	proto_reader_init(&r, huge, sizeof(huge));
	(void)proto_read_lenenc_str(&r, "huge");
	assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
	assert_true(err.expected == UINT64_MAX);
	assert_int_equal(err.actual, 1);

	proto_reader_init(&r, huge, sizeof(huge));
	(void)proto_read_bytes(&r, SIZE_MAX, "bytes");
	assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
	proto_reader_init(&r, huge, sizeof(huge));
	proto_skip(&r, 11, "skip");
	assert_int_equal(proto_reader_status(&r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "skip");
}

static void test_writer_round_trip(void **state)
{
	uint8_t buf[64];
	struct proto_writer w;
	proto_writer_init(&w, buf, sizeof(buf));
	proto_write_u8(&w, 0x11);
	proto_write_u16(&w, 0x2233);
	proto_write_u24(&w, 0x445566);
	proto_write_u32(&w, 0x778899aa);
	proto_write_u64(&w, 0x0102030405060708ull);
	proto_write_nulstr(&w, "hi", 2);
	proto_write_lenenc_str(&w, "abc", 3);
	proto_write_bytes(&w, "zz", 2);
	assert_false(w.overflow);

	struct proto_reader r;
	proto_reader_init(&r, buf, w.len);
	assert_int_equal(proto_read_u8(&r, "a"), 0x11);
	assert_int_equal(proto_read_u16(&r, "b"), 0x2233);
	assert_int_equal(proto_read_u24(&r, "c"), 0x445566);
	assert_int_equal(proto_read_u32(&r, "d"), 0x778899aa);
	assert_true(proto_read_u64(&r, "e") == 0x0102030405060708ull);
	assert_int_equal(proto_read_nulstr(&r, "f").len, 2);
	assert_int_equal(proto_read_lenenc_str(&r, "g").len, 3);
	assert_int_equal(proto_read_rest(&r).len, 2);
	assert_int_equal(proto_reader_status(&r, NULL), PROTO_OK);
}

/* Overflow writes nothing of the field that did not fit and sticks. */
static void test_writer_overflow(void **state)
{
	uint8_t buf[8];
	memset(buf, 0xEE, sizeof(buf));
	struct proto_writer w;
	proto_writer_init(&w, buf, 5);
	proto_write_u32(&w, 0x01020304);
	proto_write_u16(&w, 0xFFFF);
	assert_true(w.overflow);
	assert_int_equal(w.len, 4);
	assert_int_equal(buf[4], 0xEE);
	proto_write_u8(&w, 0x55);
	assert_int_equal(w.len, 4);
	assert_int_equal(buf[4], 0xEE);

	proto_writer_init(&w, buf, 3);
	proto_write_lenenc_str(&w, "abc", 3);
	assert_true(w.overflow);
	assert_int_equal(w.len, 0);
	proto_writer_init(&w, buf, 3);
	proto_write_nulstr(&w, "abc", 3);
	assert_true(w.overflow);
	assert_int_equal(w.len, 0);
	proto_writer_init(&w, buf, 8);
	proto_write_lenenc(&w, UINT64_MAX);
	assert_true(w.overflow);
	assert_int_equal(w.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixed_ints),	    cmocka_unit_test(test_short_read_is_sticky),
		cmocka_unit_test(test_lenenc_forms),	    cmocka_unit_test(test_lenenc_null_and_ff),
		cmocka_unit_test(test_strings),		    cmocka_unit_test(test_missing_nul),
		cmocka_unit_test(test_lenenc_str_overlong), cmocka_unit_test(test_writer_round_trip),
		cmocka_unit_test(test_writer_overflow),
	};
	return cmocka_run_group_tests_name("reader_writer", tests, NULL, NULL);
}
