/*
 * session.h - one client session and its one backend session, as the
 * worker sees them: start, drain, abort, and the worker's list.
 *
 * The later features (journal, snapshots, contention control) attach
 * through hooks.h, not here; session_int.h is the contract between the
 * session layer's own files.
 */
#ifndef ACCTGATE_SESSION_H
#define ACCTGATE_SESSION_H

#include <stdbool.h>
#include <sys/socket.h>

struct worker;
struct session;

/* Take over an accepted client socket: connect upstream and start the
 * handshake. Closes fd on failure. */
void session_start(struct worker *w, int fd, const struct sockaddr *addr, socklen_t addrlen);

/* Ask a session to close at its next safe point: now if idle outside a
 * transaction, else when its transaction ends. */
void session_request_drain(struct session *s);

/* Close at once (drain deadline passed). */
void session_abort(struct session *s, const char *why);

/* The worker's sessions form an intrusive list that session.c maintains;
 * worker.c walks it with this. */
struct session *session_next(struct session *s);

#endif
