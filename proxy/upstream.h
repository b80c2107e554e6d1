/*
 * upstream.h - which database server to try next, and what the proxy
 * knows of each one's health.
 *
 * Health is learned from every backend connection attempt: a failure puts
 * the server in backoff (1 s, 2 s, 4 s ... up to health_backoff_max) and a
 * success brings it back. New sessions try healthy servers first, in the order of
 * [upstream] servers, then the ones in backoff: when every server looks down
 * the proxy still tries them all rather than refusing on stale news.
 * Host names are resolved again for every connection, never pinned, so an
 * RDS Multi-AZ failover that moves the name is followed at once.
 */
#ifndef ACCTGATE_UPSTREAM_H
#define ACCTGATE_UPSTREAM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"

enum upstream_health {
	UPSTREAM_UNKNOWN, /* not tried yet */
	UPSTREAM_UP,      /* last connection or probe succeeded */
	UPSTREAM_DOWN,    /* last one failed; in backoff until retry_at */
};

struct upstream_server_state {
	char name[CONFIG_ENDPOINT_NAME_MAX]; /* config_endpoint_name: the key across reloads */
	enum upstream_health health;
	unsigned failures;               /* consecutive */
	time_t retry_at;                 /* CLOCK_MONOTONIC seconds */
	char last_error[160];
};

struct upstream_pool {
	pthread_mutex_t lock;
	struct upstream_server_state servers[CONFIG_MAX_SERVERS];
	int nservers;
};

void upstream_pool_init(struct upstream_pool *p);
void upstream_pool_destroy(struct upstream_pool *p);
/* Adopt a (re)loaded server list, keeping the state of servers still listed. */
void upstream_pool_configure(struct upstream_pool *p, const struct config *cfg);
/* Fill order[] with indexes into cfg->servers in the order to try them. */
void upstream_pool_order(struct upstream_pool *p, const struct config *cfg, int order[CONFIG_MAX_SERVERS]);
/* False while server `index` is down and backing off: the health check
 * leaves it alone until its retry time. */
bool upstream_pool_due(struct upstream_pool *p, int index);
/* Report the outcome of a connection attempt (error = NULL on success). */
void upstream_pool_report(struct upstream_pool *p, const struct config *cfg, int index, const char *error);
const char *upstream_health_name(enum upstream_health h);

#endif
