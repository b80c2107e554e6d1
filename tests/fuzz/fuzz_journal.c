/*
 * fuzz_journal.c - journal_scan_segment over arbitrary bytes as a segment
 * file, as the last segment and as one in the middle.
 *
 * The first input byte chooses repairs, so the fuzzer gets past the CRCs
 * it could never guess: bit 0 makes the segment header valid (magic,
 * version, size = input length, CRC), bit 1 then walks the records and
 * gives each plausible one its right CRC, bit 3 also its right seq and
 * prev, bit 4 makes every step of the walk a record (magic set, length
 * cut to fit); bit 2 asks for the header's first seq as expect_seq. The
 * rest is the segment; whatever a repair leaves alone stays random.
 *
 * Invariants: the records delivered lie inside the buffer, in order, with
 * consecutive sequence numbers; next_seq follows the last; a torn tail is
 * only ever reported for the last segment and starts where the good
 * records end; both readings deliver the same records and agree on
 * corruption unless the last one calls it torn; and cutting a torn tail
 * (zeroing it, as journal_open does) leaves a segment that ends cleanly
 * with the same records.
 */
#include "fuzz_util.h"

#include "journal.h"

#define SEG_HDR 48
#define REC_HDR 40
#define NAME "00000000000000000001.agj"

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)fuzz_u32(p) | (uint64_t)fuzz_u32(p + 4) << 32;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static void repair(uint8_t *b, size_t len, uint8_t how)
{
	if (!(how & 1) || len < SEG_HDR)
		return;
	memcpy(b, "AGJSEG01", 8);
	put32(b + 8, 1);
	put64(b + 32, len);
	if (get64(b + 16) == 0)
		b[16] = 1;
	put32(b + 40, journal_crc32c(0, b, 40));
	if (!(how & 2))
		return;
	uint64_t seq = get64(b + 16), prev = 0;
	for (size_t off = SEG_HDR; len - off >= REC_HDR; seq++) {
		uint8_t *h = b + off;
		uint32_t n = fuzz_u32(h + 8);
		if (how & 16) { /* a record wherever the walk goes, its length cut to fit */
			put32(h, 0x524a4741u);
			n %= (uint32_t)(len - off - REC_HDR + 1);
			put32(h + 8, n);
		}
		if (fuzz_u32(h) != 0x524a4741u || n > len - off - REC_HDR)
			return;
		if (how & 8) { /* the chain right too: only type, time, payload stay random */
			put64(h + 16, seq);
			put64(h + 24, prev);
		}
		uint32_t c = journal_crc32c(journal_crc32c(0, h + REC_HDR, n), h, 12);
		put32(h + 12, journal_crc32c(c, h + 16, REC_HDR - 16));
		prev = off;
		off = (off + REC_HDR + n + 7) & ~(size_t)7;
		if (off >= len)
			return;
	}
}

struct seen {
	const uint8_t *buf;
	size_t len;
	uint64_t n, first, last, end;
};

static bool each(void *arg, const struct journal_record *r)
{
	struct seen *s = arg;
	FUZZ_CHECK(r->offset >= SEG_HDR && r->offset % 8 == 0);
	FUZZ_CHECK(r->offset >= s->end);
	FUZZ_CHECK(r->len <= JOURNAL_RECORD_MAX);
	FUZZ_CHECK(r->offset + REC_HDR + r->len <= s->len);
	FUZZ_CHECK(r->payload == s->buf + r->offset + REC_HDR);
	FUZZ_CHECK(strcmp(r->segment, NAME) == 0);
	if (s->n)
		FUZZ_CHECK(r->seq == s->last + 1);
	else
		s->first = r->seq;
	s->last = r->seq;
	s->n++;
	s->end = r->offset + ((REC_HDR + r->len + 7) & ~(uint64_t)7);
	return true;
}

struct scan {
	enum journal_read res;
	struct seen seen;
	uint64_t next, torn, torn_off;
	char why[512];
};

static void scan(const uint8_t *b, size_t len, bool is_last, uint64_t expect, struct scan *out)
{
	memset(out, 0, sizeof(*out));
	out->seen = (struct seen){b, len, 0, 0, 0, SEG_HDR};
	out->res = journal_scan_segment(b, len, NAME, is_last, expect, each, &out->seen, &out->next, &out->torn,
					&out->torn_off, out->why, sizeof(out->why));
	FUZZ_CHECK(out->res == JOURNAL_READ_END || out->res == JOURNAL_READ_CORRUPT);
	if (out->res == JOURNAL_READ_CORRUPT) {
		FUZZ_CHECK(strncmp(out->why, NAME ": offset ", strlen(NAME ": offset ")) == 0);
		FUZZ_CHECK(strstr(out->why, ", seq ") != NULL);
		FUZZ_CHECK(out->torn == 0);
	}
	if (out->seen.n) {
		FUZZ_CHECK(out->next == out->seen.last + 1);
		if (expect)
			FUZZ_CHECK(out->seen.first == expect);
	}
	if (!is_last)
		FUZZ_CHECK(out->torn == 0);
	if (out->torn) {
		FUZZ_CHECK(out->res == JOURNAL_READ_END);
		FUZZ_CHECK(out->torn_off == out->seen.end);
		FUZZ_CHECK(out->torn_off + out->torn <= len);
		FUZZ_CHECK(b[out->torn_off + out->torn - 1] != 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t how = data[0];
	size_t len = size - 1;
	/* An exact-size heap copy, so AddressSanitizer sees any read past the end. */
	uint8_t *b = malloc(len ? len : 1);
	FUZZ_CHECK(b != NULL);
	memcpy(b, data + 1, len);
	repair(b, len, how);
	uint64_t expect = (how & 4) && len >= SEG_HDR ? get64(b + 16) : 0;

	struct scan mid, last;
	scan(b, len, false, expect, &mid);
	scan(b, len, true, expect, &last);
	FUZZ_CHECK(mid.seen.n == last.seen.n && mid.next == last.next);
	if (mid.res == JOURNAL_READ_END)
		FUZZ_CHECK(last.res == JOURNAL_READ_END && last.torn == 0);
	else if (last.res == JOURNAL_READ_CORRUPT)
		FUZZ_CHECK(strcmp(mid.why, last.why) == 0);
	else
		FUZZ_CHECK(last.torn > 0);

	if (last.torn) {
		memset(b + last.torn_off, 0, last.torn);
		struct scan cut;
		scan(b, len, true, expect, &cut);
		FUZZ_CHECK(cut.res == JOURNAL_READ_END && cut.torn == 0);
		FUZZ_CHECK(cut.seen.n == last.seen.n && cut.next == last.next);
	}
	free(b);
	return 0;
}
