/*
 * journal_writer.c - the journal's write side (journal.h): recovery at
 * open, the one writer thread, group commit, segment rotation, retention,
 * and what happens when the disk says no. The format it writes is drawn
 * in journal.c.
 *
 * Threads. journal_append (any thread) builds the record in a heap entry,
 * computes the payload's CRC, and queues it under j->lock. The writer
 * thread takes the whole queue at once (a batch), writes every record at
 * the current segment's end, then applies the fsync policy and calls the
 * completions in queue order, without the lock. Everything in the "writer
 * only" part of struct journal is touched by that thread alone (and by
 * journal_open before the thread starts). Segment files are created and
 * deleted by the writer alone: journal_set_floor only leaves the new floor
 * under the lock and wakes it.
 *
 * Positions. `cur` is where the next record goes; `durable` is cur as of
 * the last successful fdatasync (or segment creation). A segment is only
 * left behind once it is durable (rotation fsyncs it first), so both
 * always lie in the current segment, and "everything since the last good
 * fsync" is the byte range [durable.off, cur.off) of one file.
 */
#include "journal_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct jentry {
	struct jentry *next;
	journal_done_fn done;
	void *arg;
	int err;              /* preset (EMSGSIZE) or the outcome */
	uint64_t seq;         /* given by the writer when written */
	uint64_t time_usec;
	uint32_t payload_crc;
	size_t size;          /* on disk: header + payload + padding; 0: a release alone */
	uint64_t reserve;     /* bytes to keep free after it, for its outcome */
	uint64_t release;     /* bytes an earlier record reserved, given back */
	uint8_t rec[];        /* the record; the writer fills seq, prev and crc */
};

/* A position in the current segment. */
struct jpos {
	uint64_t off;      /* where the next record goes */
	uint64_t last_off; /* the record before it (its prev), 0 if none */
	uint64_t seq;      /* the sequence number it will carry */
};

/* A segment still on disk, for retention. */
struct jseg {
	uint64_t first_seq;
	uint64_t newest_usec; /* newest record's time; creation time while empty */
};

struct journal {
	struct journal_options o;
	char *dir;
	int dirfd; /* holds the flock that keeps a second daemon out */
	pthread_t thread;

	pthread_mutex_t lock;
	pthread_cond_t cond;           /* queue not empty, or closing */
	struct jentry *head, *tail;    /* under lock */
	bool closing;                  /* under lock */
	struct journal_stats st;       /* under lock: published copy of ws */
	uint64_t floor_req;            /* under lock: journal_set_floor's, for the writer to take */
	bool trim_req;
	bool retain_due;               /* under lock: a new floor to apply now */

	/* writer only */
	struct journal_stats ws;
	int fd;
	uint64_t seg_size;
	struct jpos cur, durable;
	uint64_t dirty_end;       /* a failed write may have left bytes in [cur.off, dirty_end) */
	uint64_t reserved;        /* bytes promised to outcome records not yet written */
	bool unsynced;            /* written since the last fdatasync */
	struct timespec last_sync;
	struct jseg *segs;
	size_t nsegs, segs_cap;
	uint64_t floor;           /* the floor and trim retention applies (journal.h) */
	bool trim;
};

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int zero_range(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[65536];
	while (from < to) {
		size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
		int r = pwrite_all(fd, zeros, n, from);
		if (r)
			return r;
		from += n;
	}
	return 0;
}

/* Zero [from, to) of the current segment: the bytes a failed write may
 * have left. Those zeros must reach the disk before the segment is left
 * behind (a non-last segment with garbage after its end reads as
 * corruption), hence unsynced. */
static int seg_zero(struct journal *j, uint64_t from, uint64_t to)
{
	j->unsynced = true;
	return zero_range(j->fd, from, to);
}

static bool segs_push(struct journal *j, uint64_t first_seq, uint64_t newest_usec)
{
	if (j->nsegs == j->segs_cap) {
		size_t cap = j->segs_cap ? j->segs_cap * 2 : 16;
		struct jseg *n = realloc(j->segs, cap * sizeof(*n));
		if (!n)
			return false;
		j->segs = n;
		j->segs_cap = cap;
	}
	j->segs[j->nsegs++] = (struct jseg){first_seq, newest_usec};
	return true;
}

/* ---- segments ------------------------------------------------------------ */

/*
 * Create the segment that starts at first_seq, whole: preallocated under a
 * temporary name (so a crash never leaves a segment without its header or
 * its size), header written, fsynced, renamed, directory fsynced. The
 * preallocation is what lets every later record and commit marker in it
 * be written without meeting a full disk: ENOSPC can only happen here,
 * between records. 0 and *fdp, or an errno.
 */
static int segment_create(struct journal *j, uint64_t first_seq, uint64_t size, int *fdp)
{
	char name[JNL_NAME_LEN + 1], tmp[JNL_NAME_LEN + 8];
	jnl_segment_name(name, first_seq);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	int fd = openat(j->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno;
	uint8_t hdr[JNL_SEG_HDR];
	jnl_segment_header(hdr, first_seq, now_usec(), size);
	int r = jnl_injected(JOURNAL_TEST_CREATE);
	if (!r)
		r = posix_fallocate(fd, 0, (off_t)size); /* returns the error, leaves errno alone */
	if (!r)
		r = pwrite_all(fd, hdr, sizeof(hdr), 0);
	if (!r && fsync(fd) != 0)
		r = errno;
	if (!r && renameat(j->dirfd, tmp, j->dirfd, name) != 0)
		r = errno;
	if (r) {
		close(fd);
		unlinkat(j->dirfd, tmp, 0);
		return r;
	}
	if (fsync(j->dirfd) != 0) {
		/* The name may not survive a crash; the file is complete either
		 * way, so use it (a later directory fsync, at the next rotation
		 * or deletion, makes it stick). */
		j->ws.last_errno = errno;
	}
	*fdp = fd;
	return 0;
}

/*
 * fdatasync the current segment. On failure, Linux reports a writeback
 * error once and may already have marked the failed pages clean (data
 * dropped, page cache still showing it): retrying fsync can "succeed"
 * without the bytes ever reaching the disk (PostgreSQL's "fsyncgate",
 * 2018). So nothing written since the last good fsync is trusted:
 *  - fsync=always: those records were not acknowledged yet; the writer
 *    goes back to `durable` and zeroes the range, and the batch fails them
 *    with EIO. Their sequence numbers are given out again, so no gap.
 *  - everysec/off: they were acknowledged at write time and cannot be
 *    taken back; the range is written again from the page cache, which
 *    makes those pages dirty again, so the next fsync really sends them.
 */
static int segment_sync(struct journal *j)
{
	int r = jnl_injected(JOURNAL_TEST_FSYNC);
	if (!r && fdatasync(j->fd) != 0)
		r = errno;
	j->ws.fsyncs++;
	clock_gettime(CLOCK_MONOTONIC, &j->last_sync);
	if (!r) {
		j->durable = j->cur;
		j->unsynced = false;
		j->ws.durable_seq = j->durable.seq - 1;
		return 0;
	}
	j->ws.last_errno = r;
	if (j->o.fsync == JOURNAL_FSYNC_ALWAYS) {
		if (j->dirty_end < j->cur.off)
			j->dirty_end = j->cur.off;
		j->cur = j->durable;
		if (seg_zero(j, j->cur.off, j->dirty_end) == 0)
			j->dirty_end = 0;
		return r;
	}
	uint8_t buf[65536];
	for (uint64_t off = j->durable.off; off < j->cur.off;) {
		size_t n = j->cur.off - off < sizeof(buf) ? (size_t)(j->cur.off - off) : sizeof(buf);
		ssize_t got = pread(j->fd, buf, n, (off_t)off);
		if (got <= 0 || pwrite_all(j->fd, buf, (size_t)got, off) != 0)
			break; /* the next fsync fails too and retries this */
		off += (uint64_t)got;
	}
	return r;
}

/* Whether the rules of journal.h's "Retention" let segment n go (n is not
 * the current one: the next segment's first sequence number is one past
 * its last record). */
static bool segment_expired(const struct journal *j, size_t n, uint64_t now)
{
	bool before_floor = j->floor && j->segs[n + 1].first_seq <= j->floor;
	if (j->floor && !before_floor)
		return false; /* the oldest kept snapshot is rolled forward from here */
	if (!j->o.retention_sec && !j->trim)
		return false;
	uint64_t keep = j->o.retention_sec * 1000000u;
	bool aged = j->segs[n].newest_usec < now && now - j->segs[n].newest_usec > keep;
	return (!j->o.retention_sec || aged) && (!j->trim || before_floor);
}

/* Delete the oldest segments retention lets go of, never the current one
 * and only from the front, so what stays is still one unbroken run of
 * sequence numbers. */
static void retention_apply(struct journal *j)
{
	uint64_t now = now_usec();
	size_t n = 0;
	while (n + 1 < j->nsegs && segment_expired(j, n, now)) {
		char name[JNL_NAME_LEN + 1];
		jnl_segment_name(name, j->segs[n].first_seq);
		if (unlinkat(j->dirfd, name, 0) != 0 && errno != ENOENT) {
			j->ws.last_errno = errno;
			break;
		}
		n++;
	}
	if (!n)
		return;
	memmove(j->segs, j->segs + n, (j->nsegs - n) * sizeof(*j->segs));
	j->nsegs -= n;
	/* A deletion lost in a crash only means retention runs again. */
	fsync(j->dirfd);
}

/* Move on to a new segment big enough for a record of `need` bytes. The
 * old one is made durable first: a record is never written to a new
 * segment while the previous one might still lose its tail. */
static int segment_rotate(struct journal *j, uint64_t need)
{
	if (j->unsynced) {
		int r = segment_sync(j);
		if (r)
			return r;
	}
	uint64_t size = j->o.segment_size;
	if (size < JNL_SEG_HDR + need)
		size = JNL_SEG_HDR + need; /* a record larger than a segment gets one of its own */
	/* A current segment without records (a record too big for it comes
	 * first) has the new one's name: the rename replaces it, atomically,
	 * and it keeps its place in the list. */
	bool replace = j->cur.off == JNL_SEG_HDR;
	if (!replace && !segs_push(j, j->cur.seq, 0))
		return ENOMEM;
	int fd;
	int r = segment_create(j, j->cur.seq, size, &fd);
	if (r) {
		if (!replace)
			j->nsegs--;
		return r;
	}
	j->segs[j->nsegs - 1].newest_usec = now_usec();
	close(j->fd);
	j->fd = fd;
	j->seg_size = size;
	j->cur = (struct jpos){JNL_SEG_HDR, 0, j->cur.seq};
	j->durable = j->cur;
	j->dirty_end = 0;
	j->ws.segments = j->nsegs;
	retention_apply(j);
	j->ws.segments = j->nsegs;
	return 0;
}

/* ---- the writer thread ------------------------------------------------- */

/* Write one record at cur, rotating first if it does not fit. 0, or the
 * errno with cur unchanged (the record's bytes zeroed again if possible;
 * if not, dirty_end makes the next write retry that first). */
static int write_record(struct journal *j, struct jentry *e)
{
	int r;
	if (j->dirty_end > j->cur.off) {
		r = seg_zero(j, j->cur.off, j->dirty_end);
		if (r)
			return r;
		j->dirty_end = 0;
	}
	if (e->size == 0) {
		j->reserved -= e->release < j->reserved ? e->release : j->reserved;
		return 0;
	}
	/* An outcome may use the room reserved for it; any other record must
	 * leave every reservation, its own included, in the segment. A
	 * rotation carries the reservations over: the new segment is
	 * preallocated with room for them. */
	uint64_t keep = e->release ? 0 : j->reserved + e->reserve;
	if (j->cur.off + e->size + keep > j->seg_size) {
		r = segment_rotate(j, e->size + keep);
		if (r)
			return r;
	}
	jnl_put64(e->rec + 16, j->cur.seq);
	jnl_put64(e->rec + 24, j->cur.last_off);
	jnl_put32(e->rec + 12, jnl_record_crc(e->payload_crc, e->rec));
	r = jnl_injected(JOURNAL_TEST_WRITE);
	if (!r)
		r = pwrite_all(j->fd, e->rec, e->size, j->cur.off);
	if (r) {
		j->dirty_end = j->cur.off + e->size;
		if (seg_zero(j, j->cur.off, j->dirty_end) == 0)
			j->dirty_end = 0;
		return r;
	}
	e->seq = j->cur.seq;
	j->cur.last_off = j->cur.off;
	j->cur.off += e->size;
	j->cur.seq++;
	j->reserved -= e->release < j->reserved ? e->release : j->reserved;
	j->reserved += e->reserve;
	j->unsynced = true;
	j->segs[j->nsegs - 1].newest_usec = e->time_usec;
	return 0;
}

static void publish(struct journal *j)
{
	j->ws.last_seq = j->cur.seq - 1;
	j->ws.first_seq = j->nsegs && j->segs[0].first_seq < j->cur.seq ? j->segs[0].first_seq : 0;
	pthread_mutex_lock(&j->lock);
	j->st = j->ws;
	pthread_mutex_unlock(&j->lock);
}

/* Count the batch's outcomes and publish them first, so a caller that
 * reads the stats after its completion sees them; then call the
 * completions in queue order (= sequence order) and free. */
static void complete_batch(struct journal *j, struct jentry *batch)
{
	for (struct jentry *e = batch; e; e = e->next) {
		if (e->size == 0 && !e->err) {
			continue; /* a release alone: no record */
		} else if (e->err) {
			j->ws.errors++;
			j->ws.last_errno = e->err;
		} else {
			j->ws.records++;
			j->ws.bytes += e->size;
			j->ws.last_errno = 0;
			j->ws.last_time_usec = e->time_usec;
		}
	}
	publish(j);
	while (batch) {
		struct jentry *next = batch->next;
		if (batch->done)
			batch->done(batch->arg, batch->err ? 0 : batch->seq, batch->err);
		free(batch);
		batch = next;
	}
}

static void write_batch(struct journal *j, struct jentry *batch)
{
	int fail = 0;
	for (struct jentry *e = batch; e; e = e->next) {
		if (e->err)
			continue;
		/* After a failure nothing later may be written (it would take
		 * the failed record's place in the order), but for outcomes:
		 * their room is reserved, and their transactions committed. */
		if (fail && !e->release) {
			e->err = fail;
			continue;
		}
		int r = write_record(j, e);
		e->err = r;
		if (r && !e->release)
			fail = r;
	}
	if (j->o.fsync == JOURNAL_FSYNC_ALWAYS) {
		/* Group commit: one fdatasync for the whole batch. */
		if (j->unsynced)
			segment_sync(j);
		/* Whatever the last good fsync does not cover failed (a failed
		 * rotation fsync or this one rewound cur to durable). */
		for (struct jentry *e = batch; e; e = e->next)
			if (!e->err && e->seq >= j->durable.seq)
				e->err = EIO;
	}
	complete_batch(j, batch);
}

static bool sync_due(const struct journal *j)
{
	if (j->o.fsync != JOURNAL_FSYNC_EVERYSEC || !j->unsynced)
		return false;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > j->last_sync.tv_sec + 1 ||
	       (now.tv_sec == j->last_sync.tv_sec + 1 && now.tv_nsec >= j->last_sync.tv_nsec);
}

static void *writer_main(void *arg)
{
	struct journal *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		while (!j->head && !j->closing && !j->retain_due && !sync_due(j)) {
			if (j->o.fsync == JOURNAL_FSYNC_EVERYSEC && j->unsynced) {
				struct timespec at = j->last_sync;
				at.tv_sec += 1;
				pthread_cond_timedwait(&j->cond, &j->lock, &at);
			} else {
				pthread_cond_wait(&j->cond, &j->lock);
			}
		}
		struct jentry *batch = j->head;
		j->head = j->tail = NULL;
		bool closing = j->closing;
		bool retain = j->retain_due;
		j->retain_due = false;
		j->floor = j->floor_req;
		j->trim = j->trim_req;
		pthread_mutex_unlock(&j->lock);
		if (batch)
			write_batch(j, batch);
		if (retain) {
			retention_apply(j);
			j->ws.segments = j->nsegs;
		}
		if (sync_due(j))
			segment_sync(j);
		if (!batch && closing)
			break;
		publish(j);
	}
	if (j->unsynced)
		segment_sync(j);
	publish(j);
	return NULL;
}

/* ---- open, recovery ------------------------------------------------------ */

/* Leftovers of a segment creation a crash interrupted: never renamed, so
 * never used. */
static void remove_temporaries(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n == JNL_NAME_LEN + 4 && strcmp(de->d_name + JNL_NAME_LEN, ".tmp") == 0)
			unlinkat(dirfd, de->d_name, 0);
	}
	closedir(d);
}

/*
 * Read the whole journal as the reader does, collect the segment list with
 * each one's newest time, and find where the writer continues: after the
 * last good record of the last segment. A torn tail there is zeroed and
 * fsynced. False with err filled.
 */
static bool recover(struct journal *j, struct journal_recovery *rec, char *err, size_t err_len)
{
	uint64_t *list;
	size_t n;
	if (!jnl_list_segments(j->dirfd, &list, &n)) {
		snprintf(err, err_len, "%s: reading the directory: %s", j->dir, strerror(errno));
		return false;
	}
	bool ok = false;
	/* newest_usec 0 until a record says otherwise: a segment without
	 * records keeps nothing, so retention may take it with those before. */
	for (size_t i = 0; i < n; i++)
		if (!segs_push(j, list[i], 0)) {
			snprintf(err, err_len, "journal: out of memory");
			goto out;
		}
	struct journal_reader *r = journal_reader_open(j->dir, err, err_len);
	if (!r)
		goto out;
	struct journal_record jr;
	char why[JNL_WHY];
	enum journal_read res;
	size_t seg = 0;
	j->cur = (struct jpos){JNL_SEG_HDR, 0, n ? list[n - 1] : 1};
	while ((res = journal_reader_next(r, &jr, why, sizeof(why))) == JOURNAL_READ_RECORD) {
		if (!rec->first_seq)
			rec->first_seq = jr.seq;
		rec->last_seq = jr.seq;
		rec->last_time_usec = jr.time_usec;
		uint64_t first;
		if (jnl_parse_name(jr.segment, &first))
			while (seg + 1 < j->nsegs && j->segs[seg + 1].first_seq <= first)
				seg++;
		j->segs[seg].newest_usec = jr.time_usec;
		if (seg + 1 == j->nsegs)
			j->cur = (struct jpos){jr.offset + jnl_rec_size(jr.len), jr.offset, jr.seq + 1};
	}
	if (res != JOURNAL_READ_END) {
		snprintf(err, err_len, "%s", why);
		journal_reader_close(r);
		goto out;
	}
	const char *torn_seg;
	if (journal_reader_torn(r, &rec->truncated_bytes, &torn_seg, &rec->truncated_offset))
		snprintf(rec->truncated_segment, sizeof(rec->truncated_segment), "%s", torn_seg);
	journal_reader_close(r);

	if (n) {
		char name[JNL_NAME_LEN + 1];
		jnl_segment_name(name, list[n - 1]);
		j->fd = openat(j->dirfd, name, O_RDWR | O_CLOEXEC);
		struct stat st;
		if (j->fd < 0 || fstat(j->fd, &st) != 0) {
			snprintf(err, err_len, "%s/%s: %s", j->dir, name, strerror(errno));
			goto out;
		}
		j->seg_size = (uint64_t)st.st_size;
		if (rec->truncated_bytes) {
			int e = zero_range(j->fd, rec->truncated_offset, rec->truncated_offset + rec->truncated_bytes);
			if (!e && fdatasync(j->fd) != 0)
				e = errno;
			if (e) {
				snprintf(err, err_len, "%s/%s: truncating the torn tail at offset %" PRIu64 ": %s",
					 j->dir, name, rec->truncated_offset, strerror(e));
				goto out;
			}
		}
	} else {
		int e = segment_create(j, 1, j->o.segment_size, &j->fd);
		if (e) {
			snprintf(err, err_len, "%s: creating the first segment: %s", j->dir, strerror(e));
			goto out;
		}
		j->seg_size = j->o.segment_size;
		if (!segs_push(j, 1, now_usec())) {
			snprintf(err, err_len, "journal: out of memory");
			goto out;
		}
	}
	/* What an earlier run wrote under fsync=off may still be only in the
	 * page cache: make it as durable as what follows will be. */
	if (fdatasync(j->fd) != 0) {
		snprintf(err, err_len, "%s: fdatasync: %s", j->dir, strerror(errno));
		goto out;
	}
	j->durable = j->cur;
	rec->segments = j->nsegs;
	ok = true;
out:
	free(list);
	return ok;
}

static struct journal *journal_free(struct journal *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j->segs);
	free(j->dir);
	free(j);
	return NULL;
}

struct journal *journal_open(const struct journal_options *o, struct journal_recovery *rec, char *err,
			     size_t err_len)
{
	memset(rec, 0, sizeof(*rec));
	if (!o->dir || !o->dir[0]) {
		snprintf(err, err_len, "journal: no directory given");
		return NULL;
	}
	if (o->segment_size < JNL_SEG_MIN) {
		snprintf(err, err_len, "journal: segment_size %" PRIu64 " is below the minimum %u", o->segment_size,
			 JNL_SEG_MIN);
		return NULL;
	}
	if (o->fsync != JOURNAL_FSYNC_ALWAYS && o->fsync != JOURNAL_FSYNC_EVERYSEC && o->fsync != JOURNAL_FSYNC_OFF) {
		snprintf(err, err_len, "journal: unknown fsync policy %d", (int)o->fsync);
		return NULL;
	}
	struct journal *j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(o->dir))) {
		free(j);
		snprintf(err, err_len, "journal: out of memory");
		return NULL;
	}
	j->o = *o;
	j->o.dir = j->dir;
	j->o.segment_size = (o->segment_size + 7) & ~(uint64_t)7;
	j->fd = -1;
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	clock_gettime(CLOCK_MONOTONIC, &j->last_sync);

	if (mkdir(j->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, err_len, "%s: cannot create: %s", j->dir, strerror(errno));
		j->dirfd = -1;
		return journal_free(j);
	}
	j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		snprintf(err, err_len, "%s: %s", j->dir, strerror(errno));
		return journal_free(j);
	}
	/* Two writers would interleave records; the lock goes with the fd. */
	if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, err_len, "%s: %s", j->dir,
			 errno == EWOULDBLOCK ? "in use by another journal writer" : strerror(errno));
		return journal_free(j);
	}
	if (faccessat(j->dirfd, ".", W_OK, AT_EACCESS) != 0) {
		snprintf(err, err_len, "%s: not writable: %s", j->dir, strerror(errno));
		return journal_free(j);
	}
	remove_temporaries(j->dirfd);
	if (!recover(j, rec, err, err_len))
		return journal_free(j);
	j->ws.segments = j->nsegs;
	j->ws.durable_seq = j->cur.seq - 1;
	j->ws.last_time_usec = rec->last_time_usec;
	publish(j);
	int e = pthread_create(&j->thread, NULL, writer_main, j);
	if (e) {
		snprintf(err, err_len, "journal: starting the writer thread: %s", strerror(e));
		return journal_free(j);
	}
	return j;
}

/* ---- the callers' side ---------------------------------------------------- */

/* Hand an entry to the writer: the order of calls is the journal's. */
static void enqueue(struct journal *j, struct jentry *e)
{
	pthread_mutex_lock(&j->lock);
	if (j->tail)
		j->tail->next = e;
	else
		j->head = e;
	j->tail = e;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

bool journal_append(struct journal *j, uint8_t type, uint64_t time_usec, const void *payload, size_t len,
		    journal_done_fn done, void *arg)
{
	return journal_append_reserving(j, type, time_usec, payload, len, 0, 0, done, arg);
}

/* journal_append_wait's rendezvous with the writer thread. */
struct append_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	uint64_t seq;
	int err;
};

static void append_waited(void *arg, uint64_t seq, int err)
{
	struct append_wait *w = arg;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->seq = seq;
	w->err = err;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int journal_append_wait(struct journal *j, uint8_t type, uint64_t time_usec, const void *payload, size_t len,
			uint64_t *seq)
{
	struct append_wait w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	if (!journal_append(j, type, time_usec, payload, len, append_waited, &w))
		return ENOMEM;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	if (seq)
		*seq = w.seq;
	return w.err;
}

bool journal_release(struct journal *j, uint64_t release)
{
	struct jentry *e = calloc(1, sizeof(*e));
	if (!e)
		return false;
	e->release = release;
	enqueue(j, e);
	return true;
}

bool journal_append_reserving(struct journal *j, uint8_t type, uint64_t time_usec, const void *payload, size_t len,
			      uint64_t reserve, uint64_t release, journal_done_fn done, void *arg)
{
	/* Too large a record is refused through its completion, in its place
	 * in the order, like any other failure. */
	bool too_big = len > JOURNAL_RECORD_MAX;
	size_t size = too_big ? 0 : (size_t)jnl_rec_size(len);
	struct jentry *e = malloc(sizeof(*e) + size);
	if (!e)
		return false;
	*e = (struct jentry){.done = done, .arg = arg, .err = too_big ? EMSGSIZE : 0, .time_usec = time_usec,
			     .size = size, .reserve = reserve, .release = release};
	if (!too_big) {
		memset(e->rec, 0, JNL_REC_HDR);
		jnl_put32(e->rec, JNL_REC_MAGIC);
		e->rec[4] = type;
		jnl_put32(e->rec + 8, (uint32_t)len);
		jnl_put64(e->rec + 32, time_usec);
		if (len)
			memcpy(e->rec + JNL_REC_HDR, payload, len);
		memset(e->rec + JNL_REC_HDR + len, 0, size - JNL_REC_HDR - len);
		e->payload_crc = journal_crc32c(0, e->rec + JNL_REC_HDR, len);
	}
	enqueue(j, e);
	return true;
}

void journal_set_floor(struct journal *j, uint64_t floor, bool trim)
{
	pthread_mutex_lock(&j->lock);
	j->floor_req = floor;
	j->trim_req = trim;
	j->retain_due = true;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

void journal_get_stats(struct journal *j, struct journal_stats *out)
{
	pthread_mutex_lock(&j->lock);
	*out = j->st;
	pthread_mutex_unlock(&j->lock);
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->closing = true;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	pthread_join(j->thread, NULL);
	journal_free(j);
}
