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
 *
 * The pool knows servers by name (config_endpoint_name), not by place: a
 * session keeps the configuration generation it started with, and after a
 * reload that reorders [upstream] servers its indexes mean other servers
 * in the pool's list. Every function taking (cfg, index) looks the server
 * up by the name cfg->servers[index] has, so the caller passes its own
 * generation and the index into it.
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
/* Fill order[0 .. cfg->nservers - 1] with indexes into cfg->servers in the
 * order to try them. A server the pool no longer lists counts as not
 * backing off. */
void upstream_pool_order(struct upstream_pool *p, const struct config *cfg, int order[CONFIG_MAX_SERVERS]);
/* False while cfg->servers[index] is down and backing off: the health
 * check leaves it alone until its retry time. */
bool upstream_pool_due(struct upstream_pool *p, const struct config *cfg, int index);
/* Report the outcome of a connection attempt to cfg->servers[index]
 * (error = NULL on success). A server the pool no longer lists (a reload
 * removed it) is not recorded. */
void upstream_pool_report(struct upstream_pool *p, const struct config *cfg, int index, const char *error);
const char *upstream_health_name(enum upstream_health h);

#endif
