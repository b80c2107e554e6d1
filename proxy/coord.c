/*
 * coord.c - see coord.h.
 *
 * A slot handed out is encoded with the connection's generation
 * (generation * COORD_SLOTS_MAX + index): after a reconnect the locks of
 * the old connection are gone, and a late release of one must not free
 * the same index a new holder took since.
 */
#include "coord.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "log.h"

#define COORD_CLASSES_MAX 4
#define COORD_SLOTS_MAX 64
#define COORD_NAME_MAX 64
/* How often waiting requests try the locks again. */
#define COORD_POLL_MS 10

enum coord_op { OP_ACQUIRE, OP_RELEASE };

struct coord_req {
	enum coord_op op;
	int cls, slot;
	uint64_t ticket;
	void *owner;
	struct coord_req *next;
};

struct coord {
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	struct coord_req *head, *tail; /* under lock: FIFO */
	/* The thread's own */
	struct replay_account acct; /* acct.conn: the server and account */
	MYSQL *m;
	int generation;
	time_t retry_at;
	bool degraded_logged;
	int nclasses;
	char names[COORD_CLASSES_MAX][COORD_NAME_MAX];
	unsigned limits[COORD_CLASSES_MAX];
	bool held[COORD_CLASSES_MAX][COORD_SLOTS_MAX];
	coord_grant_fn grant;
	void *arg;
	atomic_bool connected;
};

static void push(struct coord *c, struct coord_req *r)
{
	pthread_mutex_lock(&c->lock);
	r->next = NULL;
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

bool coord_acquire(struct coord *c, int cls, uint64_t ticket, void *owner)
{
	struct coord_req *r = calloc(1, sizeof(*r));
	if (!r)
		return false;
	*r = (struct coord_req){.op = OP_ACQUIRE, .cls = cls, .ticket = ticket, .owner = owner};
	push(c, r);
	return true;
}

void coord_release(struct coord *c, int cls, int slot)
{
	if (slot < 0)
		return;
	struct coord_req *r = calloc(1, sizeof(*r));
	if (!r) {
		log_error("throttle: out of memory giving back a coordinated slot; the server keeps it until "
			  "acctgate reconnects");
		return;
	}
	*r = (struct coord_req){.op = OP_RELEASE, .cls = cls, .slot = slot};
	push(c, r);
}

void coord_cancel(struct coord *c, uint64_t ticket)
{
	pthread_mutex_lock(&c->lock);
	struct coord_req **pp = &c->head, *prev = NULL;
	while (*pp) {
		struct coord_req *r = *pp;
		if (r->op == OP_ACQUIRE && r->ticket == ticket) {
			*pp = r->next;
			if (c->tail == r)
				c->tail = prev;
			free(r);
			break;
		}
		prev = r;
		pp = &r->next;
	}
	pthread_mutex_unlock(&c->lock);
}

bool coord_connected(struct coord *c) { return c->connected; }

/* ---- the thread ------------------------------------------------------------- */

static void lost(struct coord *c, const char *reason)
{
	char why[512]; /* reason may be the connection's own error text */
	snprintf(why, sizeof(why), "%s", reason);
	if (c->m)
		mysql_close(c->m);
	c->m = NULL;
	c->connected = false;
	memset(c->held, 0, sizeof(c->held));
	c->generation++;
	c->retry_at = time(NULL) + COORD_RETRY_SECONDS;
	if (!c->degraded_logged)
		log_error("throttle: coordination through the server is unavailable (%s): the limits hold per acctgate "
			  "only until it is back (retried every %d s)",
			  why, COORD_RETRY_SECONDS);
	c->degraded_logged = true;
}

static void try_connect(struct coord *c)
{
	if (c->m || time(NULL) < c->retry_at)
		return;
	char err[512];
	c->m = replay_connect(&c->acct.conn, err, sizeof(err));
	if (!c->m) {
		lost(c, err);
		return;
	}
	c->connected = true;
	if (c->degraded_logged)
		log_notice("throttle: coordination through the server is back: limits hold across acctgates again");
	else
		log_info("throttle: coordinating slots with other acctgates through %s:%u (named locks)", c->acct.conn.host,
			 c->acct.conn.port);
	c->degraded_logged = false;
}

/* One integer answer of a SELECT; -1 on NULL, -2 on error. */
static long long scalar(struct coord *c, const char *sql)
{
	if (mysql_query(c->m, sql) != 0) {
		char why[300];
		snprintf(why, sizeof(why), "%s: %s", sql, mysql_error(c->m));
		lost(c, why);
		return -2;
	}
	MYSQL_RES *res = mysql_store_result(c->m);
	MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
	long long v = row && row[0] ? strtoll(row[0], NULL, 10) : -1;
	if (res)
		mysql_free_result(res);
	return v;
}

/* A free slot of cls taken: its encoded number, -1 when all are busy,
 * -2 when the connection failed. */
static int take_slot(struct coord *c, int cls)
{
	for (unsigned i = 0; i < c->limits[cls]; i++) {
		if (c->held[cls][i])
			continue;
		char sql[128];
		snprintf(sql, sizeof(sql), "SELECT GET_LOCK('%s.%u', 0)", c->names[cls], i);
		long long v = scalar(c, sql);
		if (v == -2)
			return -2;
		if (v == 1) {
			c->held[cls][i] = true;
			return c->generation * COORD_SLOTS_MAX + (int)i;
		}
	}
	return -1;
}

static void give_back(struct coord *c, int cls, int slot)
{
	int gen = slot / COORD_SLOTS_MAX, i = slot % COORD_SLOTS_MAX;
	if (!c->m || gen != c->generation || !c->held[cls][i])
		return; /* its connection is gone, and the lock with it */
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT RELEASE_LOCK('%s.%d')", c->names[cls], i);
	c->held[cls][i] = false;
	scalar(c, sql);
}

/* Take the releases out of the queue and apply them; then serve the
 * acquires in order. True when some still wait for a slot. */
static bool serve(struct coord *c)
{
	pthread_mutex_lock(&c->lock);
	struct coord_req *all = c->head;
	c->head = c->tail = NULL;
	pthread_mutex_unlock(&c->lock);
	struct coord_req *waiting = NULL, **wtail = &waiting;
	for (struct coord_req *r = all, *next; r; r = next) {
		next = r->next;
		if (r->op == OP_RELEASE) {
			give_back(c, r->cls, r->slot);
			free(r);
		} else {
			r->next = NULL;
			*wtail = r;
			wtail = &r->next;
		}
	}
	try_connect(c);
	/* A connection killed under its locks (they are gone with it) is
	 * noticed within a second, not at the next release. */
	if (c->m && !waiting && mysql_ping(c->m) != 0)
		lost(c, mysql_error(c->m));
	struct coord_req *left = NULL, *left_last = NULL;
	for (struct coord_req *r = waiting, *next; r; r = next) {
		next = r->next;
		int slot = c->m ? take_slot(c, r->cls) : -2;
		if (slot == -1) {
			r->next = NULL;
			if (left_last)
				left_last->next = r;
			else
				left = r;
			left_last = r;
			continue;
		}
		c->grant(c->arg, r->owner, r->ticket, r->cls, slot < 0 ? -1 : slot);
		free(r);
	}
	if (!left)
		return false;
	/* Still waiting: back at the front, before what came meanwhile. */
	pthread_mutex_lock(&c->lock);
	left_last->next = c->head;
	if (!c->head)
		c->tail = left_last;
	c->head = left;
	pthread_mutex_unlock(&c->lock);
	return true;
}

static void *coord_main(void *arg)
{
	struct coord *c = arg;
	mysql_thread_init();
	for (;;) {
		bool waiting = serve(c);
		pthread_mutex_lock(&c->lock);
		if (c->stop) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		if (!c->head) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			long ms = waiting ? COORD_POLL_MS : 1000; /* a second: reconnect attempts go on */
			until.tv_nsec += ms * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&c->wake, &c->lock, &until);
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (c->m)
		mysql_close(c->m);
	c->m = NULL;
	mysql_thread_end();
	return NULL;
}

struct coord *coord_new(const struct replay_options *conn, const char *const *names, const unsigned *limits,
			int nclasses, coord_grant_fn grant, void *arg, char *err, size_t err_len)
{
	if (nclasses > COORD_CLASSES_MAX) {
		snprintf(err, err_len, "throttle: more than %d classes to coordinate", COORD_CLASSES_MAX);
		return NULL;
	}
	struct coord *c = calloc(1, sizeof(*c));
	if (!c || pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		snprintf(err, err_len, "throttle: out of memory");
		return NULL;
	}
	pthread_cond_init(&c->wake, NULL);
	replay_account_copy(&c->acct, conn);
	c->nclasses = nclasses;
	for (int i = 0; i < nclasses; i++) {
		snprintf(c->names[i], sizeof(c->names[i]), "acctgate.%s", names[i]);
		c->limits[i] = limits[i] < COORD_SLOTS_MAX ? limits[i] : COORD_SLOTS_MAX;
	}
	c->grant = grant;
	c->arg = arg;
	int e = pthread_create(&c->thread, NULL, coord_main, c);
	if (e) {
		snprintf(err, err_len, "throttle: cannot start the coordination thread: %s", strerror(e));
		coord_free(c);
		return NULL;
	}
	c->started = true;
	return c;
}

void coord_free(struct coord *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_signal(&c->wake);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->thread, NULL);
	}
	for (struct coord_req *r = c->head, *next; r; r = next) {
		next = r->next;
		free(r);
	}
	memset(c->acct.password, 0, sizeof(c->acct.password));
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
