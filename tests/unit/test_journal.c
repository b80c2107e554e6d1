/*
 * test_journal.c - the journal's storage (snapshot/journal.h): records
 * written under each fsync policy read back as written, rotation, reopen,
 * concurrent appends, group commit, retention, the writer's error paths
 * (through the test-only hooks of journal_test.h), and forged corrupt
 * segments, each of which must produce its exact message; and the walk's
 * commit order (journal_walk.h) over records written out of it.
 *
 * The layout constants below are written out again from journal.c's
 * drawing rather than taken from the implementation, so a change of the
 * format shows up here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "journal.h"
#include "journal_test.h"
#include "journal_walk.h"
#include "jtxn.h"

#define SEG_HDR 48
#define REC_HDR 40
#define MIB (1u << 20)
#define SEG1 "00000000000000000001.agj"

static uint64_t rec_size(size_t len)
{
	return (REC_HDR + len + 7) & ~(uint64_t)7;
}

static uint64_t now_usec(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* ---- fixtures -------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup_dir(void **state)
{
	char *dir = strdup("/tmp/test_journal.XXXXXX");
	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	*state = dir;
	return 0;
}

static int teardown_dir(void **state)
{
	nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

/* The journal lives in a subdirectory, so journal_open's mkdir is tested. */
static const char *jdir(void **state)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/j", (char *)*state);
	return path;
}

static char *seg_path(void **state, uint64_t first_seq)
{
	static char path[320];
	snprintf(path, sizeof(path), "%s/%020" PRIu64 ".agj", jdir(state), first_seq);
	return path;
}

/* ---- completions --------------------------------------------------------- */

/* Every completion, in the order the writer called them. */
static struct {
	pthread_mutex_t m;
	pthread_cond_t c;
	size_t n;
	uint64_t tag[20000];
	uint64_t seq[20000];
	int err[20000];
	bool off_thread; /* all on a thread other than the test's */
} done_log = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, {0}, {0}, {0}, true};
static pthread_t test_thread;

static void on_done(void *arg, uint64_t seq, int err)
{
	pthread_mutex_lock(&done_log.m);
	assert_true(done_log.n < 20000);
	done_log.tag[done_log.n] = (uint64_t)(uintptr_t)arg;
	done_log.seq[done_log.n] = seq;
	done_log.err[done_log.n] = err;
	done_log.n++;
	if (pthread_equal(pthread_self(), test_thread))
		done_log.off_thread = false;
	pthread_cond_broadcast(&done_log.c);
	pthread_mutex_unlock(&done_log.m);
}

static void log_reset(void)
{
	pthread_mutex_lock(&done_log.m);
	done_log.n = 0;
	done_log.off_thread = true;
	pthread_mutex_unlock(&done_log.m);
	test_thread = pthread_self();
}

static void wait_done(size_t n)
{
	pthread_mutex_lock(&done_log.m);
	while (done_log.n < n)
		pthread_cond_wait(&done_log.c, &done_log.m);
	pthread_mutex_unlock(&done_log.m);
}

/* ---- writing and reading ------------------------------------------------- */

static struct journal *open_j(void **state, uint64_t seg, enum journal_fsync policy, uint64_t retention,
			      struct journal_recovery *rec)
{
	struct journal_options o = {jdir(state), seg, policy, retention};
	struct journal_recovery r;
	char err[512] = "";
	struct journal *j = journal_open(&o, rec ? rec : &r, err, sizeof(err));
	if (!j)
		fail_msg("journal_open: %s", err);
	return j;
}

/* Payload i: never a zero byte, so a zeroed header is followed by data. */
static void fill(uint8_t *p, size_t len, uint64_t i)
{
	for (size_t k = 0; k < len; k++)
		p[k] = (uint8_t)((i * 31 + k) % 255 + 1);
}

static size_t len_of(uint64_t i)
{
	return (size_t)(i * 7919 % 3000);
}

static void append_n(struct journal *j, uint64_t from, uint64_t n, size_t (*len)(uint64_t), uint64_t time_usec)
{
	static uint8_t buf[2u << 20];
	for (uint64_t i = from; i < from + n; i++) {
		size_t l = len(i);
		assert_true(l <= sizeof(buf));
		fill(buf, l, i);
		assert_true(journal_append(j, (uint8_t)(i & 0xff), time_usec ? time_usec : i * 1000, buf, l, on_done,
					   (void *)(uintptr_t)i));
	}
}

/* Read the whole journal: records first..last, payload i as fill(i). */
static void read_back(void **state, uint64_t first, uint64_t last, size_t (*len)(uint64_t), bool check_time)
{
	char err[512];
	struct journal_reader *r = journal_reader_open(jdir(state), err, sizeof(err));
	assert_non_null(r);
	static uint8_t want[2u << 20];
	struct journal_record rec;
	uint64_t seq = first;
	enum journal_read res;
	while ((res = journal_reader_next(r, &rec, err, sizeof(err))) == JOURNAL_READ_RECORD) {
		assert_int_equal(rec.seq, seq);
		assert_int_equal(rec.type, seq & 0xff);
		if (check_time)
			assert_int_equal(rec.time_usec, seq * 1000);
		assert_int_equal(rec.len, len(seq));
		fill(want, rec.len, seq);
		assert_memory_equal(rec.payload, want, rec.len);
		seq++;
	}
	if (res != JOURNAL_READ_END)
		fail_msg("reader: %s", err);
	assert_int_equal(seq, last + 1);
	uint64_t bytes, off;
	const char *seg;
	assert_false(journal_reader_torn(r, &bytes, &seg, &off));
	journal_reader_close(r);
}

/* ---- the format ------------------------------------------------------------ */

static void test_crc32c(void **state)
{
	/* The check value of CRC-32C (RFC 3720 B.4 family). */
	assert_int_equal(journal_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(journal_crc32c_sw(0, "123456789", 9), 0xe3069283u);
	uint8_t zeros[32] = {0};
	assert_int_equal(journal_crc32c(0, zeros, 32), 0x8a9136aau);
	/* Chained calls equal one call; the hardware path equals the table's
	 * at every length and alignment. */
	uint8_t buf[1000];
	fill(buf, sizeof(buf), 3);
	for (size_t a = 0; a < 9; a++)
		for (size_t n = 0; n + a <= sizeof(buf); n += 37) {
			uint32_t one = journal_crc32c(0, buf + a, n);
			assert_int_equal(one, journal_crc32c_sw(0, buf + a, n));
			assert_int_equal(one, journal_crc32c(journal_crc32c(0, buf + a, n / 3), buf + a + n / 3, n - n / 3));
		}
}

/* N records under each policy, read back; names and stats as promised. */
static void policy_roundtrip(void **state, enum journal_fsync policy)
{
	log_reset();
	struct journal_recovery rec;
	struct journal *j = open_j(state, MIB, policy, 0, &rec);
	assert_int_equal(rec.segments, 1);
	assert_int_equal(rec.last_seq, 0);
	append_n(j, 1, 500, len_of, 0);
	wait_done(500);
	for (size_t i = 0; i < 500; i++) {
		assert_int_equal(done_log.err[i], 0);
		assert_int_equal(done_log.seq[i], i + 1);
		assert_int_equal(done_log.tag[i], i + 1);
	}
	assert_true(done_log.off_thread);
	journal_close(j);
	read_back(state, 1, 500, len_of, true);
	assert_int_equal(access(seg_path(state, 1), F_OK), 0);
}

static void test_fsync_always(void **state)
{
	policy_roundtrip(state, JOURNAL_FSYNC_ALWAYS);
}

static void test_fsync_everysec(void **state)
{
	policy_roundtrip(state, JOURNAL_FSYNC_EVERYSEC);
}

static void test_fsync_off(void **state)
{
	policy_roundtrip(state, JOURNAL_FSYNC_OFF);
}

/* everysec really fsyncs within about a second with nothing more queued. */
static void test_everysec_syncs_later(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_EVERYSEC, 0, NULL);
	append_n(j, 1, 3, len_of, 0);
	wait_done(3);
	struct journal_stats st;
	for (int i = 0; i < 40; i++) {
		journal_get_stats(j, &st);
		if (st.durable_seq == 3)
			break;
		usleep(100000);
	}
	assert_int_equal(st.durable_seq, 3);
	assert_int_equal(st.last_seq, 3);
	assert_true(st.fsyncs >= 1);
	journal_close(j);
}

static size_t len_big(uint64_t i)
{
	return (size_t)(i * 104729 % (300u << 10));
}

/* 1 MiB segments, records up to 300 KiB, and one record bigger than a
 * segment (it gets a segment of its own). */
static size_t len_rot(uint64_t i)
{
	return i == 20 ? (size_t)(MIB + 4096) : len_big(i);
}

static void test_rotation(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_ALWAYS, 0, NULL);
	append_n(j, 1, 60, len_rot, 0);
	wait_done(60);
	for (size_t i = 0; i < 60; i++)
		assert_int_equal(done_log.err[i], 0);
	struct journal_stats st;
	journal_get_stats(j, &st);
	assert_true(st.segments >= 8);
	assert_int_equal(st.last_seq, 60);
	assert_int_equal(st.first_seq, 1);
	journal_close(j);
	read_back(state, 1, 60, len_rot, true);
	char err[256];
	struct journal_reader *r = journal_reader_open(jdir(state), err, sizeof(err));
	assert_int_equal(journal_reader_segments(r), st.segments);
	/* Seek lands on the record, skipping the segments before it. */
	journal_reader_seek(r, 42);
	struct journal_record rec;
	assert_int_equal(journal_reader_next(r, &rec, err, sizeof(err)), JOURNAL_READ_RECORD);
	assert_int_equal(rec.seq, 42);
	journal_reader_close(r);
}

static size_t len_huge_first(uint64_t i)
{
	return i == 1 ? (size_t)(MIB + MIB / 2) : 100;
}

/* A record too big for the fresh, empty first segment: the bigger segment
 * takes its place under the same name instead of leaving an empty one. */
static void test_oversize_first_record(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_ALWAYS, 0, NULL);
	append_n(j, 1, 3, len_huge_first, 0);
	wait_done(3);
	struct journal_stats st;
	journal_get_stats(j, &st);
	assert_int_equal(st.segments, 2);
	journal_close(j);
	struct stat sb;
	assert_int_equal(stat(seg_path(state, 1), &sb), 0);
	assert_int_equal(sb.st_size, SEG_HDR + rec_size(MIB + MIB / 2));
	assert_int_equal(access(seg_path(state, 2), F_OK), 0);
	read_back(state, 1, 3, len_huge_first, true);
}

static void test_reopen_continues(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	append_n(j, 1, 30, len_big, 0);
	journal_close(j);
	struct journal_recovery rec;
	j = open_j(state, MIB, JOURNAL_FSYNC_ALWAYS, 0, &rec);
	assert_int_equal(rec.first_seq, 1);
	assert_int_equal(rec.last_seq, 30);
	assert_int_equal(rec.last_time_usec, 30000);
	assert_int_equal(rec.truncated_bytes, 0);
	append_n(j, 31, 10, len_big, 0);
	wait_done(40);
	assert_int_equal(done_log.seq[39], 40);
	journal_close(j);
	read_back(state, 1, 40, len_big, true);
}

/* A second writer on the same directory is refused. */
static void test_single_writer(void **state)
{
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	struct journal_options o = {jdir(state), MIB, JOURNAL_FSYNC_OFF, 0};
	struct journal_recovery rec;
	char err[512];
	assert_null(journal_open(&o, &rec, err, sizeof(err)));
	char want[600];
	snprintf(want, sizeof(want), "%s: in use by another journal writer", jdir(state));
	assert_string_equal(err, want);
	o.segment_size = 4096;
	assert_null(journal_open(&o, &rec, err, sizeof(err)));
	assert_string_equal(err, "journal: segment_size 4096 is below the minimum 1048576");
	journal_close(j);
}

/* ---- threads and group commit ---------------------------------------------- */

#define THREADS 4
#define PER_THREAD 1500

struct appender {
	struct journal *j;
	uint64_t t;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;
	uint8_t buf[64];
	for (uint64_t k = 0; k < PER_THREAD; k++) {
		memcpy(buf, &a->t, 8);
		memcpy(buf + 8, &k, 8);
		if (!journal_append(a->j, 1, now_usec(), buf, 16 + k % 48, on_done, (void *)(uintptr_t)(a->t << 32 | k)))
			return (void *)1;
	}
	return NULL;
}

static void run_appenders(struct journal *j)
{
	pthread_t th[THREADS];
	struct appender a[THREADS];
	for (uint64_t t = 0; t < THREADS; t++) {
		a[t] = (struct appender){j, t};
		assert_int_equal(pthread_create(&th[t], NULL, appender_main, &a[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		void *ret;
		pthread_join(th[t], &ret);
		assert_null(ret);
	}
	wait_done(THREADS * PER_THREAD);
}

/* Each thread's records get increasing sequence numbers in call order, the
 * completions come in sequence order with no gap, and the reader sees the
 * payloads where the completions said. */
static void test_concurrent_appends(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_ALWAYS, 0, NULL);
	run_appenders(j);
	uint64_t next_k[THREADS] = {0};
	static uint64_t tag_of_seq[THREADS * PER_THREAD + 1];
	for (size_t i = 0; i < THREADS * PER_THREAD; i++) {
		assert_int_equal(done_log.err[i], 0);
		assert_int_equal(done_log.seq[i], i + 1);
		uint64_t t = done_log.tag[i] >> 32, k = done_log.tag[i] & 0xffffffffu;
		assert_true(t < THREADS);
		assert_int_equal(k, next_k[t]);
		next_k[t]++;
		tag_of_seq[i + 1] = done_log.tag[i];
	}
	assert_true(done_log.off_thread);
	struct journal_stats st;
	journal_get_stats(j, &st);
	journal_close(j);

	char err[256];
	struct journal_reader *r = journal_reader_open(jdir(state), err, sizeof(err));
	struct journal_record rec;
	uint64_t n = 0;
	while (journal_reader_next(r, &rec, err, sizeof(err)) == JOURNAL_READ_RECORD) {
		uint64_t t, k;
		memcpy(&t, rec.payload, 8);
		memcpy(&k, rec.payload + 8, 8);
		assert_int_equal(t << 32 | k, tag_of_seq[rec.seq]);
		assert_int_equal(rec.len, 16 + k % 48);
		n++;
	}
	assert_int_equal(n, THREADS * PER_THREAD);
	journal_reader_close(r);
}

/* A committer as the proxy's workers are: each waits for its record to be
 * durable before it sends the next (the client waits for COMMIT OK). */
struct committer {
	struct journal *j;
	sem_t done;
	int err;
};

static void on_commit(void *arg, uint64_t seq, int err)
{
	struct committer *c = arg;
	if (err || !seq)
		c->err = err ? err : -1;
	sem_post(&c->done);
}

#define COMMITS 300

static void *committer_main(void *arg)
{
	struct committer *c = arg;
	uint8_t buf[200];
	fill(buf, sizeof(buf), 7);
	for (int k = 0; k < COMMITS; k++) {
		if (!journal_append(c->j, 2, now_usec(), buf, sizeof(buf), on_commit, c))
			return (void *)1;
		while (sem_wait(&c->done) != 0)
			continue;
	}
	return NULL;
}

/* fsync=always shares one fdatasync among everything queued while the
 * previous one ran: with four committers each waiting for its own
 * record, one fsync serves several of them. */
static void test_group_commit(void **state)
{
	struct journal *j = open_j(state, 64 * MIB, JOURNAL_FSYNC_ALWAYS, 0, NULL);
	pthread_t th[THREADS];
	struct committer c[THREADS];
	for (int t = 0; t < THREADS; t++) {
		c[t].j = j;
		c[t].err = 0;
		sem_init(&c[t].done, 0, 0);
		assert_int_equal(pthread_create(&th[t], NULL, committer_main, &c[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		void *ret;
		pthread_join(th[t], &ret);
		assert_null(ret);
		assert_int_equal(c[t].err, 0);
		sem_destroy(&c[t].done);
	}
	struct journal_stats st;
	journal_get_stats(j, &st);
	assert_int_equal(st.records, THREADS * COMMITS);
	assert_int_equal(st.durable_seq, THREADS * COMMITS);
	assert_true(st.fsyncs < st.records);
	print_message("group commit: %" PRIu64 " fsyncs for %" PRIu64 " records (%.3f per record)\n", st.fsyncs,
		      st.records, (double)st.fsyncs / (double)st.records);
	journal_close(j);
}

/* ---- retention ------------------------------------------------------------- */

static size_t len_300k(uint64_t i)
{
	return 300u << 10;
}

static void test_retention(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 3600, NULL);
	/* Two hours old: 12 records of 300 KiB fill four segments. */
	append_n(j, 1, 12, len_300k, now_usec() - 7200 * 1000000ull);
	wait_done(12);
	journal_close(j);
	j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 3600, NULL);
	append_n(j, 13, 7, len_300k, now_usec());
	wait_done(19);
	struct journal_stats st;
	journal_get_stats(j, &st);
	journal_close(j);
	/* Every old segment went at the rotations; the one holding 13 and the
	 * ones after it stay. */
	assert_int_equal(access(seg_path(state, 1), F_OK), -1);
	assert_int_equal(access(seg_path(state, 13), F_OK), 0);
	assert_int_equal(st.first_seq, 13);
	assert_int_equal(st.segments, 3);
	read_back(state, 13, 19, len_300k, false);
}

/* The floor (journal_set_floor): the rules of journal.h's "Retention", each
 * applied by the writer when the floor is set; journal_close waits for it. */
static void test_retention_floor(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	/* Two hours old: segments 1, 4, 7 and 10, three records each. */
	append_n(j, 1, 12, len_300k, now_usec() - 7200 * 1000000ull);
	wait_done(12);
	/* No rule set: a floor alone deletes nothing. */
	journal_set_floor(j, 8, false);
	journal_close(j);
	assert_int_equal(access(seg_path(state, 1), F_OK), 0);
	/* The age rule stops at the segment holding the floor (8, in 7). */
	j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 3600, NULL);
	journal_set_floor(j, 8, false);
	journal_close(j);
	assert_int_equal(access(seg_path(state, 1), F_OK), -1);
	assert_int_equal(access(seg_path(state, 4), F_OK), -1);
	assert_int_equal(access(seg_path(state, 7), F_OK), 0);
	/* Both rules: a segment goes when both let it go; the young one
	 * before the floor stays for retention_sec. */
	j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 3600, NULL);
	append_n(j, 13, 6, len_300k, now_usec());
	wait_done(18);
	journal_set_floor(j, 17, true);
	journal_close(j);
	assert_int_equal(access(seg_path(state, 7), F_OK), -1);
	assert_int_equal(access(seg_path(state, 10), F_OK), -1);
	assert_int_equal(access(seg_path(state, 13), F_OK), 0);
	/* The floor alone, with trim: everything wholly before it goes (13
	 * ends at 15), the segment starting at it stays. */
	j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	journal_set_floor(j, 16, true);
	struct journal_stats st;
	journal_close(j);
	assert_int_equal(access(seg_path(state, 13), F_OK), -1);
	j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	journal_get_stats(j, &st);
	journal_close(j);
	assert_int_equal(st.first_seq, 16);
	assert_int_equal(st.segments, 1);
	read_back(state, 16, 18, len_300k, false);
}

/* ---- the writer's error paths --------------------------------------------- */

static size_t len_100(uint64_t i)
{
	return 100;
}

static void append_one(struct journal *j, uint64_t i, size_t len)
{
	static uint8_t buf[300u << 10];
	assert_true(len <= sizeof(buf));
	fill(buf, len, i);
	size_t before = done_log.n;
	assert_true(journal_append(j, (uint8_t)(i & 0xff), i * 1000, buf, len, on_done, (void *)(uintptr_t)i));
	wait_done(before + 1);
}

/* A failed write or fsync fails that record with the errno and seq 0, the
 * sequence number is not used up, and the next append succeeds in its
 * place; the reader sees no trace. */
static void test_write_and_fsync_errors(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_ALWAYS, 0, NULL);
	append_one(j, 1, 100);
	journal_test_fail_next(JOURNAL_TEST_WRITE, EIO);
	append_one(j, 99, 100);
	assert_int_equal(done_log.err[1], EIO);
	assert_int_equal(done_log.seq[1], 0);
	struct journal_stats st;
	journal_get_stats(j, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.last_errno, EIO);
	append_one(j, 2, 100);
	assert_int_equal(done_log.seq[2], 2);
	journal_get_stats(j, &st);
	assert_int_equal(st.last_errno, 0);

	journal_test_fail_next(JOURNAL_TEST_FSYNC, EIO);
	append_one(j, 98, 100);
	assert_int_equal(done_log.err[3], EIO);
	assert_int_equal(done_log.seq[3], 0);
	append_one(j, 3, 100);
	assert_int_equal(done_log.err[4], 0);
	assert_int_equal(done_log.seq[4], 3);
	journal_get_stats(j, &st);
	assert_int_equal(st.errors, 2);
	assert_int_equal(st.durable_seq, 3);
	journal_close(j);
	read_back(state, 1, 3, len_100, true);
}

/* everysec: a failed fsync cannot fail records already acknowledged; the
 * writer writes them again from the page cache and the next fsync, a
 * second later, makes them durable. */
static void test_everysec_fsync_error(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_EVERYSEC, 0, NULL);
	journal_test_fail_next(JOURNAL_TEST_FSYNC, EIO);
	append_n(j, 1, 5, len_100, 0);
	wait_done(5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(done_log.seq[i], i + 1);
	struct journal_stats st;
	bool saw_error = false;
	for (int i = 0; i < 50; i++) {
		journal_get_stats(j, &st);
		saw_error |= st.last_errno == EIO;
		if (st.durable_seq == 5)
			break;
		usleep(100000);
	}
	assert_true(saw_error);
	assert_int_equal(st.durable_seq, 5);
	assert_true(st.fsyncs >= 2);
	journal_close(j);
	read_back(state, 1, 5, len_100, true);
}

/* A full disk when a new segment is needed: that record fails with ENOSPC
 * and nothing is lost; the next append creates the segment. */
static void test_full_disk_at_rotation(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_ALWAYS, 0, NULL);
	append_n(j, 1, 3, len_300k, 0);
	wait_done(3);
	journal_test_fail_next(JOURNAL_TEST_CREATE, ENOSPC);
	append_one(j, 97, 300u << 10);
	assert_int_equal(done_log.err[3], ENOSPC);
	assert_int_equal(done_log.seq[3], 0);
	assert_int_equal(access(seg_path(state, 4), F_OK), -1);
	append_one(j, 4, 300u << 10);
	assert_int_equal(done_log.err[4], 0);
	assert_int_equal(done_log.seq[4], 4);
	journal_close(j);
	assert_int_equal(access(seg_path(state, 4), F_OK), 0);
	read_back(state, 1, 4, len_300k, true);
}

/* Larger than JOURNAL_RECORD_MAX: refused through the completion, in order.
 * (The payload is never read for a refused record, so a short buffer
 * stands in for it.) */
static void test_record_too_large(void **state)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	uint8_t b[8] = {1};
	assert_true(journal_append(j, 1, 1, b, (size_t)JOURNAL_RECORD_MAX + 1, on_done, (void *)1));
	assert_true(journal_append(j, 1, 1, b, 8, on_done, (void *)2));
	wait_done(2);
	assert_int_equal(done_log.err[0], EMSGSIZE);
	assert_int_equal(done_log.seq[0], 0);
	assert_int_equal(done_log.seq[1], 1);
	journal_close(j);
}

/* ---- forged corrupt segments ------------------------------------------------ */

/* Offset of record i (1-based) in a segment of 100-byte records. */
static uint64_t off100(uint64_t i)
{
	return SEG_HDR + (i - 1) * rec_size(100);
}

static void write_100(void **state, uint64_t n)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	append_n(j, 1, n, len_100, 0);
	journal_close(j);
}

static void patch(const char *path, uint64_t off, const void *p, size_t n)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void peek(const char *path, uint64_t off, void *p, size_t n)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, p, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static uint32_t u32_at(const char *path, uint64_t off)
{
	uint8_t b[4];
	peek(path, off, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_u64(const char *path, uint64_t off, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	patch(path, off, b, 8);
}

/* Recompute the CRC of the record at off after a forged header change, as
 * a writer with a bug would have written it: payload, then the header
 * without its crc field. */
static void fix_crc(const char *path, uint64_t off)
{
	uint8_t h[REC_HDR];
	peek(path, off, h, REC_HDR);
	uint32_t len = (uint32_t)h[8] | (uint32_t)h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
	uint8_t *p = malloc(len + 1);
	peek(path, off + REC_HDR, p, len);
	uint32_t c = journal_crc32c(journal_crc32c(0, p, len), h, 12);
	c = journal_crc32c(c, h + 16, REC_HDR - 16);
	free(p);
	uint8_t b[4] = {(uint8_t)c, (uint8_t)(c >> 8), (uint8_t)(c >> 16), (uint8_t)(c >> 24)};
	patch(path, off + 12, b, 4);
}

/* The reader delivers the good records before the bad one, then CORRUPT
 * with exactly `want`, again on every later call; journal_open refuses the
 * journal with the same message. */
static void expect_corrupt(void **state, uint64_t good, const char *want)
{
	char why[512];
	struct journal_reader *r = journal_reader_open(jdir(state), why, sizeof(why));
	assert_non_null(r);
	struct journal_record rec;
	enum journal_read res;
	uint64_t n = 0;
	while ((res = journal_reader_next(r, &rec, why, sizeof(why))) == JOURNAL_READ_RECORD)
		n++;
	assert_int_equal(res, JOURNAL_READ_CORRUPT);
	assert_string_equal(why, want);
	assert_int_equal(n, good);
	assert_int_equal(journal_reader_next(r, &rec, why, sizeof(why)), JOURNAL_READ_CORRUPT);
	assert_string_equal(why, want);
	journal_reader_close(r);

	struct journal_options o = {jdir(state), MIB, JOURNAL_FSYNC_ALWAYS, 0};
	struct journal_recovery rc;
	char err[512];
	assert_null(journal_open(&o, &rc, err, sizeof(err)));
	assert_string_equal(err, want);
}

static void test_corrupt_zero_length(void **state)
{
	write_100(state, 5);
	uint8_t z[REC_HDR] = {0};
	patch(seg_path(state, 1), off100(2), z, sizeof(z));
	char want[256];
	snprintf(want, sizeof(want),
		 SEG1 ": offset %" PRIu64 ", seq 2: zero-length record, but non-zero bytes follow at offset %" PRIu64,
		 off100(2), off100(2) + REC_HDR);
	expect_corrupt(state, 1, want);
}

static void test_corrupt_flipped_crc(void **state)
{
	write_100(state, 5);
	const char *p = seg_path(state, 1);
	uint32_t crc = u32_at(p, off100(3) + 12);
	uint8_t b = (uint8_t)((crc >> 8) ^ 0x40);
	patch(p, off100(3) + 13, &b, 1);
	char want[256];
	snprintf(want, sizeof(want), SEG1 ": offset %" PRIu64 ", seq 3: CRC mismatch: stored 0x%08x, computed 0x%08x",
		 off100(3), crc ^ 0x4000u, crc);
	expect_corrupt(state, 2, want);
}

/* A flipped payload byte is caught by the same CRC. */
static void test_corrupt_payload_byte(void **state)
{
	write_100(state, 5);
	const char *p = seg_path(state, 1);
	uint32_t crc = u32_at(p, off100(2) + 12);
	uint8_t b;
	peek(p, off100(2) + REC_HDR + 50, &b, 1);
	b ^= 1;
	patch(p, off100(2) + REC_HDR + 50, &b, 1);
	char why[512];
	struct journal_reader *r = journal_reader_open(jdir(state), why, sizeof(why));
	struct journal_record rec;
	assert_int_equal(journal_reader_next(r, &rec, why, sizeof(why)), JOURNAL_READ_RECORD);
	assert_int_equal(journal_reader_next(r, &rec, why, sizeof(why)), JOURNAL_READ_CORRUPT);
	char want[64];
	snprintf(want, sizeof(want), "stored 0x%08x, computed", crc);
	assert_non_null(strstr(why, want));
	journal_reader_close(r);
}

static void test_corrupt_back_pointer(void **state)
{
	write_100(state, 5);
	const char *p = seg_path(state, 1);
	put_u64(p, off100(3) + 24, off100(1));
	fix_crc(p, off100(3));
	char want[256];
	snprintf(want, sizeof(want),
		 SEG1 ": offset %" PRIu64 ", seq 3: bad back-pointer: prev %" PRIu64 ", previous record at %" PRIu64,
		 off100(3), off100(1), off100(2));
	expect_corrupt(state, 2, want);
}

static void test_corrupt_seq_gap(void **state)
{
	write_100(state, 5);
	const char *p = seg_path(state, 1);
	put_u64(p, off100(3) + 16, 4);
	fix_crc(p, off100(3));
	char want[256];
	snprintf(want, sizeof(want), SEG1 ": offset %" PRIu64 ", seq 3: sequence gap: record carries seq 4", off100(3));
	expect_corrupt(state, 2, want);

	put_u64(p, off100(3) + 16, 2);
	fix_crc(p, off100(3));
	snprintf(want, sizeof(want), SEG1 ": offset %" PRIu64 ", seq 3: sequence goes backwards: record carries seq 2",
		 off100(3));
	expect_corrupt(state, 2, want);
}

static void test_corrupt_bad_magic(void **state)
{
	write_100(state, 5);
	patch(seg_path(state, 1), off100(2), "XGJR", 4);
	char want[256];
	snprintf(want, sizeof(want), SEG1 ": offset %" PRIu64 ", seq 2: bad record magic 0x524a4758 (expected 0x524a4741)",
		 off100(2));
	expect_corrupt(state, 1, want);
}

static void test_corrupt_length(void **state)
{
	write_100(state, 5);
	const char *p = seg_path(state, 1);
	uint8_t big[4] = {0, 0, 0, 0x7f};
	patch(p, off100(2) + 8, big, 4);
	char want[256];
	snprintf(want, sizeof(want), SEG1 ": offset %" PRIu64 ", seq 2: record length 2130706432 over the maximum %u",
		 off100(2), JOURNAL_RECORD_MAX);
	expect_corrupt(state, 1, want);
	uint8_t past[4] = {0, 0, 0x20, 0}; /* 2 MiB in a 1 MiB segment */
	patch(p, off100(2) + 8, past, 4);
	snprintf(want, sizeof(want), SEG1 ": offset %" PRIu64 ", seq 2: record length 2097152 runs past the segment end at %u",
		 off100(2), MIB);
	expect_corrupt(state, 1, want);
}

static void test_corrupt_segment_header(void **state)
{
	write_100(state, 5);
	uint8_t b = 0x55;
	patch(seg_path(state, 1), 30, &b, 1); /* inside the creation time */
	char why[512];
	struct journal_reader *r = journal_reader_open(jdir(state), why, sizeof(why));
	struct journal_record rec;
	assert_int_equal(journal_reader_next(r, &rec, why, sizeof(why)), JOURNAL_READ_CORRUPT);
	journal_reader_close(r);
	const char *want = SEG1 ": offset 0, seq 1: bad segment header: CRC mismatch: stored 0x";
	assert_memory_equal(why, want, strlen(want));
}

/* Segments 1.. of 300 KiB records, three to a segment. */
static void write_segments(void **state, uint64_t n)
{
	log_reset();
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	append_n(j, 1, n, len_300k, 0);
	journal_close(j);
}

static void test_corrupt_gap_across_segments(void **state)
{
	write_segments(state, 12); /* segments 1, 4, 7, 10 */
	assert_int_equal(unlink(seg_path(state, 4)), 0);
	expect_corrupt(state, 3,
		       "00000000000000000007.agj: offset 0, seq 4: sequence gap: segment starts at seq 7");
}

/* A bad record at the end of a segment that is not the last: nothing valid
 * follows it in its segment, but the journal goes on, so it is corruption. */
static void test_corrupt_not_last_segment(void **state)
{
	write_segments(state, 9);
	const char *p = seg_path(state, 1);
	uint64_t off3 = SEG_HDR + 2 * rec_size(300u << 10);
	uint32_t crc = u32_at(p, off3 + 12);
	uint8_t b = (uint8_t)(crc ^ 1);
	patch(p, off3 + 12, &b, 1);
	char want[256];
	snprintf(want, sizeof(want), SEG1 ": offset %" PRIu64 ", seq 3: CRC mismatch: stored 0x%08x, computed 0x%08x",
		 off3, crc ^ 1u, crc);
	expect_corrupt(state, 2, want);
}

/* A record half written when the process died: the reader ends cleanly
 * and reports the torn tail; journal_open cuts it (zeroes and fsyncs),
 * says how much, and appends take its place. */
static void test_torn_tail(void **state)
{
	write_100(state, 5);
	const char *p = seg_path(state, 1);
	uint8_t z[60] = {0};
	patch(p, off100(5) + REC_HDR + 40, z, sizeof(z)); /* the last 60 payload bytes never landed */
	uint64_t torn_bytes = REC_HDR + 40;

	char why[512];
	struct journal_reader *r = journal_reader_open(jdir(state), why, sizeof(why));
	struct journal_record rec;
	uint64_t n = 0;
	enum journal_read res;
	while ((res = journal_reader_next(r, &rec, why, sizeof(why))) == JOURNAL_READ_RECORD)
		n++;
	assert_int_equal(res, JOURNAL_READ_END);
	assert_int_equal(n, 4);
	uint64_t bytes, off;
	const char *seg;
	assert_true(journal_reader_torn(r, &bytes, &seg, &off));
	assert_int_equal(bytes, torn_bytes);
	assert_string_equal(seg, SEG1);
	assert_int_equal(off, off100(5));
	journal_reader_close(r);

	log_reset();
	struct journal_recovery rc;
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_ALWAYS, 0, &rc);
	assert_int_equal(rc.truncated_bytes, torn_bytes);
	assert_string_equal(rc.truncated_segment, SEG1);
	assert_int_equal(rc.truncated_offset, off100(5));
	assert_int_equal(rc.last_seq, 4);
	append_n(j, 5, 3, len_100, 0);
	wait_done(3);
	assert_int_equal(done_log.seq[0], 5);
	journal_close(j);
	read_back(state, 1, 7, len_100, true);
}

/* Garbage (not a record) after the end of the last segment's data is a
 * torn tail too: no valid record follows it. */
static void test_torn_garbage(void **state)
{
	write_100(state, 3);
	patch(seg_path(state, 1), off100(4) + 1000, "junk", 4);
	struct journal_recovery rc;
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_ALWAYS, 0, &rc);
	assert_int_equal(rc.truncated_bytes, 1004);
	assert_int_equal(rc.truncated_offset, off100(4));
	journal_close(j);
	read_back(state, 1, 3, len_100, true);
}

/* ---- the walk's commit order ------------------------------------------- */

/* One COMMIT of run 1 whose txn_id names it, with commit clock `clock`
 * (0: none, as a mid-query COMMIT). */
static void append_commit(struct journal *j, uint64_t txn, uint64_t clock)
{
	struct jstmt st = {.text = "INSERT INTO t VALUES (1)", .len = 24};
	struct jtxn t = {.run_id = 1, .session_id = txn, .txn_id = txn, .clock = clock, .stmts = &st, .nstmts = 1};
	uint8_t *p;
	size_t len;
	assert_true(jtxn_encode(&t, &p, &len));
	uint64_t seq;
	assert_int_equal(journal_append_wait(j, JREC_COMMIT, now_usec(), p, len, &seq), 0);
	free(p);
}

static size_t nwalked;
static uint64_t walked[16];

static bool note_txn(void *arg, const struct journal_record *rec, const struct jtxn *t)
{
	(void)arg;
	(void)rec;
	assert_true(nwalked < 16);
	walked[nwalked++] = t->txn_id;
	return true;
}

static void walk_expect(void **state, const struct journal_walk_range *range, const uint64_t *want, size_t n)
{
	struct journal_walk_summary sum;
	char why[256] = "";
	nwalked = 0;
	assert_int_equal(journal_walk(jdir(state), range, note_txn, NULL, &sum, why, sizeof(why)), 0);
	journal_walk_summary_free(&sum);
	assert_int_equal(nwalked, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(walked[i], want[i]);
}

/* Records in answer order, commits in clock order: a commit without a
 * clock (txn 3, read after txn 2 which waits for clock 1) goes after
 * every clocked commit read before it, and before the clocked one read
 * after it (txn 5); alone, it goes at once (txn 6 before nothing waits). */
static void test_walk_clock_order(void **state)
{
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	append_commit(j, 2, 2); /* seq 1 */
	append_commit(j, 3, 0); /* seq 2: mid-query COMMIT */
	append_commit(j, 1, 1); /* seq 3 */
	append_commit(j, 5, 4); /* seq 4 */
	append_commit(j, 4, 3); /* seq 5 */
	append_commit(j, 6, 0); /* seq 6 */
	journal_close(j);
	walk_expect(state, NULL, (const uint64_t[]){1, 2, 3, 4, 5, 6}, 6);
	/* A range ends at the first commit past it in that order: up to seq
	 * 3 the three read so far, in commit order. */
	struct journal_walk_range r = {.until_seq = 3};
	walk_expect(state, &r, (const uint64_t[]){1, 2, 3}, 3);
}

/* A clock value that never comes (a commit left in doubt): the commits
 * without a clock waiting behind it go, in order, at the end. */
static void test_walk_clock_gap(void **state)
{
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	append_commit(j, 1, 1);
	append_commit(j, 3, 3); /* clock 2 never comes */
	append_commit(j, 4, 0);
	append_commit(j, 5, 0);
	journal_close(j);
	walk_expect(state, NULL, (const uint64_t[]){1, 3, 4, 5}, 4);
}

/* An in-place restore back to seq 3 with its cut at seq 6: a walk across
 * the cut skips 4..6; one that stops before it sees the old branch; one
 * that starts inside the undone commits is told so and gets nothing; one
 * that starts after the cut is not concerned. */
static void test_walk_undo(void **state)
{
	struct journal *j = open_j(state, MIB, JOURNAL_FSYNC_OFF, 0, NULL);
	for (uint64_t txn = 1; txn <= 8; txn++)
		append_commit(j, txn, 0); /* seq = txn */
	journal_close(j);
	const struct journal_undo u = {.until_seq = 3, .cut_seq = 6, .cut_time_usec = 1};
	struct journal_walk_range r = {.undo = &u, .nundo = 1};
	walk_expect(state, &r, (const uint64_t[]){1, 2, 3, 7, 8}, 5);
	r.until_seq = 5;
	walk_expect(state, &r, (const uint64_t[]){1, 2, 3, 4, 5}, 5);
	r = (struct journal_walk_range){.from_seq = 7, .undo = &u, .nundo = 1};
	walk_expect(state, &r, (const uint64_t[]){7, 8}, 2);
	r = (struct journal_walk_range){.from_seq = 5, .undo = &u, .nundo = 1};
	struct journal_walk_summary sum;
	char why[256] = "";
	nwalked = 0;
	assert_int_equal(journal_walk(jdir(state), &r, note_txn, NULL, &sum, why, sizeof(why)), 0);
	assert_true(sum.undone_start);
	assert_int_equal(sum.undone_cut_seq, 6);
	assert_int_equal(nwalked, 0);
	journal_walk_summary_free(&sum);
}

/* The UNDO file: appended durably, read back; a damaged line is named. */
static void test_undo_file(void **state)
{
	struct journal_undo *u;
	size_t n;
	char why[512] = "";
	assert_int_equal(mkdir(jdir(state), 0700), 0);
	assert_true(journal_undo_load(jdir(state), &u, &n, why, sizeof(why)));
	assert_int_equal(n, 0);
	const struct journal_undo a = {3, 0, 6, 100}, b = {0, 1796220000000000ull, 90, 200};
	assert_true(journal_undo_append(jdir(state), &a, why, sizeof(why)));
	assert_true(journal_undo_append(jdir(state), &b, why, sizeof(why)));
	assert_true(journal_undo_load(jdir(state), &u, &n, why, sizeof(why)));
	assert_int_equal(n, 2);
	assert_memory_equal(&u[0], &a, sizeof(a));
	assert_memory_equal(&u[1], &b, sizeof(b));
	free(u);
	char path[512];
	snprintf(path, sizeof(path), "%s/" JOURNAL_UNDO_FILE, jdir(state));
	FILE *f = fopen(path, "a");
	assert_non_null(f);
	fputs("undo until_seq x\n", f);
	fclose(f);
	assert_false(journal_undo_load(jdir(state), &u, &n, why, sizeof(why)));
	assert_non_null(strstr(why, "line 3: expected 'undo until_seq N"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		T(test_corrupt_zero_length),
		T(test_corrupt_flipped_crc),
		T(test_corrupt_payload_byte),
		T(test_corrupt_back_pointer),
		T(test_corrupt_seq_gap),
		T(test_corrupt_bad_magic),
		T(test_corrupt_length),
		T(test_corrupt_segment_header),
		T(test_corrupt_gap_across_segments),
		T(test_corrupt_not_last_segment),
		T(test_torn_tail),
		T(test_torn_garbage),
		T(test_fsync_always),
		T(test_fsync_everysec),
		T(test_fsync_off),
		T(test_everysec_syncs_later),
		T(test_rotation),
		T(test_oversize_first_record),
		T(test_reopen_continues),
		T(test_single_writer),
		T(test_concurrent_appends),
		T(test_group_commit),
		T(test_retention),
		T(test_retention_floor),
		T(test_write_and_fsync_errors),
		T(test_everysec_fsync_error),
		T(test_full_disk_at_rotation),
		T(test_record_too_large),
		T(test_walk_clock_order),
		T(test_walk_clock_gap),
		T(test_walk_undo),
		T(test_undo_file),
	};
	return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
