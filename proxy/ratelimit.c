/*
 * ratelimit.c - see ratelimit.h.
 *
 * One cluster's bucket: emission interval T = 1 s / rate, tolerance
 * tau = (burst - 1) * T. A request at `now` may start at
 * max(tat, now) - tau (at once if that is not later than now); it moves
 * tat on by T. Giving back moves tat back by T, never before the latest
 * time seen, so a bucket cannot be saved up beyond its burst.
 */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bucket {
	char name[ADMISSION_CLUSTER_NAME_MAX];
	uint64_t tat_us;
	uint64_t last_us;        /* the latest time a caller told us */
	struct admission_cluster_stats st;
};

struct ratelimit {
	unsigned rate, burst;
	uint64_t interval_us, tolerance_us;
	struct bucket buckets[ADMISSION_CLUSTERS_MAX];
	size_t n;
};

struct ratelimit *ratelimit_new(unsigned rate, unsigned burst)
{
	if (!rate)
		return NULL;
	struct ratelimit *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->rate = rate;
	r->burst = burst ? burst : rate;
	r->interval_us = 1000000u / rate ? 1000000u / rate : 1;
	r->tolerance_us = (uint64_t)(r->burst - 1) * r->interval_us;
	return r;
}

void ratelimit_free(struct ratelimit *r)
{
	free(r);
}

static struct bucket *bucket_for(struct ratelimit *r, const char *cluster)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->buckets[i].name, cluster))
			return &r->buckets[i];
	if (r->n == ADMISSION_CLUSTERS_MAX)
		return &r->buckets[r->n - 1];
	struct bucket *b = &r->buckets[r->n++];
	snprintf(b->name, sizeof(b->name), "%s", cluster);
	snprintf(b->st.name, sizeof(b->st.name), "%s", cluster);
	return b;
}

uint64_t ratelimit_take(struct ratelimit *r, const char *cluster, uint64_t now_us, uint64_t max_wait_us)
{
	struct bucket *b = bucket_for(r, cluster);
	if (now_us > b->last_us)
		b->last_us = now_us;
	uint64_t tat = b->tat_us > now_us ? b->tat_us : now_us;
	uint64_t start = tat > r->tolerance_us ? tat - r->tolerance_us : 0;
	uint64_t wait = start > now_us ? start - now_us : 0;
	if (wait > max_wait_us) {
		b->st.waited++;
		b->st.timed_out++;
		return RATELIMIT_REFUSED;
	}
	b->tat_us = tat + r->interval_us;
	b->st.admitted++;
	if (wait) {
		b->st.waited++;
		b->st.waiting++;
	}
	return wait;
}

void ratelimit_wait_over(struct ratelimit *r, const char *cluster, uint64_t waited_us, bool gave_up)
{
	struct bucket *b = bucket_for(r, cluster);
	if (b->st.waiting)
		b->st.waiting--;
	if (gave_up) {
		uint64_t floor = b->last_us;
		b->tat_us = b->tat_us >= floor + r->interval_us ? b->tat_us - r->interval_us : floor;
		if (b->st.admitted)
			b->st.admitted--;
		if (b->st.waited)
			b->st.waited--;
		return;
	}
	uint64_t ms = (waited_us + 999) / 1000;
	b->st.wait_ms_total += ms;
	if (ms > b->st.wait_ms_max)
		b->st.wait_ms_max = ms;
}

bool ratelimit_cluster_at(const struct ratelimit *r, size_t i, struct admission_cluster_stats *out)
{
	if (i >= r->n)
		return false;
	*out = r->buckets[i].st;
	return true;
}

void ratelimit_stats(const struct ratelimit *r, struct admission_stats *out)
{
	*out = (struct admission_stats){.limit = r->rate, .nclusters = r->n};
	for (size_t i = 0; i < r->n; i++) {
		const struct admission_cluster_stats *s = &r->buckets[i].st;
		out->admitted += s->admitted;
		out->waited += s->waited;
		out->timed_out += s->timed_out;
		out->waiting += s->waiting;
		if (s->wait_ms_max > out->wait_ms_max)
			out->wait_ms_max = s->wait_ms_max;
	}
}
