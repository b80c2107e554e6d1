/*
 * upstream.c - see upstream.h. The pool is shared by all workers, so every
 * access takes its mutex; the critical sections are a few comparisons.
 */
#include "upstream.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static time_t now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The entry named `name`, or NULL. Called with the lock held. */
static struct upstream_server_state *find_locked(struct upstream_pool *p, const char *name)
{
	for (int i = 0; i < p->nservers; i++)
		if (strcmp(p->servers[i].name, name) == 0)
			return &p->servers[i];
	return NULL;
}

/* Is this server down and waiting out its backoff? Lock held; st may be
 * NULL (not listed). */
static bool backing_off(const struct upstream_server_state *st, time_t now)
{
	return st && st->health == UPSTREAM_DOWN && st->retry_at > now;
}

void upstream_pool_init(struct upstream_pool *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
}

void upstream_pool_destroy(struct upstream_pool *p) { pthread_mutex_destroy(&p->lock); }

void upstream_pool_configure(struct upstream_pool *p, const struct config *cfg)
{
	struct upstream_server_state fresh[CONFIG_MAX_SERVERS];
	memset(fresh, 0, sizeof(fresh));
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < cfg->nservers; i++) {
		config_endpoint_name(&cfg->servers[i], fresh[i].name, sizeof(fresh[i].name));
		for (int j = 0; j < p->nservers; j++) {
			if (strcmp(p->servers[j].name, fresh[i].name) == 0) {
				fresh[i] = p->servers[j];
				break;
			}
		}
	}
	memcpy(p->servers, fresh, sizeof(fresh));
	p->nservers = cfg->nservers;
	pthread_mutex_unlock(&p->lock);
}

void upstream_pool_order(struct upstream_pool *p, const struct config *cfg, int order[CONFIG_MAX_SERVERS])
{
	char names[CONFIG_MAX_SERVERS][CONFIG_ENDPOINT_NAME_MAX];
	bool waiting[CONFIG_MAX_SERVERS];
	for (int i = 0; i < cfg->nservers; i++)
		config_endpoint_name(&cfg->servers[i], names[i], sizeof(names[i]));
	time_t now = now_seconds();
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < cfg->nservers; i++)
		waiting[i] = backing_off(find_locked(p, names[i]), now);
	pthread_mutex_unlock(&p->lock);
	int n = 0;
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < cfg->nservers; i++)
			if (waiting[i] == (pass == 1))
				order[n++] = i;
}

bool upstream_pool_due(struct upstream_pool *p, const struct config *cfg, int index)
{
	if (index < 0 || index >= cfg->nservers)
		return false;
	char name[CONFIG_ENDPOINT_NAME_MAX];
	config_endpoint_name(&cfg->servers[index], name, sizeof(name));
	time_t now = now_seconds();
	pthread_mutex_lock(&p->lock);
	bool due = !backing_off(find_locked(p, name), now);
	pthread_mutex_unlock(&p->lock);
	return due;
}

void upstream_pool_report(struct upstream_pool *p, const struct config *cfg, int index, const char *error)
{
	if (index < 0 || index >= cfg->nservers)
		return;
	char name[CONFIG_ENDPOINT_NAME_MAX];
	config_endpoint_name(&cfg->servers[index], name, sizeof(name));
	pthread_mutex_lock(&p->lock);
	struct upstream_server_state *st = find_locked(p, name);
	if (!st) {
		pthread_mutex_unlock(&p->lock);
		return;
	}
	enum upstream_health before = st->health;
	if (!error) {
		st->health = UPSTREAM_UP;
		st->failures = 0;
		st->last_error[0] = '\0';
		pthread_mutex_unlock(&p->lock);
		if (before != UPSTREAM_UP)
			log_notice("upstream %s is up", name);
		return;
	}
	st->health = UPSTREAM_DOWN;
	st->failures++;
	unsigned shift = st->failures > 12 ? 12 : st->failures - 1;
	time_t backoff = (time_t)1 << shift;
	if (backoff > cfg->health_backoff_max)
		backoff = cfg->health_backoff_max;
	st->retry_at = now_seconds() + backoff;
	snprintf(st->last_error, sizeof(st->last_error), "%s", error);
	unsigned failures = st->failures;
	pthread_mutex_unlock(&p->lock);
	if (before != UPSTREAM_DOWN)
		log_warning("upstream %s is down: %s; next check in %lds", name, error, (long)backoff);
	else
		log_info("upstream %s still down (%u failures): %s; next check in %lds", name, failures, error,
			 (long)backoff);
}

const char *upstream_health_name(enum upstream_health h)
{
	switch (h) {
	case UPSTREAM_UNKNOWN: return "unknown";
	case UPSTREAM_UP: return "up";
	case UPSTREAM_DOWN: return "down";
	}
	return "?";
}
