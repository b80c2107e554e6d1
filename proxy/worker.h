/*
 * worker.h - a worker thread: one event base, one DNS resolver, and the
 * sessions the listener handed it. Sessions never move between workers, so
 * nothing inside a session is locked.
 */
#ifndef ACCTGATE_WORKER_H
#define ACCTGATE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "config.h"
#include "conn.h"
#include "mailbox.h"

#include <event2/dns.h>
#include <event2/event.h>

struct gate;
struct session;

struct worker {
	struct gate *gate;
	int index;
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct evdns_base *dns;
	struct mailbox mailbox;   /* listener and main thread -> worker */
	bool mailbox_ready;
	struct conn_stats stats;  /* this worker's legs */
	uint64_t commands;        /* client commands forwarded (txn.c), for the admin port */
	struct session *sessions; /* intrusive list of live sessions */
	int nsessions;
	bool draining;
	struct event *drain_deadline;
};

struct worker *worker_new(struct gate *g, int index, const struct config *cfg, char *err, size_t errlen);
bool worker_start(struct worker *w);
/* Called from the listener thread: hand over an accepted socket. False
 * (the caller closes it) when out of memory. */
bool worker_hand_over(struct worker *w, int fd, const struct sockaddr *addr, socklen_t addrlen);
/* Run fn(w, arg) on the worker's thread, from any thread. */
bool worker_call(struct worker *w, void (*fn)(struct worker *w, void *arg), void *arg);
/* Called from the main thread: close sessions as they become idle, stop the
 * loop when none is left or after drain_timeout seconds. */
void worker_request_drain(struct worker *w);
/* Wait for the thread to end (after a drain); nothing runs on the worker
 * afterwards, but its memory stays until worker_join_and_free. */
void worker_join(struct worker *w);
/* Join the thread (if started) and free; its I/O counters are added to io
 * (may be NULL). */
void worker_join_and_free(struct worker *w, struct conn_stats *io);

/* A session ended (session.c calls this after unlinking it): a draining
 * worker stops its loop when the last one is gone. */
void worker_session_gone(struct worker *w);

#endif
