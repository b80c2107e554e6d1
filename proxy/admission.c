/*
 * admission.c - see admission.h. Sizes are small (a handful of clusters,
 * a slot or two, tens of waiters at worst), so plain arrays searched
 * linearly beat anything cleverer and keep the invariants easy to read:
 * a waiter is in exactly one cluster's FIFO, a holder in the holders list.
 */
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fifo {
	struct admission_waiter *w;
	size_t n, cap;
};

struct cluster {
	struct admission_cluster_stats st;
	struct fifo q;
};

struct holder {
	uint64_t id;
	size_t cluster;
};

struct admission {
	unsigned limit;
	struct cluster clusters[ADMISSION_CLUSTERS_MAX];
	size_t nclusters;
	size_t next;              /* the cluster served next (round robin) */
	struct holder *holders;
	size_t nholders, holders_cap;
	uint64_t admitted, waited, timed_out, wait_ms_max;
};

struct admission *admission_new(unsigned limit)
{
	struct admission *a = calloc(1, sizeof(*a));
	if (a)
		a->limit = limit;
	return a;
}

void admission_free(struct admission *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->nclusters; i++)
		free(a->clusters[i].q.w);
	free(a->holders);
	free(a);
}

void admission_set_limit(struct admission *a, unsigned limit) { a->limit = limit; }

/* The cluster's index; the last slot is shared once all are taken. */
static size_t cluster_index(struct admission *a, const char *name)
{
	for (size_t i = 0; i < a->nclusters; i++)
		if (strcmp(a->clusters[i].st.name, name) == 0)
			return i;
	if (a->nclusters == ADMISSION_CLUSTERS_MAX)
		return ADMISSION_CLUSTERS_MAX - 1;
	struct cluster *c = &a->clusters[a->nclusters];
	memset(c, 0, sizeof(*c));
	snprintf(c->st.name, sizeof(c->st.name), "%s", a->nclusters == ADMISSION_CLUSTERS_MAX - 1 ? "(others)" : name);
	return a->nclusters++;
}

static bool hold(struct admission *a, uint64_t id, size_t cluster)
{
	if (a->nholders == a->holders_cap) {
		size_t cap = a->holders_cap ? a->holders_cap * 2 : 8;
		struct holder *p = realloc(a->holders, cap * sizeof(*p));
		if (!p)
			return false;
		a->holders = p;
		a->holders_cap = cap;
	}
	a->holders[a->nholders++] = (struct holder){id, cluster};
	a->clusters[cluster].st.holding++;
	a->clusters[cluster].st.admitted++;
	a->admitted++;
	return true;
}

enum admission_verdict admission_request(struct admission *a, const char *cluster, uint64_t id, void *owner,
					 uint64_t now_ms)
{
	size_t ci = cluster_index(a, cluster);
	struct cluster *c = &a->clusters[ci];
	size_t waiting = 0;
	for (size_t i = 0; i < a->nclusters; i++)
		waiting += a->clusters[i].q.n;
	/* Nobody may pass those already waiting, whatever their cluster. */
	if (a->nholders < a->limit && waiting == 0)
		return hold(a, id, ci) ? ADMISSION_ADMITTED : ADMISSION_REFUSED;
	struct fifo *q = &c->q;
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 8;
		struct admission_waiter *p = realloc(q->w, cap * sizeof(*p));
		if (!p)
			return ADMISSION_REFUSED;
		q->w = p;
		q->cap = cap;
	}
	q->w[q->n++] = (struct admission_waiter){id, owner, now_ms};
	c->st.waiting++;
	c->st.waited++;
	a->waited++;
	return ADMISSION_QUEUED;
}

/* Admit the front waiter of the next cluster that has one, into out. */
static bool admit_next(struct admission *a, uint64_t now_ms, struct admission_waiter *out)
{
	for (size_t k = 0; k < a->nclusters; k++) {
		size_t ci = (a->next + k) % a->nclusters;
		struct cluster *c = &a->clusters[ci];
		if (!c->q.n)
			continue;
		struct admission_waiter w = c->q.w[0];
		if (!hold(a, w.id, ci))
			return false;
		memmove(c->q.w, c->q.w + 1, (c->q.n - 1) * sizeof(*c->q.w));
		c->q.n--;
		c->st.waiting--;
		uint64_t waited = now_ms > w.since_ms ? now_ms - w.since_ms : 0;
		c->st.wait_ms_total += waited;
		if (waited > c->st.wait_ms_max)
			c->st.wait_ms_max = waited;
		if (waited > a->wait_ms_max)
			a->wait_ms_max = waited;
		a->next = (ci + 1) % a->nclusters;
		*out = w;
		return true;
	}
	return false;
}

size_t admission_fill(struct admission *a, uint64_t now_ms, struct admission_waiter *out, size_t cap)
{
	size_t n = 0;
	while (n < cap && a->nholders < a->limit && admit_next(a, now_ms, &out[n]))
		n++;
	return n;
}

size_t admission_leave(struct admission *a, uint64_t id, bool timed_out, uint64_t now_ms,
		       struct admission_waiter *out, size_t cap)
{
	for (size_t i = 0; i < a->nholders; i++) {
		if (a->holders[i].id != id)
			continue;
		a->clusters[a->holders[i].cluster].st.holding--;
		a->holders[i] = a->holders[--a->nholders];
		return admission_fill(a, now_ms, out, cap);
	}
	for (size_t ci = 0; ci < a->nclusters; ci++) {
		struct cluster *c = &a->clusters[ci];
		for (size_t i = 0; i < c->q.n; i++) {
			if (c->q.w[i].id != id)
				continue;
			memmove(c->q.w + i, c->q.w + i + 1, (c->q.n - i - 1) * sizeof(*c->q.w));
			c->q.n--;
			c->st.waiting--;
			if (timed_out) {
				c->st.timed_out++;
				a->timed_out++;
			}
			return 0;
		}
	}
	return 0;
}

bool admission_oldest_before(const struct admission *a, uint64_t deadline_ms, struct admission_waiter *out)
{
	bool found = false;
	for (size_t ci = 0; ci < a->nclusters; ci++) {
		const struct fifo *q = &a->clusters[ci].q;
		/* Each FIFO is in arrival order: its front is its oldest. */
		if (q->n && q->w[0].since_ms <= deadline_ms && (!found || q->w[0].since_ms < out->since_ms)) {
			*out = q->w[0];
			found = true;
		}
	}
	return found;
}

bool admission_holds(const struct admission *a, uint64_t id)
{
	for (size_t i = 0; i < a->nholders; i++)
		if (a->holders[i].id == id)
			return true;
	return false;
}

void admission_stats(const struct admission *a, struct admission_stats *out)
{
	size_t waiting = 0;
	for (size_t i = 0; i < a->nclusters; i++)
		waiting += a->clusters[i].q.n;
	*out = (struct admission_stats){.limit = a->limit,
					.holding = (unsigned)a->nholders,
					.waiting = (unsigned)waiting,
					.admitted = a->admitted,
					.waited = a->waited,
					.timed_out = a->timed_out,
					.wait_ms_max = a->wait_ms_max,
					.nclusters = a->nclusters};
}

bool admission_cluster_at(const struct admission *a, size_t i, struct admission_cluster_stats *out)
{
	if (i >= a->nclusters)
		return false;
	*out = a->clusters[i].st;
	return true;
}
