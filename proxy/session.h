/*
 * session.h - one client session and its one backend session.
 *
 * The session layer is where the later features attach:
 *  - session_dispatch_command() is the single point every client command
 *    passes before it is forwarded (a statement can be held there);
 *  - session_on_result_end() sees every OK/ERR/EOF with its status flags;
 *  - struct session_context tracks database, autocommit and transaction
 *    state, and the command in flight, for recording and throttling.
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
