/*
 * ratelimit.h - [throttle] cluster_rate: at most `rate` transactions a
 * second start per cluster, up to `burst` at once after a quiet spell, so
 * that one cluster's flood of queries (a script looping over sacct, a
 * storm of job records after an outage) cannot take the whole server from
 * the others.
 *
 * Each cluster is a virtual-time bucket (the generic cell rate algorithm):
 * `tat` is when the bucket would next be empty-handed. A request that finds
 * no room reserves the next start and is told how long to wait, so one
 * cluster's waiters start in arrival order and at the rate, and nothing
 * has to be queued here. Pure bookkeeping, like admission.h: no clock of
 * its own (times are the caller's, in microseconds), no I/O, no locks.
 */
#ifndef ACCTGATE_RATELIMIT_H
#define ACCTGATE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admission.h"

/* ratelimit_take's answer when the wait would exceed max_wait. */
#define RATELIMIT_REFUSED UINT64_MAX

struct ratelimit;

/* rate: starts per second (> 0); burst: how many may start at once
 * (0 = rate). NULL when out of memory. */
struct ratelimit *ratelimit_new(unsigned rate, unsigned burst);
void ratelimit_free(struct ratelimit *r);

/* A transaction of `cluster` wants to start at now_us: the microseconds it
 * waits first (0: at once), its start reserved; or RATELIMIT_REFUSED
 * (nothing reserved) when that wait would be longer than max_wait_us.
 * Clusters beyond ADMISSION_CLUSTERS_MAX share the last bucket. */
uint64_t ratelimit_take(struct ratelimit *r, const char *cluster, uint64_t now_us, uint64_t max_wait_us);

/* A wait ratelimit_take asked for is over after waited_us: the
 * transaction starts, or (gave_up: its session ended) gives its
 * reservation back. */
void ratelimit_wait_over(struct ratelimit *r, const char *cluster, uint64_t waited_us, bool gave_up);

/* Cluster i's figures, in admission's terms: admitted = started or
 * reserved, waited = delayed or refused, timed_out = refused, waiting =
 * delayed now; false past the last cluster. */
bool ratelimit_cluster_at(const struct ratelimit *r, size_t i, struct admission_cluster_stats *out);
/* The totals over every cluster, in the same terms. */
void ratelimit_stats(const struct ratelimit *r, struct admission_stats *out);

#endif
