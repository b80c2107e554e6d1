/*
 * session.c - one client session's life: accept, the legs' callbacks routed
 * by state to login.c and relay.c, login_timeout, drain, close and free.
 *
 *   accept -> S_CONNECTING -> S_CLIENT_HELLO [-> S_CLIENT_TLS -> S_CLIENT_HELLO]
 *          [-> S_UPSTREAM_TLS] -> S_AUTH -> S_IDLE <-> S_COMMAND ... -> S_CLOSING
 *   (S_COMMAND_HELD and S_RESULT_HELD: a hook holds the command or the
 *   response's final packet, see hooks.h; S_REPLAY: the transaction runs
 *   again after a deadlock, see redo.c)
 *
 * A session closes when either side does. An upstream that drops mid-session
 * closes the client too: reconnecting behind its back would silently lose its
 * open transaction.
 *
 * Closing writes what is queued (an ERR for the client, a COM_QUIT or an
 * empty login for the server), sends TLS close_notify, and frees the session
 * once both legs drained (their on_drained callbacks), or after
 * CLOSE_FLUSH_SECONDS. The free itself is deferred to the loop, so no
 * callback ever runs on a freed session.
 */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "packet_io.h"
#include "worker.h"

/* How long a closing session waits for its last bytes to drain. */
#define CLOSE_FLUSH_SECONDS 5

static const char *const state_names[] = {
	[S_CONNECTING] = "connecting",	   [S_CLIENT_HELLO] = "client-hello", [S_CLIENT_TLS] = "client-tls",
	[S_UPSTREAM_TLS] = "upstream-tls", [S_AUTH] = "auth",		      [S_IDLE] = "idle",
	[S_COMMAND_HELD] = "command-held", [S_COMMAND] = "command",	      [S_RESULT_HELD] = "result-held",
	[S_RESPONSE_PAUSED] = "response-paused", [S_REPLAY] = "replay", [S_CLOSING] = "closing",
};

const char *session_state_name(enum session_state st) { return state_names[st]; }

struct session *session_next(struct session *s) { return s->next; }
struct session *session_first(struct worker *w) { return w->sessions; }

struct session *session_find(struct worker *w, uint64_t id)
{
	for (struct session *s = w->sessions; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}
struct worker *session_worker(const struct session *s) { return s->worker; }
uint32_t session_caps(const struct session *s) { return s->caps; }

void **session_hook_data(struct session *s, const struct session_hooks *h)
{
	struct gate *g = session_gate(s);
	for (int i = 0; i < g->nhooks; i++)
		if (g->hooks[i] == h)
			return &s->hook_data[i];
	return NULL;
}
uint64_t session_id(const struct session *s) { return s->id; }
const char *session_user(const struct session *s) { return s->ctx.user; }
const char *session_database(const struct session *s) { return s->ctx.database; }
bool session_in_transaction(const struct session *s) { return s->ctx.in_transaction; }
bool session_autocommit(const struct session *s) { return s->ctx.autocommit; }
const char *session_state_label(const struct session *s) { return state_names[s->state]; }
const char *session_peer(const struct session *s) { return s->peer; }
bool session_held(const struct session *s)
{
	return s->state == S_COMMAND_HELD || s->state == S_RESULT_HELD || s->state == S_RESPONSE_PAUSED;
}

bool session_busy(const struct session *s)
{
	return s->ctx.in_transaction || s->state == S_COMMAND || s->state == S_REPLAY || session_held(s);
}

void session_set_state(struct session *s, enum session_state st)
{
	log_debug("session %llu: %s -> %s", (unsigned long long)s->id, state_names[s->state], state_names[st]);
	s->state = st;
}

/* What the client may have read ahead while it is not its turn: a MySQL
 * server reads one command at a time, so a client that pipelines (or
 * floods) while a command runs is held by its own socket, not by
 * acctgate's memory. */
#define PIPELINE_AHEAD_MAX (64u << 10)

/* Whether the client's bytes are wanted now: not while the server's output
 * is above BACKPRESSURE_HIGH, and while a command runs only as far as
 * PIPELINE_AHEAD_MAX, unless the client's turn in it (authentication,
 * LOCAL INFILE data) is on. */
static bool client_wanted(const struct session *s)
{
	if (conn_pending(s->server) >= BACKPRESSURE_HIGH)
		return false;
	if (s->state == S_IDLE)
		return true;
	bool client_turn = s->state == S_COMMAND &&
			   (s->tracker.state == TRK_AUTH || s->tracker.state == TRK_LOCAL_INFILE);
	return client_turn || iobuf_len(&s->client->in) < PIPELINE_AHEAD_MAX;
}

void session_flush(struct session *s)
{
	if (s->client)
		conn_flush(s->client);
	if (s->server)
		conn_flush(s->server);
	/* Before the command phase a leg's reading follows the login. Reading
	 * resumes from the legs' on_drained, which call here. */
	if (!s->client || !s->server || s->state < S_IDLE || s->state == S_CLOSING)
		return;
	bool server_wanted = conn_pending(s->client) < BACKPRESSURE_HIGH;
	if (s->server->reading != server_wanted)
		conn_set_reading(s->server, server_wanted);
	bool cw = client_wanted(s);
	if (s->client->reading != cw)
		conn_set_reading(s->client, cw);
}

/* ------------------------------------------------------------------------
 * Freeing
 * ------------------------------------------------------------------------ */

static void session_free(struct session *s)
{
	struct worker *w = s->worker;
	txn_on_close(s);
	relay_free_injected(s);
	redo_free(s);
	struct gate *g = w->gate;
	for (int i = 0; i < g->nhooks; i++)
		if (g->hooks[i]->on_session_end)
			g->hooks[i]->on_session_end(g->hooks[i]->arg, s);
	link_cleanup(&s->link);
	conn_free(s->client);
	conn_free(s->server);
	if (s->timer)
		event_free(s->timer);
	if (s->free_ev)
		event_free(s->free_ev);
	if (s->held_response) {
		OPENSSL_cleanse(s->held_response, s->held_response_len); /* it holds the auth response */
		free(s->held_response);
	}
	free(s->held_final);
	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsessions--;
	atomic_fetch_sub(&w->gate->connections, 1);
	settings_release(s->settings);
	log_debug("session %llu: freed", (unsigned long long)s->id);
	free(s);
	worker_session_gone(w);
}

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	session_free(arg);
}

static void schedule_free(struct session *s)
{
	if (s->free_ev && !event_pending(s->free_ev, EV_TIMEOUT, NULL))
		event_active(s->free_ev, EV_TIMEOUT, 0);
}

/* A closing leg with nothing left to send, or that can take nothing more. */
static bool leg_done(const struct conn *c) { return !c || c->failed || conn_pending(c) == 0; }

static void close_if_flushed(struct session *s)
{
	if (leg_done(s->client) && leg_done(s->server))
		schedule_free(s);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct session *s = arg;
	if (s->state == S_CLOSING) {
		log_debug("session %llu: flush deadline passed", (unsigned long long)s->id);
		schedule_free(s);
		return;
	}
	char why[96];
	snprintf(why, sizeof(why), "login not complete after login_timeout (%ds)", session_cfg(s)->login_timeout);
	log_notice("session %llu: client %s: %s", (unsigned long long)s->id, s->peer, why);
	if (s->state == S_CLIENT_HELLO || s->state == S_CONNECTING)
		session_fail_client(s, s->state == S_CONNECTING ? 0 : s->client_seq, ER_HANDSHAKE_ERROR, "08S01",
				    "acctgate: login_timeout reached before the login completed");
	else
		session_close(s, why);
	session_flush(s);
}

/* ------------------------------------------------------------------------
 * Closing
 * ------------------------------------------------------------------------ */

void session_close(struct session *s, const char *why)
{
	if (s->state == S_CLOSING)
		return;
	if (why)
		log_info("session %llu: closing (%s) from %s: %s", (unsigned long long)s->id, state_names[s->state],
			 s->peer, why);
	if (s->state == S_CLIENT_HELLO || s->state == S_CLIENT_TLS)
		login_end_server_handshake(s);
	/* A server session between commands is ended the way a client ends
	 * it, not cut (which the server logs as an aborted connection). */
	static const uint8_t quit[] = {COM_QUIT};
	if (s->server && (s->state == S_IDLE || s->state == S_COMMAND_HELD) && !s->server->failed)
		(void)pio_write_packet(&s->server->out, 0, quit, sizeof(quit));
	session_set_state(s, S_CLOSING);
	link_cleanup(&s->link);
	struct timeval tv = {CLOSE_FLUSH_SECONDS, 0};
	if (!s->timer || evtimer_add(s->timer, &tv) != 0) {
		/* Without a deadline a peer that never reads would keep the
		 * session forever: free it without waiting. */
		schedule_free(s);
	}
	struct conn *legs[] = {s->client, s->server};
	for (size_t i = 0; i < 2; i++) {
		if (!legs[i])
			continue;
		conn_set_reading(legs[i], false);
		conn_flush(legs[i]);
		/* Without close_notify a TLS client reports "unexpected eof"
		 * (2026) where a plaintext one sees the lost connection (2013)
		 * it knows how to handle. */
		conn_close_notify(legs[i]);
	}
	close_if_flushed(s);
}

void session_fail_client(struct session *s, uint8_t seq, uint16_t code, const char *sql_state, const char *msg)
{
	if (s->client && !pio_write_err(&s->client->out, seq, code, sql_state, "%s", msg))
		log_error("session %llu: out of memory for the client's ERR", (unsigned long long)s->id);
	session_close(s, msg);
}

/* ------------------------------------------------------------------------
 * The legs' callbacks
 * ------------------------------------------------------------------------ */

static void client_on_read(void *arg)
{
	struct session *s = arg;
	switch (s->state) {
	case S_CLIENT_HELLO:
		login_client_hello(s);
		break;
	case S_AUTH:
		login_relay_from_client(s);
		break;
	case S_IDLE:
	case S_COMMAND:
		relay_client_input(s);
		break;
	default:
		break;
	}
	if (s->state != S_CLOSING && (s->client->eof || s->client->failed))
		session_close(s, s->state == S_IDLE ? NULL
			      : s->client->failed ? s->client->why
						  : "client went away");
	session_flush(s);
	if (s->state == S_CLOSING)
		close_if_flushed(s);
}

static void client_on_drained(void *arg)
{
	struct session *s = arg;
	if (s->state == S_CLOSING) {
		close_if_flushed(s);
		return;
	}
	session_flush(s);
}

static void client_on_tls_done(void *arg)
{
	struct session *s = arg;
	if (s->state == S_CLIENT_TLS)
		login_client_tls_done(s);
	session_flush(s);
}

static const struct conn_handler client_handler = {
	.on_read = client_on_read,
	.on_drained = client_on_drained,
	.on_tls_done = client_on_tls_done,
};

static void server_on_read(void *arg)
{
	struct session *s = arg;
	struct conn *c = s->server;
	switch (s->state) {
	case S_AUTH:
	case S_COMMAND:
		relay_server_input(s);
		break;
	case S_REPLAY:
		redo_server_input(s);
		break;
	case S_IDLE:
		/* Unsolicited (a server shutting down or killing us sends an
		 * ERR before closing): pass it on as it is. */
		if (s->client && !iobuf_append(&s->client->out, iobuf_peek(&c->in), iobuf_len(&c->in)))
			log_error("session %llu: out of memory", (unsigned long long)s->id);
		iobuf_consume(&c->in, iobuf_len(&c->in));
		break;
	default:
		break;
	}
	if (s->state != S_CLOSING && s->server && (c->eof || c->failed)) {
		char why[300];
		const char *lost = s->ctx.in_transaction ? "; the open transaction is lost" : "";
		if (c->failed)
			snprintf(why, sizeof(why), "database server connection failed (%s)%s", c->why, lost);
		else if (s->state == S_COMMAND || s->state == S_REPLAY)
			snprintf(why, sizeof(why), "database server closed the connection during %s%s",
				 proto_command_name(s->ctx.command), lost);
		else if (s->state == S_AUTH)
			snprintf(why, sizeof(why), "database server closed the connection during authentication");
		else
			snprintf(why, sizeof(why), "database server closed the connection%s", lost);
		/* Whatever the server still said (an ERR explaining why) was
		 * relayed above. */
		session_close(s, why);
	}
	session_flush(s);
	if (s->state == S_CLOSING)
		close_if_flushed(s);
}

static void server_on_drained(void *arg)
{
	struct session *s = arg;
	if (s->state == S_CLOSING)
		close_if_flushed(s);
	else
		session_flush(s);
}

static void server_on_tls_done(void *arg) { (void)arg; /* the link drives the server leg's handshake */ }

static const struct conn_handler server_handler = {
	.on_read = server_on_read,
	.on_drained = server_on_drained,
	.on_tls_done = server_on_tls_done,
};

void session_take_server_leg(struct session *s)
{
	s->server = link_take_conn(&s->link);
	conn_set_handler(s->server, &server_handler, s);
	s->server->in_limit = SERVER_IN_LIMIT;
}

void session_logged_in(struct session *s)
{
	if (s->timer)
		evtimer_del(s->timer);
	/* A server's LOCAL INFILE request is refused, not relayed (relay.c). */
	s->tracker.refuse_local_infile = !session_cfg(s)->local_infile;
	s->client->in_limit = session_cfg(s)->max_command_size + PROTO_HEADER_LEN * (session_cfg(s)->max_command_size /
											 PROTO_MAX_CHUNK + 1);
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

static void format_peer(char *out, size_t len, const struct sockaddr *addr)
{
	char host[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(out, len, "%s:%u", host, (unsigned)port);
}

void session_start(struct worker *w, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	(void)addrlen;
	struct gate *g = w->gate;
	struct session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		atomic_fetch_sub(&g->connections, 1);
		return;
	}
	s->id = atomic_fetch_add(&g->next_session_id, 1) + 1;
	s->worker = w;
	s->settings = gate_settings(g);
	s->ctx.command = 0xff;
	s->state = S_CONNECTING;
	format_peer(s->peer, sizeof(s->peer), addr);

	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;

	snprintf(s->log_prefix, sizeof(s->log_prefix), "session %llu", (unsigned long long)s->id);
	const struct config *cfg = session_cfg(s);
	s->timer = evtimer_new(w->base, timer_cb, s);
	s->free_ev = event_new(w->base, -1, 0, free_cb, s);
	evutil_make_socket_nonblocking(fd);
	link_tune_socket(fd, cfg, s->log_prefix);
	s->client = conn_new(w->base, fd, &w->stats, HANDSHAKE_MAX_PAYLOAD + PROTO_HEADER_LEN);
	struct timeval login_tv = {cfg->login_timeout, 0};
	if (!s->timer || !s->free_ev || !s->client || evtimer_add(s->timer, &login_tv) != 0) {
		if (!s->client)
			close(fd);
		log_error("session %llu: out of memory", (unsigned long long)s->id);
		if (s->free_ev)
			event_active(s->free_ev, EV_TIMEOUT, 0);
		else
			session_free(s);
		return;
	}
	conn_set_handler(s->client, &client_handler, s);
	log_debug("session %llu: accepted %s", (unsigned long long)s->id, s->peer);

	if (atomic_load(&g->connections) > cfg->max_connections) {
		log_warning("session %llu: refusing %s: max_connections (%d) reached", (unsigned long long)s->id, s->peer,
			    cfg->max_connections);
		session_fail_client(s, 0, ER_CON_COUNT_ERROR, "08004", "acctgate: too many connections (max_connections)");
		session_flush(s);
		return;
	}
	if (!link_start(&s->link, w->base, w->dns, &g->pool, cfg, s->settings->upstream_ctx, -1, &login_link_callbacks,
			s, s->log_prefix, &w->stats)) {
		session_fail_client(s, 0, ER_UNKNOWN_ERROR, "HY000", "acctgate: out of memory");
		session_flush(s);
	}
}

void session_request_drain(struct session *s)
{
	s->drain_requested = true;
	if (s->ctx.in_transaction)
		return;
	switch (s->state) {
	case S_IDLE:
		session_close(s, "drained at shutdown");
		break;
	case S_CONNECTING:
	case S_CLIENT_HELLO:
	case S_CLIENT_TLS:
		session_fail_client(s, s->state == S_CONNECTING ? 0 : s->client_seq, ER_SERVER_SHUTDOWN, "08S01",
				    "acctgate is shutting down");
		break;
	default:
		return; /* at the end of the command (relay_enter_idle) */
	}
	session_flush(s);
}

void session_abort(struct session *s, const char *why)
{
	session_close(s, why);
	session_flush(s);
}

void session_release(struct session *s)
{
	relay_release(s);
	session_flush(s);
}

void session_release_error(struct session *s, const struct hook_answer *answer)
{
	relay_release_error(s, answer);
	session_flush(s);
}
