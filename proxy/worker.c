/*
 * worker.c - worker threads. The listener thread hands accepted sockets
 * over a pipe (one small message each), so no event base is ever touched by
 * two threads and libevent needs no locking.
 */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate.h"
#include "link.h"
#include "log.h"
#include "session.h"

enum handover_kind { HANDOVER_CONNECTION, HANDOVER_DRAIN };

/* Fits in PIPE_BUF, so each write is atomic. */
struct handover {
	enum handover_kind kind;
	int fd;
	socklen_t addrlen;
	struct sockaddr_storage addr;
};

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

static void notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct handover h;
	for (;;) {
		ssize_t n = read(fd, &h, sizeof(h));
		if (n != (ssize_t)sizeof(h))
			return; /* EAGAIN: all read */
		if (h.kind == HANDOVER_DRAIN) {
			start_drain(w);
			continue;
		}
		if (w->draining) {
			close(h.fd);
			atomic_fetch_sub(&w->gate->connections, 1);
			continue;
		}
		session_start(w, h.fd, (struct sockaddr *)&h.addr, h.addrlen);
	}
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
	w->notify_fds[0] = w->notify_fds[1] = -1;
	w->base = event_base_new();
	if (!w->base) {
		snprintf(err, errlen, "cannot create an event base");
		goto fail;
	}
	w->dns = link_resolver_new(w->base, cfg, err, errlen);
	if (!w->dns)
		goto fail;
	if (pipe2(w->notify_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	w->notify_ev = event_new(w->base, w->notify_fds[0], EV_READ | EV_PERSIST, notify_cb, w);
	w->drain_deadline = evtimer_new(w->base, drain_deadline_cb, w);
	if (!w->notify_ev || !w->drain_deadline || event_add(w->notify_ev, NULL) != 0) {
		snprintf(err, errlen, "cannot register worker events");
		goto fail;
	}
	return w;
fail:
	worker_join_and_free(w);
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
	struct handover h = {.kind = HANDOVER_CONNECTION, .fd = fd, .addrlen = addrlen};
	memcpy(&h.addr, addr, addrlen < sizeof(h.addr) ? addrlen : sizeof(h.addr));
	return write(w->notify_fds[1], &h, sizeof(h)) == (ssize_t)sizeof(h);
}

void worker_request_drain(struct worker *w)
{
	struct handover h = {.kind = HANDOVER_DRAIN, .fd = -1};
	ssize_t n = write(w->notify_fds[1], &h, sizeof(h));
	(void)n;
}

void worker_join_and_free(struct worker *w)
{
	if (w->started)
		pthread_join(w->thread, NULL);
	if (w->notify_ev)
		event_free(w->notify_ev);
	if (w->drain_deadline)
		event_free(w->drain_deadline);
	if (w->dns)
		evdns_base_free(w->dns, 1);
	if (w->base)
		event_base_free(w->base);
	if (w->notify_fds[0] >= 0)
		close(w->notify_fds[0]);
	if (w->notify_fds[1] >= 0)
		close(w->notify_fds[1]);
	free(w);
}
