/*
 * journal.c - the journal's on-disk format: CRC-32C, the segment scan that
 * decides what is a record, a torn tail or corruption, and the reader the
 * daemon's recovery, `journal verify|cat` and `replay` share. The writer
 * (journal_writer.c) produces exactly what this file accepts.
 *
 * Files. A journal is a directory of segment files, each named by the
 * sequence number of its first record in 20 decimal digits:
 *
 *     00000000000000000001.agj  00000000000000004711.agj  ...
 *
 * A segment is created whole (preallocated to its size under a temporary
 * name, header written, fsynced, renamed, directory fsynced), so a file
 * with a segment's name always has a complete header and its full size.
 *
 * Segment (all integers little-endian):
 *
 *     0      8      12     16           24             32             40     44     48
 *     +------+------+------+------------+--------------+--------------+------+------+---------
 *     |magic |vers. |  0   | first seq  | created usec | segment size | crc  |  0   | records
 *     |AGJSEG01 u32 | u32  |    u64     |     u64      |     u64      | u32  | u32  | ...
 *     +------+------+------+------------+--------------+--------------+------+------+---------
 *     crc = CRC-32C of bytes 0..39; segment size = the file's length.
 *
 * Record (starts on an 8-byte boundary, first one at offset 48):
 *
 *     0       4    5     6       8        12     16       24       32          40
 *     +-------+----+-----+-------+--------+------+--------+--------+-----------+-----------+-----+
 *     | magic |type|flags| rsvd  | length | crc  |  seq   |  prev  | time usec | payload   | pad |
 *     | "AGJR"| u8 | u8  | u16 0 |  u32   | u32  |  u64   |  u64   |   u64     | length B  | 0-7 |
 *     +-------+----+-----+-------+--------+------+--------+--------+-----------+-----------+-----+
 *
 *     crc   = CRC-32C over the payload, then header bytes 0..11, then 16..39:
 *             every byte of the record except the crc field and the padding.
 *             Payload first so journal_append computes the costly part on
 *             the caller's thread; type and length are covered too, so a
 *             flipped type byte cannot change a record's meaning unseen.
 *     seq   = the previous record's seq + 1, across segments; a segment's
 *             first record carries the header's first seq.
 *     prev  = offset of the previous record in this segment, 0 for the
 *             first (no record sits at 0, so 0 is unambiguous).
 *     flags = written 0; readers ignore them (room for later use).
 *
 * End of data: a record header whose magic and length are both zero, with
 * nothing but zero bytes from there to the end of the file (the segment
 * was preallocated, so its unused part reads as zeros).
 *
 * What a reader accepts, in the order it checks (every message begins
 * "<segment>: offset <O>, seq <S>: " where S is the sequence number
 * expected at O):
 *   segment header: length, magic, version, CRC, size field, first seq;
 *   record: zero header with non-zero bytes after it; magic; length
 *   against JOURNAL_RECORD_MAX and the segment end; CRC ("do not believe
 *   the contents until the CRC is checked"); back-pointer; sequence.
 * A bad record in the last segment with no valid record (right magic,
 * length in bounds, good CRC) anywhere after it is a torn tail: the write
 * that crashed, never acknowledged under fsync=always. Anything else is
 * corruption, reported and never skipped.
 */
#include "journal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- CRC-32C ----------------------------------------------------------- */

/* Reflected Castagnoli polynomial; the table is built on first use, by
 * whichever thread of the daemon or the tools gets there first. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	pthread_once(&crc_once, crc_init);
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction computes the same Castagnoli CRC eight bytes
 * a step: a 64 MiB segment is checked in a few milliseconds, not ~150. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return c32;
}
#endif

uint32_t journal_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(crc, p, len);
#endif
	return ~crc_sw(crc, p, len);
}

uint32_t journal_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	return ~crc_sw(~crc, data, len);
}

uint32_t jnl_record_crc(uint32_t payload_crc, const uint8_t *hdr)
{
	uint32_t c = journal_crc32c(payload_crc, hdr, 12);
	return journal_crc32c(c, hdr + 16, JNL_REC_HDR - 16);
}

void jnl_segment_header(uint8_t hdr[JNL_SEG_HDR], uint64_t first_seq, uint64_t created_usec, uint64_t size)
{
	memset(hdr, 0, JNL_SEG_HDR);
	memcpy(hdr, JNL_SEG_MAGIC, 8);
	jnl_put32(hdr + 8, JNL_SEG_VERSION);
	jnl_put64(hdr + 16, first_seq);
	jnl_put64(hdr + 24, created_usec);
	jnl_put64(hdr + 32, size);
	jnl_put32(hdr + 40, journal_crc32c(0, hdr, 40));
}

/* ---- the segment scan --------------------------------------------------- */

static void scan_why(struct jnl_scan *s, uint64_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void scan_why(struct jnl_scan *s, uint64_t off, const char *fmt, ...)
{
	int n = snprintf(s->why, sizeof(s->why), "%s: offset %" PRIu64 ", seq %" PRIu64 ": ", s->name, off, s->seq);
	if (n < 0 || (size_t)n >= sizeof(s->why))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why + n, sizeof(s->why) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Offset just past the last non-zero byte in [from, len), or from if none. */
static uint64_t nonzero_end(const struct jnl_scan *s, uint64_t from)
{
	for (uint64_t i = s->len; i > from; i--)
		if (s->buf[i - 1])
			return i;
	return from;
}

/* The first non-zero byte at or after from, or len. */
static uint64_t first_nonzero(const struct jnl_scan *s, uint64_t from)
{
	uint64_t i = from;
	while (i < s->len && s->buf[i] == 0)
		i++;
	return i;
}

/* Does a whole, CRC-valid record header sit at off? (Its back-pointer and
 * sequence are not asked: any record the writer could have written counts
 * as proof that the bad one before it is not the end.) */
static bool valid_record_at(const struct jnl_scan *s, uint64_t off)
{
	const uint8_t *h = s->buf + off;
	if (jnl_get32(h) != JNL_REC_MAGIC)
		return false;
	uint32_t len = jnl_get32(h + 8);
	if (len > JOURNAL_RECORD_MAX || len > s->len - off - JNL_REC_HDR)
		return false;
	uint32_t c = jnl_record_crc(journal_crc32c(0, h + JNL_REC_HDR, len), h);
	return c == jnl_get32(h + 12);
}

/* The record at s->off is bad (s->why says why): a torn tail if this is the
 * last segment and no valid record follows, else corruption. */
static enum journal_read scan_bad(struct jnl_scan *s)
{
	s->done = true;
	s->result = JOURNAL_READ_CORRUPT;
	if (!s->is_last)
		return s->result;
	for (uint64_t p = s->off + 8; p < s->len && s->len - p >= JNL_REC_HDR; p += 8)
		if (valid_record_at(s, p))
			return s->result;
	s->result = JOURNAL_READ_END;
	s->torn_off = s->off;
	s->torn = nonzero_end(s, s->off) - s->off;
	return s->result;
}

enum journal_read jnl_scan_begin(struct jnl_scan *s, const uint8_t *buf, size_t len, const char *name,
				 bool is_last, uint64_t expect_seq)
{
	memset(s, 0, sizeof(*s));
	s->buf = buf;
	s->len = len;
	s->name = name;
	s->is_last = is_last;
	s->seq = expect_seq;
	s->off = JNL_SEG_HDR;
	s->done = true;
	s->result = JOURNAL_READ_CORRUPT;
	if (len < JNL_SEG_HDR) {
		scan_why(s, 0, "bad segment header: file is %zu bytes, shorter than the %u-byte header", len,
			 JNL_SEG_HDR);
		return s->result;
	}
	if (memcmp(buf, JNL_SEG_MAGIC, 8) != 0) {
		scan_why(s, 0, "bad segment header: bad magic");
		return s->result;
	}
	uint32_t crc = jnl_get32(buf + 40), want = journal_crc32c(0, buf, 40);
	if (crc != want) {
		scan_why(s, 0, "bad segment header: CRC mismatch: stored 0x%08x, computed 0x%08x", crc, want);
		return s->result;
	}
	uint32_t version = jnl_get32(buf + 8);
	if (version != JNL_SEG_VERSION) {
		scan_why(s, 0, "bad segment header: unknown format version %" PRIu32, version);
		return s->result;
	}
	uint64_t size = jnl_get64(buf + 32), first = jnl_get64(buf + 16);
	if (size != len) {
		scan_why(s, 0, "bad segment header: size field %" PRIu64 " but the file is %zu bytes", size, len);
		return s->result;
	}
	if (first == 0) {
		scan_why(s, 0, "bad segment header: first seq 0");
		return s->result;
	}
	if (expect_seq && first != expect_seq) {
		scan_why(s, 0, "sequence %s: segment starts at seq %" PRIu64,
			 first > expect_seq ? "gap" : "goes backwards", first);
		return s->result;
	}
	s->seq = first;
	s->done = false;
	return JOURNAL_READ_RECORD;
}

enum journal_read jnl_scan_next(struct jnl_scan *s, struct journal_record *rec)
{
	if (s->done)
		return s->result;
	uint64_t off = s->off;
	if (off >= s->len || s->len - off < JNL_REC_HDR) {
		if (off < s->len && first_nonzero(s, off) < s->len) {
			scan_why(s, off, "record header runs past the segment end at %zu", s->len);
			return scan_bad(s);
		}
		s->done = true;
		s->result = JOURNAL_READ_END;
		return s->result;
	}
	const uint8_t *h = s->buf + off;
	uint32_t magic = jnl_get32(h), len = jnl_get32(h + 8);
	if (magic == 0 && len == 0) {
		uint64_t nz = first_nonzero(s, off);
		if (nz == s->len) {
			s->done = true;
			s->result = JOURNAL_READ_END;
			return s->result;
		}
		scan_why(s, off, "zero-length record, but non-zero bytes follow at offset %" PRIu64, nz);
		return scan_bad(s);
	}
	if (magic != JNL_REC_MAGIC) {
		scan_why(s, off, "bad record magic 0x%08" PRIx32 " (expected 0x%08x)", magic, JNL_REC_MAGIC);
		return scan_bad(s);
	}
	if (len > JOURNAL_RECORD_MAX) {
		scan_why(s, off, "record length %" PRIu32 " over the maximum %u", len, JOURNAL_RECORD_MAX);
		return scan_bad(s);
	}
	if (len > s->len - off - JNL_REC_HDR) {
		scan_why(s, off, "record length %" PRIu32 " runs past the segment end at %zu", len, s->len);
		return scan_bad(s);
	}
	uint32_t stored = jnl_get32(h + 12);
	uint32_t computed = jnl_record_crc(journal_crc32c(0, h + JNL_REC_HDR, len), h);
	if (stored != computed) {
		scan_why(s, off, "CRC mismatch: stored 0x%08" PRIx32 ", computed 0x%08" PRIx32, stored, computed);
		return scan_bad(s);
	}
	uint64_t prev = jnl_get64(h + 24);
	if (prev != s->last_off) {
		scan_why(s, off, "bad back-pointer: prev %" PRIu64 ", previous record at %" PRIu64, prev,
			 s->last_off);
		return scan_bad(s);
	}
	uint64_t seq = jnl_get64(h + 16);
	if (seq != s->seq) {
		scan_why(s, off, "sequence %s: record carries seq %" PRIu64, seq > s->seq ? "gap" : "goes backwards",
			 seq);
		return scan_bad(s);
	}
	rec->seq = seq;
	rec->type = h[4];
	rec->time_usec = jnl_get64(h + 32);
	rec->payload = h + JNL_REC_HDR;
	rec->len = len;
	rec->segment = s->name;
	rec->offset = off;
	s->last_off = off;
	s->seq++;
	/* Cannot overflow: off + 40 + len <= s->len was checked above. */
	s->off = off + jnl_rec_size(len);
	return JOURNAL_READ_RECORD;
}

/* `each` returning false stops the scan there: READ_END, no torn tail. */
enum journal_read journal_scan_segment(const uint8_t *buf, size_t len, const char *name, bool is_last,
				       uint64_t expect_seq, bool (*each)(void *arg, const struct journal_record *rec),
				       void *arg, uint64_t *next_seq, uint64_t *torn, uint64_t *torn_offset,
				       char *why, size_t why_len)
{
	struct jnl_scan *s = malloc(sizeof(*s));
	if (!s) {
		snprintf(why, why_len, "%s: out of memory", name);
		return JOURNAL_READ_ERROR;
	}
	enum journal_read r = jnl_scan_begin(s, buf, len, name, is_last, expect_seq);
	struct journal_record rec;
	while (r == JOURNAL_READ_RECORD) {
		r = jnl_scan_next(s, &rec);
		if (r == JOURNAL_READ_RECORD && !each(arg, &rec)) {
			r = JOURNAL_READ_END;
			s->torn = s->torn_off = 0;
		}
	}
	*next_seq = s->seq;
	*torn = s->torn;
	*torn_offset = s->torn_off;
	if (r == JOURNAL_READ_CORRUPT)
		snprintf(why, why_len, "%s", s->why);
	free(s);
	return r;
}

/* ---- segment files ---------------------------------------------------- */

void jnl_segment_name(char out[JNL_NAME_LEN + 1], uint64_t first_seq)
{
	snprintf(out, JNL_NAME_LEN + 1, "%020" PRIu64 ".agj", first_seq);
}

bool jnl_parse_name(const char *name, uint64_t *first_seq)
{
	uint64_t v = 0;
	for (int i = 0; i < JNL_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		uint64_t d = (uint64_t)(name[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (strcmp(name + JNL_NAME_DIGITS, ".agj") != 0 || v == 0)
		return false;
	*first_seq = v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

bool jnl_list_segments(int dirfd, uint64_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int fd = dup(dirfd);
	if (fd < 0)
		return false;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
		return false;
	}
	rewinddir(d);
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		uint64_t seq;
		if (!jnl_parse_name(de->d_name, &seq))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				errno = ENOMEM;
				return false;
			}
			v = nv;
		}
		v[cnt++] = seq;
		errno = 0;
	}
	int e = errno;
	closedir(d);
	if (e) {
		free(v);
		errno = e;
		return false;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*out = v;
	*n = cnt;
	return true;
}

int jnl_map_segment(int dirfd, const char *name, struct jnl_map *m, char *why, size_t why_len)
{
	m->buf = NULL;
	m->len = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		snprintf(why, why_len, "%s: open: %s", name, strerror(e));
		return e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		snprintf(why, why_len, "%s: fstat: %s", name, strerror(e));
		close(fd);
		return e;
	}
	/* An empty file maps nothing; the scan then reports its short header. */
	if (st.st_size > 0) {
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			snprintf(why, why_len, "%s: mmap: %s", name, strerror(e));
			close(fd);
			return e;
		}
		m->buf = p;
		m->len = (size_t)st.st_size;
	}
	close(fd);
	return 0;
}

void jnl_unmap(struct jnl_map *m)
{
	if (m->len)
		munmap((void *)m->buf, m->len);
	m->buf = NULL;
	m->len = 0;
}

/* ---- the reader -------------------------------------------------------- */

struct journal_reader {
	int dirfd;
	uint64_t *segs;
	size_t nsegs;
	size_t cur;              /* index of the segment to read (loaded or next) */
	bool loaded;
	struct jnl_map map;
	struct jnl_scan scan;
	char name[JNL_NAME_LEN + 1];
	uint64_t seek;
	uint64_t expect;         /* first seq the next segment must carry; 0 unknown */
	enum journal_read stuck; /* CORRUPT or ERROR once hit: every later call says it again */
	char stuck_why[JNL_WHY];
	uint64_t torn, torn_off;
	char torn_name[JNL_NAME_LEN + 1];
};

struct journal_reader *journal_reader_open(const char *dir, char *err, size_t err_len)
{
	struct journal_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, err_len, "journal reader: out of memory");
		return NULL;
	}
	r->stuck = JOURNAL_READ_RECORD;
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		if (errno == ENOENT)
			return r; /* no journal yet: reads END */
		snprintf(err, err_len, "%s: %s", dir, strerror(errno));
		free(r);
		return NULL;
	}
	if (!jnl_list_segments(r->dirfd, &r->segs, &r->nsegs)) {
		snprintf(err, err_len, "%s: reading the directory: %s", dir, strerror(errno));
		close(r->dirfd);
		free(r);
		return NULL;
	}
	return r;
}

void journal_reader_seek(struct journal_reader *r, uint64_t seq)
{
	r->seek = seq;
	/* A segment ends before seq when the one after it starts at or below. */
	while (r->cur + 1 < r->nsegs && r->segs[r->cur + 1] <= seq)
		r->cur++;
}

static enum journal_read reader_stuck(struct journal_reader *r, enum journal_read what, const char *why,
				      char *out, size_t out_len)
{
	r->stuck = what;
	snprintf(r->stuck_why, sizeof(r->stuck_why), "%s", why);
	snprintf(out, out_len, "%s", why);
	return what;
}

/* Map segment r->cur and check its header and its place in the sequence. */
static enum journal_read reader_load(struct journal_reader *r, char *why, size_t why_len)
{
	uint64_t first = r->segs[r->cur];
	jnl_segment_name(r->name, first);
	char msg[JNL_WHY];
	if (r->expect && first != r->expect) {
		snprintf(msg, sizeof(msg), "%s: offset 0, seq %" PRIu64 ": sequence %s: segment starts at seq %" PRIu64,
			 r->name, r->expect, first > r->expect ? "gap" : "goes backwards", first);
		return reader_stuck(r, JOURNAL_READ_CORRUPT, msg, why, why_len);
	}
	if (jnl_map_segment(r->dirfd, r->name, &r->map, msg, sizeof(msg)) != 0)
		return reader_stuck(r, JOURNAL_READ_ERROR, msg, why, why_len);
	r->loaded = true;
	/* The file name stands for the header's first seq: a renamed file
	 * reads as a gap. */
	if (jnl_scan_begin(&r->scan, r->map.buf, r->map.len, r->name, r->cur + 1 == r->nsegs, first) !=
	    JOURNAL_READ_RECORD)
		return reader_stuck(r, JOURNAL_READ_CORRUPT, r->scan.why, why, why_len);
	return JOURNAL_READ_RECORD;
}

enum journal_read journal_reader_next(struct journal_reader *r, struct journal_record *rec, char *why,
				      size_t why_len)
{
	if (r->stuck != JOURNAL_READ_RECORD) {
		snprintf(why, why_len, "%s", r->stuck_why);
		return r->stuck;
	}
	for (;;) {
		if (!r->loaded) {
			if (r->cur >= r->nsegs)
				return JOURNAL_READ_END;
			enum journal_read l = reader_load(r, why, why_len);
			if (l != JOURNAL_READ_RECORD)
				return l;
		}
		enum journal_read s = jnl_scan_next(&r->scan, rec);
		if (s == JOURNAL_READ_RECORD) {
			if (rec->seq < r->seek)
				continue;
			return s;
		}
		if (s == JOURNAL_READ_CORRUPT)
			return reader_stuck(r, s, r->scan.why, why, why_len);
		if (r->scan.torn) {
			r->torn = r->scan.torn;
			r->torn_off = r->scan.torn_off;
			memcpy(r->torn_name, r->name, sizeof(r->name));
		}
		r->expect = r->scan.seq;
		jnl_unmap(&r->map);
		r->loaded = false;
		r->cur++;
	}
}

bool journal_reader_torn(const struct journal_reader *r, uint64_t *bytes, const char **segment, uint64_t *offset)
{
	if (!r->torn)
		return false;
	*bytes = r->torn;
	*segment = r->torn_name;
	*offset = r->torn_off;
	return true;
}

uint64_t journal_reader_segments(const struct journal_reader *r)
{
	return r->nsegs;
}

void journal_reader_close(struct journal_reader *r)
{
	if (!r)
		return;
	if (r->loaded)
		jnl_unmap(&r->map);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->segs);
	free(r);
}

/* ---- test-only failure injection (journal_test.h) ---------------------- */

static atomic_int injected[JOURNAL_TEST_POINTS];

void journal_test_fail_next(enum journal_test_point p, int err)
{
	atomic_store(&injected[p], err);
}

int jnl_injected(enum journal_test_point p)
{
	if (atomic_load_explicit(&injected[p], memory_order_relaxed) == 0)
		return 0;
	return atomic_exchange(&injected[p], 0);
}
