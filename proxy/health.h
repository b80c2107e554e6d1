/*
 * health.h - active health checks of the upstream servers (see health.c).
 * Probes run only when [upstream] health_user is set; the rounds follow the
 * current configuration generation, so a reload changes them at once.
 */
#ifndef ACCTGATE_HEALTH_H
#define ACCTGATE_HEALTH_H

#include <stddef.h>

#include <event2/event.h>

#include "config.h"

struct gate;
struct health;

/* Start the rounds on `base` (the main thread's). NULL with err on failure. */
struct health *health_new(struct gate *g, struct event_base *base, const struct config *cfg, char *err,
			  size_t errlen);
void health_free(struct health *h);

#endif
