/*
 * worker.c - worker threads. Other threads reach a worker only through its
 * mailbox (mailbox.h), so no event base is ever touched by two threads and
 * libevent needs no locking.
 */
#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate.h"
#include "link.h"
#include "log.h"
#include "session.h"

static void stop_if_drained(struct worker *w)
{
	if (w->draining && w->nsessions == 0)
		event_base_loopbreak(w->base);
}

void worker_session_gone(struct worker *w) { stop_if_drained(w); }

static void drain_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	log_warning("worker %d: drain_timeout reached with %d session(s) still in a transaction; closing them",
		    w->index, w->nsessions);
	for (struct session *s = w->sessions; s; s = session_next(s))
		session_abort(s, "drain_timeout reached at shutdown");
}

static void start_drain(struct worker *w)
{
	w->draining = true;
	int timeout = 0;
	if (w->sessions) {
		struct settings *st = gate_settings(w->gate);
		timeout = st->cfg.drain_timeout;
		settings_release(st);
	}
	/* session_request_drain may close sessions: fetch next first. */
	for (struct session *s = w->sessions, *next; s; s = next) {
		next = session_next(s);
		session_request_drain(s);
	}
	if (w->nsessions > 0) {
		struct timeval tv = {timeout, 0};
		evtimer_add(w->drain_deadline, &tv);
	}
	stop_if_drained(w);
}

static void deliver(struct mail *m, void *arg)
{
	struct worker *w = arg;
	switch (m->kind) {
	case MAIL_CONNECTION:
		if (w->draining) {
			close(m->u.connection.fd);
			atomic_fetch_sub(&w->gate->connections, 1);
		} else {
			session_start(w, m->u.connection.fd, (struct sockaddr *)&m->u.connection.addr,
				      m->u.connection.addrlen);
		}
		break;
	case MAIL_DRAIN:
		start_drain(w);
		break;
	case MAIL_CALL:
		m->u.call.fn(w, m->u.call.arg);
		break;
	}
	free(m);
}

struct worker *worker_new(struct gate *g, int index, const struct config *cfg, char *err, size_t errlen)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->gate = g;
	w->index = index;
	w->base = event_base_new();
	if (!w->base) {
		snprintf(err, errlen, "cannot create an event base");
		goto fail;
	}
	w->dns = link_resolver_new(w->base, cfg, err, errlen);
	if (!w->dns)
		goto fail;
	w->mailbox_ready = mailbox_init(&w->mailbox, w->base, deliver, w);
	if (!w->mailbox_ready) {
		snprintf(err, errlen, "cannot make the worker's mailbox: %s", strerror(errno));
		goto fail;
	}
	w->drain_deadline = evtimer_new(w->base, drain_deadline_cb, w);
	if (!w->drain_deadline) {
		snprintf(err, errlen, "cannot register worker events");
		goto fail;
	}
	return w;
fail:
	worker_join_and_free(w, NULL);
	return NULL;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	event_base_dispatch(w->base);
	return NULL;
}

bool worker_start(struct worker *w)
{
	w->started = pthread_create(&w->thread, NULL, worker_main, w) == 0;
	return w->started;
}

bool worker_hand_over(struct worker *w, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct mail *m = calloc(1, sizeof(*m));
	if (!m)
		return false;
	m->kind = MAIL_CONNECTION;
	m->u.connection.fd = fd;
	m->u.connection.addrlen = addrlen < sizeof(m->u.connection.addr) ? addrlen : sizeof(m->u.connection.addr);
	memcpy(&m->u.connection.addr, addr, m->u.connection.addrlen);
	mailbox_post(&w->mailbox, m);
	return true;
}

bool worker_call(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg)
{
	struct mail *m = calloc(1, sizeof(*m));
	if (!m)
		return false;
	m->kind = MAIL_CALL;
	m->u.call.fn = fn;
	m->u.call.arg = arg;
	mailbox_post(&w->mailbox, m);
	return true;
}

/* A drain that cannot be queued (out of memory) stops the loop at once:
 * shutting down late is worse than closing sessions early. */
void worker_request_drain(struct worker *w)
{
	struct mail *m = calloc(1, sizeof(*m));
	if (!m) {
		event_base_loopbreak(w->base);
		return;
	}
	m->kind = MAIL_DRAIN;
	mailbox_post(&w->mailbox, m);
}

void worker_join(struct worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
}

void worker_join_and_free(struct worker *w, struct conn_stats *io)
{
	worker_join(w);
	if (io) {
		io->recvs += w->stats.recvs;
		io->sends += w->stats.sends;
		io->bytes_in += w->stats.bytes_in;
		io->bytes_out += w->stats.bytes_out;
		io->records_out += w->stats.records_out;
		io->flushes += w->stats.flushes;
	}
	if (w->mailbox_ready)
		mailbox_destroy(&w->mailbox);
	if (w->drain_deadline)
		event_free(w->drain_deadline);
	if (w->dns)
		evdns_base_free(w->dns, 1);
	if (w->base)
		event_base_free(w->base);
	free(w);
}
