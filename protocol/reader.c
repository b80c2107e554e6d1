/*
 * reader.c - the bounded reader every parser goes through.
 *
 * Each typed read checks the remaining length before touching a byte. On a
 * short read the reader records the field name (`what`), the offset where
 * the field started, the bytes the field needed (`expected`) and the bytes
 * that were left (`actual`), then stays failed: every later read returns a
 * zero value without reading. A parser can therefore read a whole structure
 * as a flat schema and check the outcome once.
 *
 * Length-encoded integers (lenenc):
 *
 *   first byte   meaning
 *   0x00..0xFA   the value itself
 *   0xFB         NULL (only meaningful in text rows)
 *   0xFC         u16 follows
 *   0xFD         u24 follows
 *   0xFE         u64 follows
 *   0xFF         invalid (it is the ERR marker, never a length)
 */
#include <string.h>

#include "proto_internal.h"

void proto_reader_init(struct proto_reader *r, const uint8_t *data, size_t len)
{
	*r = (struct proto_reader){.data = data, .len = len};
}

size_t proto_reader_remaining(const struct proto_reader *r)
{
	return r->failed ? 0 : r->len - r->pos;
}

void proto_reader_fail(struct proto_reader *r, const char *what, uint64_t expected, uint64_t actual)
{
	if (r->failed)
		return;
	r->failed = true;
	r->err = (struct proto_error){.what = what, .offset = r->pos, .expected = expected, .actual = actual};
}

void proto_reader_expect_end(struct proto_reader *r, const char *what)
{
	size_t left = proto_reader_remaining(r);
	if (left)
		proto_reader_fail(r, what, 0, left);
}

/* True when n more bytes can be read; otherwise fails the reader. */
static bool need(struct proto_reader *r, size_t n, const char *what)
{
	if (r->failed)
		return false;
	if (r->len - r->pos < n) {
		proto_reader_fail(r, what, n, r->len - r->pos);
		return false;
	}
	return true;
}

/* Little-endian integer of n bytes (n <= 8), after need() succeeded. */
static uint64_t take_le(struct proto_reader *r, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)r->data[r->pos + i] << (8 * i);
	r->pos += n;
	return v;
}

uint8_t proto_read_u8(struct proto_reader *r, const char *what)
{
	return need(r, 1, what) ? (uint8_t)take_le(r, 1) : 0;
}

uint16_t proto_read_u16(struct proto_reader *r, const char *what)
{
	return need(r, 2, what) ? (uint16_t)take_le(r, 2) : 0;
}

uint32_t proto_read_u24(struct proto_reader *r, const char *what)
{
	return need(r, 3, what) ? (uint32_t)take_le(r, 3) : 0;
}

uint32_t proto_read_u32(struct proto_reader *r, const char *what)
{
	return need(r, 4, what) ? (uint32_t)take_le(r, 4) : 0;
}

uint64_t proto_read_u64(struct proto_reader *r, const char *what)
{
	return need(r, 8, what) ? take_le(r, 8) : 0;
}

/*
 * 0xFB is NULL: *is_null is set when the caller can take a NULL. Where the
 * caller passes is_null == NULL the field is a plain integer (a count, a
 * length) and a NULL there is malformed, reported with expected 0 (no NULL)
 * and actual 0xFB. 0xFF is always malformed (actual 0xFF). Non-minimal
 * encodings (0xFC 0x05 0x00) are accepted, as servers accept them; the
 * writer always emits the minimal form.
 */
uint64_t proto_read_lenenc(struct proto_reader *r, bool *is_null, const char *what)
{
	if (is_null)
		*is_null = false;
	if (!need(r, 1, what))
		return 0;
	uint8_t first = r->data[r->pos];
	size_t extra;
	switch (first) {
	case 0xFB:
		if (!is_null) {
			proto_reader_fail(r, what, 0, first);
			return 0;
		}
		r->pos++;
		*is_null = true;
		return 0;
	case 0xFC:
		extra = 2;
		break;
	case 0xFD:
		extra = 3;
		break;
	case 0xFE:
		extra = 8;
		break;
	case 0xFF:
		proto_reader_fail(r, what, 0, first);
		return 0;
	default:
		r->pos++;
		return first;
	}
	if (!need(r, 1 + extra, what))
		return 0;
	r->pos++;
	return take_le(r, extra);
}

struct proto_slice proto_read_bytes(struct proto_reader *r, size_t n, const char *what)
{
	if (!need(r, n, what))
		return (struct proto_slice){0};
	struct proto_slice s = {r->data + r->pos, n};
	r->pos += n;
	return s;
}

/* A missing terminator is reported as expected 1 NUL, actual 0. */
struct proto_slice proto_read_nulstr(struct proto_reader *r, const char *what)
{
	if (r->failed)
		return (struct proto_slice){0};
	const uint8_t *start = r->data + r->pos;
	const uint8_t *nul = memchr(start, 0, r->len - r->pos);
	if (!nul) {
		proto_reader_fail(r, what, 1, 0);
		return (struct proto_slice){0};
	}
	struct proto_slice s = {start, (size_t)(nul - start)};
	r->pos += s.len + 1;
	return s;
}

/* The length is checked against what is left before any byte is taken, so
 * a forged 8-byte length cannot point past the packet. */
struct proto_slice proto_read_lenenc_str(struct proto_reader *r, const char *what)
{
	size_t start = r->pos;
	uint64_t n = proto_read_lenenc(r, NULL, what);
	if (r->failed)
		return (struct proto_slice){0};
	if (n > r->len - r->pos) {
		uint64_t left = r->len - r->pos;
		r->pos = start;
		proto_reader_fail(r, what, n, left);
		return (struct proto_slice){0};
	}
	return proto_read_bytes(r, (size_t)n, what);
}

struct proto_slice proto_read_rest(struct proto_reader *r)
{
	if (r->failed)
		return (struct proto_slice){0};
	struct proto_slice s = {r->data + r->pos, r->len - r->pos};
	r->pos = r->len;
	return s;
}

void proto_skip(struct proto_reader *r, size_t n, const char *what)
{
	if (need(r, n, what))
		r->pos += n;
}

enum proto_status proto_reader_status(const struct proto_reader *r, struct proto_error *err)
{
	if (!r->failed)
		return PROTO_OK;
	if (err)
		*err = r->err;
	return PROTO_MALFORMED;
}
