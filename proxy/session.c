/*
 * session.c - one client connection, its one backend connection, and the
 * state machine that relays the MySQL protocol between them.
 *
 * Connection phase (the proxy is in the middle of the handshake, so it can
 * terminate TLS on both legs while authentication passes through: acctgate
 * never knows a password):
 *
 *   client            acctgate                         server
 *     |  accept  --->    | resolve, connect  -------->   |
 *     |                  | <-------- HandshakeV10 (seq 0)|
 *     | <-- greeting     |  same scramble, version, id;  |
 *     |     (seq 0)      |  caps masked to what the proxy relays
 *     | SSLRequest (1) ->| TLS accept                    |
 *     | Response (1|2) ->| held: no credential moves before the server is verified
 *     |                  | SSLRequest (1) --> TLS connect, verify chain + name
 *     |                  | Response (1|2), CLIENT_SSL set per the server leg ->
 *     | <==== auth exchange relayed, sequence ids shifted by the TLS steps ==> |
 *
 * Command phase: the client's command is read whole (bounded by
 * max_command_size), passed to session_dispatch_command() and forwarded;
 * the response streams back packet by packet through the response tracker,
 * which says where each result and the whole response end. Responses are
 * never buffered whole: backpressure stops reading the server while the
 * client's output is above a high watermark.
 *
 * A session closes when either side does. An upstream that drops mid-session
 * closes the client too: reconnecting behind its back would silently lose its
 * open transaction.
 */
#include "session.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "auth_key.h"
#include "gate.h"
#include "link.h"
#include "log.h"
#include "packet_io.h"
#include "proto.h"
#include "tls.h"
#include "worker.h"

/* Output above this stops reading the other side; reading resumes once the
 * output drained to half of it. Bounds memory per session to about this
 * plus one 16 MiB chunk, whatever the result size. */
#define BACKPRESSURE_HIGH (4u << 20)
#define BACKPRESSURE_LOW (BACKPRESSURE_HIGH / 2)
/* Connection-phase packets are small; a larger one is an attack or a bug. */
#define HANDSHAKE_MAX_PAYLOAD (64u << 10)
/* How much of a response packet the tracker needs to decide (OK/ERR/EOF). */
#define TRACKER_PEEK (64u << 10)
/* How long a closing session waits for its last bytes to drain, and how
 * often it looks: a TLS filter does not signal when its socket's buffer
 * empties, so the close polls rather than waits for a callback. */
#define CLOSE_FLUSH_SECONDS 5
#define CLOSE_POLL_USEC 5000

/* Capabilities the proxy can relay. Compression and query attributes change
 * the framing or the COM_QUERY layout, optional metadata changes result
 * sets: the proxy does not advertise them, so no client negotiates them.
 * CLIENT_SSL and CLIENT_LOCAL_FILES are added per configuration. */
#define RELAYED_CAPS                                                                                           \
	(CLIENT_MYSQL | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_NO_SCHEMA |        \
	 CLIENT_ODBC | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE |   \
	 CLIENT_TRANSACTIONS | CLIENT_RESERVED | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS |            \
	 CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS |            \
	 CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS | CLIENT_SESSION_TRACK |   \
	 CLIENT_DEPRECATE_EOF | CLIENT_REMEMBER_OPTIONS)

/* Error codes the proxy itself sends (the MySQL numbers clients know). */
#define ER_CON_COUNT_ERROR 1040
#define ER_UNKNOWN_COM_ERROR 1047
#define ER_NET_PACKET_TOO_LARGE 1153
#define ER_NET_PACKETS_OUT_OF_ORDER 1156
#define ER_SECURE_TRANSPORT_REQUIRED 3159
#define ER_UNKNOWN_ERROR 1105 /* see link.c: never a client-range (2xxx) code */
#define ER_ACCESS_DENIED_ERROR 1045

enum session_state {
	S_CONNECTING,      /* the server leg connects and reads the greeting (link.c) */
	S_CLIENT_HELLO,    /* greeting sent; waiting for SSLRequest or HandshakeResponse */
	S_CLIENT_TLS,      /* TLS accept with the client in progress */
	S_UPSTREAM_TLS,    /* client's response held; TLS handshake with the server */
	S_AUTH,            /* relaying the authentication exchange */
	S_IDLE,            /* command phase: waiting for the client's next command */
	S_COMMAND,         /* a command was forwarded; its response is streaming back */
	S_CLOSING,         /* flushing the last bytes, then freed */
};

static const char *const state_names[] = {
	[S_CONNECTING] = "connecting",
	[S_CLIENT_HELLO] = "client-hello", [S_CLIENT_TLS] = "client-tls",
	[S_UPSTREAM_TLS] = "upstream-tls", [S_AUTH] = "auth",
	[S_IDLE] = "idle",               [S_COMMAND] = "command",
	[S_CLOSING] = "closing",
};

/* What the session knows of the server-side session, for the features
 * that record, throttle and snapshot. Updated from every OK/EOF. */
struct session_context {
	char user[128];
	char database[256];
	uint16_t status_flags;    /* from the last OK/EOF */
	bool autocommit;
	bool in_transaction;
	/* The command in flight (code 0xff = none). */
	uint8_t command;
	uint64_t command_len;
	struct timespec command_started;
	char pending_database[256]; /* COM_INIT_DB's schema, applied on its OK */
};

/*
 * caching_sha2_password's full authentication with a plaintext client over a
 * TLS server leg, where acctgate stands in for the server's RSA key (see
 * auth_key.h): what the client's next auth packet is expected to be.
 */
enum key_relay {
	KEY_RELAY_OFF,
	KEY_RELAY_REQUEST,    /* the client asks for the key (0x02), or answers at once */
	KEY_RELAY_CIPHERTEXT, /* the client sends the password under acctgate's key */
};

struct session {
	uint64_t id;
	struct worker *worker;
	struct settings *settings;
	struct session *prev, *next; /* worker's list */
	enum session_state state;
	char peer[INET6_ADDRSTRLEN + 8];

	struct bufferevent *client;
	struct bufferevent *server;
	bool client_tls, upstream_tls;
	bool server_read_paused, client_read_paused; /* backpressure */
	bool drain_requested;

	struct link link;             /* the server leg until the handshake is done */
	char log_prefix[32];          /* "session N" */
	struct event *timer;          /* close: flush poll */
	struct timespec close_started;
	struct event *free_ev;

	/* Connection phase. */
	uint32_t server_caps;
	uint32_t advertised_caps;     /* what the client was offered */
	uint8_t *held_response;       /* client's HandshakeResponse41, until the server leg is ready */
	size_t held_response_len;
	uint8_t client_seq;           /* next sequence id expected from the client */
	int seq_shift;                /* server seq = client seq + seq_shift during authentication */
	uint8_t scramble[PROTO_SCRAMBLE_LEN]; /* the nonce of the authentication in progress */
	enum key_relay key_relay;

	/* Command phase. */
	uint32_t caps;                /* negotiated: what the client sent */
	struct proto_tracker tracker;
	bool server_in_chunk;         /* the server's previous chunk was 0xFFFFFF long */
	struct session_context ctx;
};

static void session_close(struct session *s, const char *why);
static void server_read_cb(struct bufferevent *bev, void *arg);
static void server_event_cb(struct bufferevent *bev, short what, void *arg);
static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_write_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);
static void server_write_cb(struct bufferevent *bev, void *arg);
static void forward_held_response(struct session *s);
static void take_server_leg(struct session *s);

struct session *session_next(struct session *s) { return s->next; }

static const struct config *cfg_of(const struct session *s) { return &s->settings->cfg; }

static void set_state(struct session *s, enum session_state st)
{
	log_debug("session %llu: %s -> %s", (unsigned long long)s->id, state_names[s->state], state_names[st]);
	s->state = st;
}

/* ------------------------------------------------------------------------
 * Closing
 * ------------------------------------------------------------------------ */

static size_t pending_output(struct bufferevent *bev)
{
	if (!bev)
		return 0;
	size_t n = evbuffer_get_length(bufferevent_get_output(bev));
	struct bufferevent *under = bufferevent_get_underlying(bev);
	if (under)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

/*
 * Tell a TLS peer the session ends (close_notify) once everything before it
 * is encrypted. Without it a client library reports a TLS error ("unexpected
 * eof while reading", 2026) where a plaintext client sees the lost
 * connection (2013) it knows how to handle. Idempotent; a leg whose
 * handshake never finished has nothing to shut down.
 */
static void send_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	if (!ssl || !SSL_is_init_finished(ssl) || (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	SSL_shutdown(ssl);
	/* The thread's error queue is shared by every session on it. */
	ERR_clear_error();
}

static void session_free(struct session *s)
{
	struct worker *w = s->worker;
	link_cleanup(&s->link);
	if (s->client)
		bufferevent_free(s->client);
	if (s->server)
		bufferevent_free(s->server);
	event_free(s->timer);
	event_free(s->free_ev);
	free(s->held_response);
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

static void free_cb(evutil_socket_t fd, short what, void *arg) { session_free(arg); }

static void close_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - s->close_started.tv_sec >= CLOSE_FLUSH_SECONDS) {
		log_debug("session %llu: flush deadline passed", (unsigned long long)s->id);
		event_active(s->free_ev, EV_TIMEOUT, 0);
		return;
	}
	send_close_notify(s->client);
	send_close_notify(s->server);
	if (pending_output(s->client) == 0 && pending_output(s->server) == 0) {
		event_active(s->free_ev, EV_TIMEOUT, 0);
		return;
	}
	struct timeval tv = {0, CLOSE_POLL_USEC};
	evtimer_add(s->timer, &tv);
}

/*
 * The client is gone (or refused) after the server's greeting and before its
 * login reached the server: end the server's handshake with a login that
 * fails, an empty user name without a password, rather than by dropping it.
 * A dropped handshake counts against the server's max_connect_errors for
 * acctgate's host, and every session comes from that one host: a TCP health
 * check on acctgate's port, or a slurmdbd retrying with a wrong SSL_CA,
 * would get all of them blocked ("Host is blocked because of many connection
 * errors") within a hundred tries. A failed login does not count. The login
 * carries no secret, so it may go before the leg's TLS; it is written before
 * the connection closes, so the server reads it before the end of stream.
 */
static void end_server_handshake(struct session *s)
{
	if (s->link.state != LINK_HELD || s->server)
		return;
	const struct proto_handshake *hs = &s->link.hs;
	struct proto_handshake_response resp = {
		.capabilities = hs->capabilities & (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH),
		.max_packet = 1u << 24,
		.charset = hs->charset,
		.has_auth_plugin = (hs->capabilities & CLIENT_PLUGIN_AUTH) != 0,
		.auth_plugin = hs->auth_plugin,
	};
	uint8_t buf[HANDSHAKE_MAX_PAYLOAD];
	struct proto_writer w;
	proto_writer_init(&w, buf, sizeof(buf));
	if (!proto_write_handshake_response(&w, &resp))
		return;
	take_server_leg(s);
	pio_write_packet(bufferevent_get_output(s->server), 1, buf, w.len);
	log_debug("session %llu: client left before its login: the server's handshake ended with an empty login",
		  (unsigned long long)s->id);
}

/*
 * Stop relaying and free the session once what is already queued toward
 * each peer has been written (an ERR for the client, a COM_QUIT for the
 * server). Safe to call from any callback: the free itself is deferred to
 * the event loop, so no caller ever touches a freed session.
 */
static void session_close(struct session *s, const char *why)
{
	if (s->state == S_CLOSING)
		return;
	if (why)
		log_info("session %llu: closing (%s) from %s: %s", (unsigned long long)s->id, state_names[s->state],
			 s->peer, why);
	if (s->state == S_CLIENT_HELLO || s->state == S_CLIENT_TLS)
		end_server_handshake(s);
	set_state(s, S_CLOSING);
	link_cleanup(&s->link);
	if (s->client) {
		bufferevent_disable(s->client, EV_READ);
		bufferevent_setcb(s->client, NULL, client_write_cb, client_event_cb, s);
		bufferevent_setwatermark(s->client, EV_WRITE, 0, 0);
	}
	if (s->server) {
		bufferevent_disable(s->server, EV_READ);
		bufferevent_setcb(s->server, NULL, server_write_cb, server_event_cb, s);
		bufferevent_setwatermark(s->server, EV_WRITE, 0, 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &s->close_started);
	close_poll_cb(-1, 0, s);
}

/* Send an ERR to the client and close. */
static void fail_client(struct session *s, uint8_t seq, uint16_t code, const char *state, const char *msg)
{
	if (s->client)
		pio_write_err(bufferevent_get_output(s->client), seq, code, state, "%s", msg);
	session_close(s, msg);
}

/*
 * Refuse a login acctgate will not carry on. The server's exchange ends as a
 * failed login, with an empty password, not as a client that vanished
 * mid-login: MySQL and MariaDB count the latter against the host's
 * max_connect_errors, and every session acctgate carries comes from that
 * one host. The client gets ERR 1045 saying why.
 */
static void refuse_login(struct session *s, uint8_t server_seq, uint8_t client_seq, const char *why)
{
	static const uint8_t empty_password[] = {0x00};
	/* At the level of the server's own failed logins, so that an admin who
	 * sees those sees why acctgate refused too. */
	log_notice("session %llu: login of '%s' from %s refused: %s", (unsigned long long)s->id, s->ctx.user, s->peer,
		   why);
	if (s->server)
		pio_write_packet(bufferevent_get_output(s->server), server_seq, empty_password, sizeof(empty_password));
	fail_client(s, client_seq, ER_ACCESS_DENIED_ERROR, "28000", why);
}

static void drop_server(struct session *s)
{
	if (s->server) {
		bufferevent_free(s->server);
		s->server = NULL;
	}
}

/* ------------------------------------------------------------------------
 * Backpressure (libevent's le-proxy pattern)
 * ------------------------------------------------------------------------ */

/* Bytes waiting to be written by `bev` itself. With TLS this is the clear
 * text the filter has not yet encrypted: link_tls_filter caps the socket's
 * share, so the backlog shows here and the write callback follows it. */
static size_t backlog(struct bufferevent *bev) { return evbuffer_get_length(bufferevent_get_output(bev)); }

/* After moving bytes to `to`: stop reading `from` while `to` is full. */
static void apply_backpressure(struct session *s, struct bufferevent *from, struct bufferevent *to, bool *paused)
{
	if (!*paused && backlog(to) >= BACKPRESSURE_HIGH) {
		*paused = true;
		bufferevent_disable(from, EV_READ);
		bufferevent_setwatermark(to, EV_WRITE, BACKPRESSURE_LOW, 0);
	}
}

/* From a write callback of `to`: resume reading `from` once drained. */
static void release_backpressure(struct bufferevent *from, struct bufferevent *to, bool *paused)
{
	if (*paused && backlog(to) <= BACKPRESSURE_LOW) {
		*paused = false;
		bufferevent_setwatermark(to, EV_WRITE, 0, 0);
		bufferevent_enable(from, EV_READ);
	}
}

/* ------------------------------------------------------------------------
 * Hooks of the session layer
 * ------------------------------------------------------------------------ */

/*
 * Every OK, ERR and EOF the server sends in the command phase passes here
 * with its status flags: the single place the session's view of the server
 * state is kept current.
 */
static void session_on_result_end(struct session *s, const struct proto_result_end *end)
{
	struct session_context *c = &s->ctx;
	if (end->kind == END_OK || end->kind == END_EOF) {
		c->status_flags = end->status_flags;
		c->autocommit = (end->status_flags & SERVER_STATUS_AUTOCOMMIT) != 0;
		c->in_transaction = (end->status_flags & SERVER_STATUS_IN_TRANS) != 0;
	}
	if (end->kind == END_OK && c->command == COM_INIT_DB && c->pending_database[0]) {
		memcpy(c->database, c->pending_database, sizeof(c->database));
		c->pending_database[0] = '\0';
	}
}

/* An OK that reports session-state changes: pick up a new default
 * database (`USE db` sent as a query, which COM_INIT_DB tracking misses). */
static void note_session_state(struct session *s, const uint8_t *ok, size_t len)
{
	struct proto_ok parsed;
	struct proto_slice schema;
	struct proto_error perr;
	if (proto_parse_ok(ok, len, s->caps, &parsed, &perr) != PROTO_OK ||
	    proto_session_state_schema(parsed.session_state, &schema, &perr) != PROTO_OK)
		return;
	snprintf(s->ctx.database, sizeof(s->ctx.database), "%.*s", (int)schema.len, (const char *)schema.ptr);
	log_debug("session %llu: default database is now '%s'", (unsigned long long)s->id, s->ctx.database);
}

/* The response to the command in flight is complete. */
static void session_on_command_done(struct session *s)
{
	struct session_context *c = &s->ctx;
	if (log_get_level() <= LOG_DEBUG) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double ms = (double)(now.tv_sec - c->command_started.tv_sec) * 1e3 +
			    (double)(now.tv_nsec - c->command_started.tv_nsec) / 1e6;
		log_debug("session %llu: %s (%llu bytes) done in %.3f ms: %s; user '%s', database '%s', autocommit %s, "
			  "%s (status 0x%04x)",
			  (unsigned long long)s->id, proto_command_name(c->command),
			  (unsigned long long)c->command_len, ms, s->tracker.last.kind == END_ERR ? "ERR" : "OK",
			  c->user, c->database, c->autocommit ? "on" : "off",
			  c->in_transaction ? "in transaction" : "no transaction", c->status_flags);
	}
	c->command = 0xff;
	c->pending_database[0] = '\0';
}

/* ------------------------------------------------------------------------
 * Connection phase
 * ------------------------------------------------------------------------ */

static void send_client_greeting(struct session *s, const struct proto_handshake *server_hs)
{
	const struct config *cfg = cfg_of(s);
	struct proto_handshake hs = *server_hs;
	uint32_t caps = server_hs->capabilities & RELAYED_CAPS;
	if (cfg->client_tls != CLIENT_TLS_DISABLED)
		caps |= CLIENT_SSL;
	if (cfg->local_infile)
		caps |= server_hs->capabilities & CLIENT_LOCAL_FILES;
	hs.capabilities = caps;
	/* MariaDB's extended capabilities (progress reports, bulk execute,
	 * metadata caching) change packet layouts: none is relayed. */
	hs.mariadb_ext_caps = 0;
	s->advertised_caps = caps;

	uint8_t buf[HANDSHAKE_MAX_PAYLOAD];
	struct proto_writer w;
	proto_writer_init(&w, buf, sizeof(buf));
	if (!proto_write_handshake(&w, &hs)) {
		fail_client(s, 0, ER_UNKNOWN_ERROR, "HY000", "acctgate: cannot rewrite the server greeting");
		return;
	}
	pio_write_packet(bufferevent_get_output(s->client), 0, buf, w.len);
	s->client_seq = 1;
	set_state(s, S_CLIENT_HELLO);
	bufferevent_enable(s->client, EV_READ);
}

/* The server leg is through its handshake: the session drives it now. */
static void take_server_leg(struct session *s)
{
	s->server = link_take_bev(&s->link);
	bufferevent_setcb(s->server, server_read_cb, server_write_cb, server_event_cb, s);
}

static void on_link_greeting(void *owner)
{
	struct session *s = owner;
	const struct proto_handshake *hs = &s->link.hs;
	s->server_caps = hs->capabilities;
	s->upstream_tls = s->link.tls;
	proto_handshake_scramble(hs, s->scramble);
	send_client_greeting(s, hs);
}

static void on_link_tls_ready(void *owner)
{
	struct session *s = owner;
	take_server_leg(s);
	forward_held_response(s);
}

static void on_link_failed(void *owner, uint16_t code, const char *msg, const uint8_t *server_err,
			   size_t server_err_len)
{
	struct session *s = owner;
	if (server_err) {
		/* Before our greeting: the client reads the server's own ERR. */
		pio_write_packet(bufferevent_get_output(s->client), 0, server_err, server_err_len);
		session_close(s, msg);
		return;
	}
	fail_client(s, s->state == S_CONNECTING ? 0 : s->client_seq, code, "08S01", msg);
}

static const struct link_callbacks session_link_callbacks = {
	.on_greeting = on_link_greeting,
	.on_tls_ready = on_link_tls_ready,
	.on_failed = on_link_failed,
};

static void start_client_tls(struct session *s)
{
	SSL *ssl = SSL_new(s->settings->client_ctx);
	if (!ssl) {
		session_close(s, "cannot create a TLS session for the client");
		return;
	}
	struct bufferevent *tls = link_tls_filter(s->worker->base, s->client, ssl, true);
	if (!tls) {
		SSL_free(ssl);
		session_close(s, "cannot start TLS with the client");
		return;
	}
	s->client = tls;
	bufferevent_setcb(tls, client_read_cb, client_write_cb, client_event_cb, s);
	bufferevent_enable(tls, EV_READ);
	set_state(s, S_CLIENT_TLS);
}

/* Send the held HandshakeResponse41 to the server, with CLIENT_SSL telling
 * the server what this leg really is, and start relaying authentication. */
static void forward_held_response(struct session *s)
{
	uint32_t caps = s->caps;
	if (s->upstream_tls)
		caps |= CLIENT_SSL;
	else
		caps &= ~CLIENT_SSL;
	uint8_t *p = s->held_response;
	p[0] = (uint8_t)caps;
	p[1] = (uint8_t)(caps >> 8);
	p[2] = (uint8_t)(caps >> 16);
	p[3] = (uint8_t)(caps >> 24);
	uint8_t seq = s->upstream_tls ? 2 : 1;
	pio_write_packet(bufferevent_get_output(s->server), seq, p, s->held_response_len);
	s->seq_shift = (int)seq - (int)(s->client_seq - 1);
	free(s->held_response);
	s->held_response = NULL;
	proto_tracker_begin_auth(&s->tracker, s->caps);
	set_state(s, S_AUTH);
	bufferevent_enable(s->server, EV_READ);
	/* The client answers auth switches and key requests from here on. */
	bufferevent_enable(s->client, EV_READ);
}

static void on_client_hello(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->client);
	size_t wire;
	uint64_t plen;
	uint8_t next;
	struct proto_error perr = {0};
	enum proto_status st = pio_logical(in, s->client_seq, HANDSHAKE_MAX_PAYLOAD, &wire, &plen, &next, &perr);
	if (st == PROTO_NEED_MORE)
		return;
	if (st == PROTO_MALFORMED || wire != plen + PROTO_HEADER_LEN) {
		log_warning("session %llu: client %s: malformed handshake packet (%s at %zu: expected %llu, got %llu)",
			    (unsigned long long)s->id, s->peer, perr.what ? perr.what : "multi-chunk", perr.offset,
			    (unsigned long long)perr.expected, (unsigned long long)perr.actual);
		fail_client(s, (uint8_t)(s->client_seq + 1), ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
			    "acctgate: malformed handshake packet");
		return;
	}
	uint8_t *payload = pio_take_payload(in, (size_t)plen);
	if (!payload) {
		session_close(s, "out of memory");
		return;
	}
	const struct config *cfg = cfg_of(s);
	uint8_t reply_seq = (uint8_t)(s->client_seq + 1);
	if (!s->client_tls && proto_is_ssl_request(payload, (size_t)plen)) {
		free(payload);
		if (cfg->client_tls == CLIENT_TLS_DISABLED) {
			fail_client(s, reply_seq, ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
				    "acctgate: TLS was not offered (client_tls = disabled)");
			return;
		}
		s->client_seq = reply_seq;
		start_client_tls(s);
		return;
	}
	struct proto_handshake_response resp;
	if (proto_parse_handshake_response(payload, (size_t)plen, &resp, &perr) != PROTO_OK) {
		free(payload);
		log_warning("session %llu: client %s: unreadable handshake response (%s at byte %zu)",
			    (unsigned long long)s->id, s->peer, perr.what, perr.offset);
		fail_client(s, reply_seq, ER_NET_PACKETS_OUT_OF_ORDER, "08S01", "acctgate: malformed handshake response");
		return;
	}
	if (cfg->client_tls == CLIENT_TLS_REQUIRED && !s->client_tls) {
		free(payload);
		log_notice("session %llu: client %s refused: plaintext login while client_tls = required",
			   (unsigned long long)s->id, s->peer);
		fail_client(s, reply_seq, ER_SECURE_TRANSPORT_REQUIRED, "HY000",
			    "acctgate requires TLS from clients (client_tls = required): connect with TLS");
		return;
	}
	if (!(resp.capabilities & CLIENT_PROTOCOL_41)) {
		free(payload);
		fail_client(s, reply_seq, ER_NET_PACKETS_OUT_OF_ORDER, "08S01", "acctgate: clients must speak protocol 4.1");
		return;
	}
	snprintf(s->ctx.user, sizeof(s->ctx.user), "%.*s", (int)resp.username.len, (const char *)resp.username.ptr);
	if (resp.has_database)
		snprintf(s->ctx.database, sizeof(s->ctx.database), "%.*s", (int)resp.database.len,
			 (const char *)resp.database.ptr);
	/* A client may only use what it was offered; anything else (say
	 * CLIENT_COMPRESS from a misbehaving client) is dropped here. */
	s->caps = resp.capabilities & (s->advertised_caps & ~CLIENT_SSL);
	s->held_response = payload;
	s->held_response_len = (size_t)plen;
	s->client_seq = reply_seq;
	log_info("session %llu: client %s user '%s'%s%s%s", (unsigned long long)s->id, s->peer, s->ctx.user,
		 s->ctx.database[0] ? " database '" : "", s->ctx.database, s->ctx.database[0] ? "'" : "");
	/* Stop reading the client until the server leg is ready. */
	bufferevent_disable(s->client, EV_READ);
	if (s->upstream_tls) {
		set_state(s, S_UPSTREAM_TLS);
		link_start_tls(&s->link, s->caps, resp.max_packet, resp.charset);
	} else {
		take_server_leg(s);
		forward_held_response(s);
	}
}

/* Room for a decrypted password: a 2048-bit key's ciphertext and more. */
#define KEY_PLAINTEXT_MAX 1024

/*
 * One client packet of a caching_sha2_password full authentication that
 * acctgate bridges (see auth_key.h and session.key_relay): the key request
 * is answered here and never reaches the server, so from then on the
 * client's sequence ids run two ahead of the server's; the ciphertext is
 * decrypted and unmasked (the client XORs the password and its NUL with the
 * 20-byte scramble before encrypting) and goes on in clear inside the
 * server leg's TLS. A client that sends its answer in clear at once (it
 * believes its link secure) is passed through.
 * Returns true when the packet was consumed (or the session refused), false
 * when it is to be forwarded as it is.
 */
static bool key_relay_client_packet(struct session *s, struct evbuffer *in, size_t wire, size_t plen, uint8_t next)
{
	const struct auth_key *key = s->worker->gate->auth_key;
	const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)wire) + PROTO_HEADER_LEN;
	if (s->key_relay == KEY_RELAY_REQUEST && plen == 1 && p[0] == 0x02) {
		/* AuthMoreData: 0x01, then the PEM (a few hundred bytes). */
		size_t pem_len;
		const uint8_t *pem = auth_key_public_pem(key, &pem_len);
		uint8_t hdr[PROTO_HEADER_LEN + 1];
		proto_frame_write_header(hdr, (uint32_t)(1 + pem_len), next);
		hdr[PROTO_HEADER_LEN] = 0x01;
		struct evbuffer *out = bufferevent_get_output(s->client);
		evbuffer_drain(in, wire);
		evbuffer_add(out, hdr, sizeof(hdr));
		evbuffer_add(out, pem, pem_len);
		s->client_seq = (uint8_t)(next + 1);
		s->seq_shift -= 2;
		s->key_relay = KEY_RELAY_CIPHERTEXT;
		log_debug("session %llu: caching_sha2_password full authentication: acctgate's key sent to the client",
			  (unsigned long long)s->id);
		return true;
	}
	size_t ksize = auth_key_size(key);
	if (s->key_relay == KEY_RELAY_REQUEST && plen != ksize && plen > 0 && p[plen - 1] == 0x00) {
		s->key_relay = KEY_RELAY_OFF; /* the password in clear already */
		return false;
	}
	uint8_t clear[KEY_PLAINTEXT_MAX];
	size_t clen = 0;
	uint8_t server_seq = (uint8_t)(s->client_seq + s->seq_shift);
	s->key_relay = KEY_RELAY_OFF;
	if (plen != ksize || ksize > sizeof(clear) || !auth_key_decrypt(key, p, plen, clear, &clen) || clen == 0) {
		refuse_login(s, server_seq, next,
			     "acctgate: the client encrypted its password with a key acctgate does not hold (a "
			     "server public key configured in the client?); connect to acctgate with TLS or without one");
		return true;
	}
	for (size_t i = 0; i < clen; i++)
		clear[i] ^= s->scramble[i % sizeof(s->scramble)];
	if (clear[clen - 1] != 0x00) {
		OPENSSL_cleanse(clear, sizeof(clear));
		refuse_login(s, server_seq, next, "acctgate: the client's encrypted password does not unmask");
		return true;
	}
	evbuffer_drain(in, wire);
	pio_write_packet(bufferevent_get_output(s->server), server_seq, clear, clen);
	OPENSSL_cleanse(clear, sizeof(clear));
	s->client_seq = next;
	log_debug("session %llu: caching_sha2_password full authentication: password passed on inside the server "
		  "leg's TLS",
		  (unsigned long long)s->id);
	return true;
}

/* Relay one direction of the auth exchange, shifting sequence ids. */
static void relay_auth_from_client(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->client);
	for (;;) {
		size_t wire;
		uint64_t plen;
		uint8_t next;
		struct proto_error perr = {0};
		enum proto_status st = pio_logical(in, s->client_seq, HANDSHAKE_MAX_PAYLOAD, &wire, &plen, &next, &perr);
		if (st == PROTO_NEED_MORE)
			return;
		if (st == PROTO_MALFORMED) {
			log_warning("session %llu: client %s: bad auth packet (%s: expected %llu, got %llu)",
				    (unsigned long long)s->id, s->peer, perr.what, (unsigned long long)perr.expected,
				    (unsigned long long)perr.actual);
			session_close(s, "malformed packet during authentication");
			return;
		}
		if (s->key_relay != KEY_RELAY_OFF && key_relay_client_packet(s, in, wire, (size_t)plen, next)) {
			if (s->state == S_CLOSING)
				return;
			continue;
		}
		pio_rewrite_seq(in, wire, (uint8_t)(s->client_seq + s->seq_shift));
		evbuffer_remove_buffer(in, bufferevent_get_output(s->server), wire);
		s->client_seq = next;
	}
}

/* ------------------------------------------------------------------------
 * Command phase
 * ------------------------------------------------------------------------ */

/* Commands that would turn the session into something the proxy cannot
 * follow (a replication stream) or that no server implements any more. */
static bool command_refused(uint8_t code)
{
	switch (code) {
	case COM_SLEEP:
	case COM_CONNECT:
	case COM_TIME:
	case COM_DELAYED_INSERT:
	case COM_BINLOG_DUMP:
	case COM_TABLE_DUMP:
	case COM_CONNECT_OUT:
	case COM_REGISTER_SLAVE:
	case COM_DAEMON:
	case COM_BINLOG_DUMP_GTID:
		return true;
	default:
		return code > COM_RESET_CONNECTION;
	}
}

/* Pick up what the session context needs from the command before it goes. */
static void note_command(struct session *s, struct evbuffer *in, size_t wire, uint64_t plen)
{
	struct session_context *c = &s->ctx;
	uint8_t hdr_and_code[PROTO_HEADER_LEN + 1];
	evbuffer_copyout(in, hdr_and_code, sizeof(hdr_and_code));
	c->command = hdr_and_code[PROTO_HEADER_LEN];
	c->command_len = plen;
	clock_gettime(CLOCK_MONOTONIC, &c->command_started);
	c->pending_database[0] = '\0';
	if ((c->command == COM_INIT_DB || c->command == COM_CHANGE_USER) && wire < 4096) {
		uint8_t buf[4096];
		evbuffer_copyout(in, buf, wire);
		struct proto_command cmd;
		struct proto_error perr;
		if (proto_parse_command(buf + PROTO_HEADER_LEN, (size_t)plen, s->caps, &cmd, &perr) != PROTO_OK)
			return;
		if (cmd.code == COM_INIT_DB)
			snprintf(c->pending_database, sizeof(c->pending_database), "%.*s", (int)cmd.u.init_db.schema.len,
				 (const char *)cmd.u.init_db.schema.ptr);
		else {
			snprintf(c->user, sizeof(c->user), "%.*s", (int)cmd.u.change_user.username.len,
				 (const char *)cmd.u.change_user.username.ptr);
			snprintf(c->database, sizeof(c->database), "%.*s", (int)cmd.u.change_user.database.len,
				 (const char *)cmd.u.change_user.database.ptr);
		}
	}
}

/*
 * Every client command passes here, whole, before it is forwarded: this is
 * where a statement can be held (admission control), recorded, or refused.
 * Returns false when the session was closed.
 */
static bool session_dispatch_command(struct session *s, size_t wire, uint64_t plen)
{
	struct evbuffer *in = bufferevent_get_input(s->client);
	note_command(s, in, wire, plen);
	uint8_t code = s->ctx.command;

	if (command_refused(code)) {
		log_notice("session %llu: client %s sent %s (0x%02x), which the proxy refuses", (unsigned long long)s->id,
			   s->peer, proto_command_name(code), code);
		evbuffer_drain(in, wire);
		pio_write_err(bufferevent_get_output(s->client), 1, ER_UNKNOWN_COM_ERROR, "08S01",
			      "acctgate: command %s (0x%02x) is not supported through the proxy", proto_command_name(code),
			      code);
		s->ctx.command = 0xff;
		return true;
	}
	if (code == COM_QUIT) {
		evbuffer_remove_buffer(in, bufferevent_get_output(s->server), wire);
		session_close(s, NULL);
		log_info("session %llu: client quit", (unsigned long long)s->id);
		return false;
	}
	evbuffer_remove_buffer(in, bufferevent_get_output(s->server), wire);
	apply_backpressure(s, s->client, s->server, &s->client_read_paused);
	if (proto_tracker_begin(&s->tracker, code, s->caps)) {
		s->server_in_chunk = false;
		set_state(s, S_COMMAND);
	} else {
		s->ctx.command = 0xff; /* COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA: no answer */
	}
	return true;
}

/* Read whole commands from the client while idle. */
static void process_client_commands(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->client);
	while (s->state == S_IDLE && evbuffer_get_length(in) > 0) {
		size_t wire;
		uint64_t plen;
		uint8_t next;
		struct proto_error perr = {0};
		enum proto_status st = pio_logical(in, 0, cfg_of(s)->max_command_size, &wire, &plen, &next, &perr);
		if (st == PROTO_NEED_MORE)
			return;
		if (st == PROTO_MALFORMED) {
			if (strcmp(perr.what, "packet length") == 0) {
				log_warning("session %llu: client %s sent a command of %llu+ bytes, over max_command_size %llu",
					    (unsigned long long)s->id, s->peer, (unsigned long long)perr.actual,
					    (unsigned long long)perr.expected);
				fail_client(s, 1, ER_NET_PACKET_TOO_LARGE, "08S01",
					    "acctgate: command larger than max_command_size");
			} else {
				log_warning("session %llu: client %s: %s at byte %zu: expected %llu, got %llu",
					    (unsigned long long)s->id, s->peer, perr.what, perr.offset,
					    (unsigned long long)perr.expected, (unsigned long long)perr.actual);
				fail_client(s, 1, ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
					    "acctgate: packets out of order");
			}
			return;
		}
		if (plen == 0) {
			fail_client(s, 1, ER_NET_PACKETS_OUT_OF_ORDER, "08S01", "acctgate: empty command packet");
			return;
		}
		if (!session_dispatch_command(s, wire, plen))
			return;
	}
}

/* Client packets while a command is in flight: only the data a LOCAL INFILE
 * request asked for, or the client's side of COM_CHANGE_USER's exchange. */
static void relay_client_mid_command(struct session *s)
{
	enum proto_tracker_state ts = s->tracker.state;
	if (ts == TRK_AUTH) {
		relay_auth_from_client(s);
		return;
	}
	if (ts != TRK_LOCAL_INFILE)
		return; /* a pipelined command waits in the buffer */
	struct evbuffer *in = bufferevent_get_input(s->client);
	for (;;) {
		struct proto_frame_header h;
		if (!pio_peek_header(in, 0, &h) || evbuffer_get_length(in) < PROTO_HEADER_LEN + h.payload_len)
			return;
		evbuffer_remove_buffer(in, bufferevent_get_output(s->server), PROTO_HEADER_LEN + h.payload_len);
		if (h.payload_len == 0) {
			proto_tracker_client_done(&s->tracker);
			return;
		}
		apply_backpressure(s, s->client, s->server, &s->client_read_paused);
	}
}

/* Back to idle after a response: pending client input, or a drain. */
static void enter_idle(struct session *s)
{
	set_state(s, S_IDLE);
	if (s->drain_requested && !s->ctx.in_transaction) {
		session_close(s, "drained at shutdown");
		return;
	}
	process_client_commands(s);
}

/*
 * A server that asks for the password itself (proto_auth_password_request)
 * reads the answer the way its own connection allows, and the client sends
 * it the way its own connection allows; through acctgate the two legs may
 * differ:
 *   - a TLS client over a plaintext server leg would send the password in
 *     clear, trusting the encryption it sees, and acctgate would put it on
 *     the network: refused;
 *   - caching_sha2_password's full authentication to a plaintext client over
 *     a TLS server leg: the client answers with RSA (a key request, then a
 *     ciphertext) and a server on TLS reads whatever arrives as the password
 *     in clear. acctgate bridges it with its own key (key_relay_client_packet),
 *     so slurmdbd's default, plaintext on loopback to acctgate, works with
 *     MySQL 8's default plugin;
 *   - sha256_password in the same position (it asks for the key with 0x01
 *     and is all but unused next to caching_sha2): refused.
 * A plaintext client that sends mysql_clear_password's clear text chose to.
 * Returns NULL when the request may go to the client, else the message of
 * the ERR that refuses the login.
 */
static const char *password_request_refusal(const struct session *s, enum proto_password_request req)
{
	if (req == PROTO_PW_NONE)
		return NULL;
	if (s->client_tls && !s->upstream_tls)
		return "acctgate: the server asks for the password itself (caching_sha2_password full "
		       "authentication or a cleartext plugin); this client would send it in clear, and the "
		       "server leg is not encrypted ([upstream] tls), so acctgate refused the login";
	if (!s->client_tls && s->upstream_tls && req == PROTO_PW_CLEAR_OR_RSA)
		return "acctgate: the server asks for the password itself (sha256_password); over its TLS leg it "
		       "takes the password only in clear, and this plaintext client would send it RSA-encrypted, so "
		       "acctgate refused the login: connect to acctgate with TLS";
	return NULL;
}

/*
 * A server's packet during authentication: remember the nonce an
 * AuthSwitchRequest brings (key_relay_client_packet unmasks with it), and
 * decide whether the request may reach the client. Returns the refusal's
 * message or NULL.
 */
static const char *on_server_auth_packet(struct session *s, const uint8_t *p, size_t len)
{
	struct proto_auth_switch sw;
	if (len > 0 && p[0] == 0xFE && proto_parse_auth_switch(p, len, &sw, NULL) == PROTO_OK &&
	    sw.data.len >= sizeof(s->scramble))
		memcpy(s->scramble, sw.data.ptr, sizeof(s->scramble));
	enum proto_password_request req = proto_auth_password_request(p, len);
	if (req == PROTO_PW_SHA2_FULL && !s->client_tls && s->upstream_tls) {
		s->key_relay = KEY_RELAY_REQUEST;
		return NULL;
	}
	return password_request_refusal(s, req);
}

/* Authentication is over (OK or ERR): both legs count alike again. */
static void end_auth(struct session *s)
{
	s->seq_shift = 0;
	s->key_relay = KEY_RELAY_OFF;
}

/* Stream the server's response packets to the client. */
static void relay_response(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->server);
	struct evbuffer *out = bufferevent_get_output(s->client);
	while (s->state == S_COMMAND || s->state == S_AUTH) {
		struct proto_frame_header h;
		if (!pio_peek_header(in, 0, &h) || evbuffer_get_length(in) < PROTO_HEADER_LEN + h.payload_len)
			break;
		size_t wire = PROTO_HEADER_LEN + h.payload_len;
		/* The client numbers its next packet after what it received; in
		 * the connection phase the TLS steps shift the two legs apart,
		 * and a key request acctgate answers itself does (any login). */
		int shift = s->seq_shift;
		uint8_t client_view_seq = (uint8_t)(h.seq - shift);
		s->client_seq = (uint8_t)(client_view_seq + 1);
		if (shift)
			pio_rewrite_seq(in, wire, client_view_seq);
		if (s->server_in_chunk) {
			/* Continuation of a logical packet > 16 MiB: row data. */
			s->server_in_chunk = h.payload_len == PROTO_MAX_CHUNK;
			evbuffer_remove_buffer(in, out, wire);
			continue;
		}
		size_t peek = h.payload_len < TRACKER_PEEK ? h.payload_len : TRACKER_PEEK;
		const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(PROTO_HEADER_LEN + peek));
		const char *refusal =
			s->tracker.state == TRK_AUTH ? on_server_auth_packet(s, p + PROTO_HEADER_LEN, peek) : NULL;
		if (refusal) {
			refuse_login(s, (uint8_t)(h.seq + 1), client_view_seq, refusal);
			return;
		}
		struct proto_error perr = {0};
		enum proto_tracker_event ev =
			proto_tracker_feed(&s->tracker, p + PROTO_HEADER_LEN, peek, h.payload_len, &perr);
		if (ev == TRK_EV_MALFORMED) {
			log_error("session %llu: unexpected server packet in %s: %s at byte %zu (expected %llu, got %llu); closing",
				  (unsigned long long)s->id, proto_tracker_state_name(s->tracker.state),
				  perr.what ? perr.what : "?", perr.offset, (unsigned long long)perr.expected,
				  (unsigned long long)perr.actual);
			session_close(s, "protocol desynchronised");
			return;
		}
		s->server_in_chunk = h.payload_len == PROTO_MAX_CHUNK;
		if ((ev == TRK_EV_RESULT_END || ev == TRK_EV_DONE) && s->tracker.last.kind == END_OK &&
		    (s->tracker.last.status_flags & SERVER_SESSION_STATE_CHANGED))
			note_session_state(s, p + PROTO_HEADER_LEN, peek);
		evbuffer_remove_buffer(in, out, wire);

		if (ev == TRK_EV_RESULT_END || ev == TRK_EV_DONE) {
			if (s->state == S_COMMAND)
				session_on_result_end(s, &s->tracker.last);
		}
		if (ev == TRK_EV_DONE) {
			if (s->state == S_AUTH) {
				if (s->tracker.last.kind == END_ERR) {
					log_notice("session %llu: authentication of '%s' from %s failed (server error %u)",
						   (unsigned long long)s->id, s->ctx.user, s->peer, s->tracker.last.err_code);
					session_close(s, NULL);
					return;
				}
				end_auth(s);
				s->ctx.status_flags = s->tracker.last.status_flags;
				s->ctx.autocommit = (s->ctx.status_flags & SERVER_STATUS_AUTOCOMMIT) != 0;
				log_info("session %llu: '%s' authenticated (client %s, server %s)", (unsigned long long)s->id,
					 s->ctx.user, s->client_tls ? "TLS" : "plain", s->upstream_tls ? "TLS" : "plain");
			} else {
				end_auth(s); /* after COM_CHANGE_USER's exchange */
				session_on_command_done(s);
			}
			apply_backpressure(s, s->server, s->client, &s->server_read_paused);
			enter_idle(s);
			return;
		}
	}
	apply_backpressure(s, s->server, s->client, &s->server_read_paused);
}

/* ------------------------------------------------------------------------
 * Callbacks
 * ------------------------------------------------------------------------ */

static void server_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	switch (s->state) {
	case S_AUTH:
	case S_COMMAND:
		relay_response(s);
		break;
	case S_IDLE: {
		/* Unsolicited (a server shutting down or killing us sends an
		 * ERR before closing): pass it on as it is. */
		struct evbuffer *in = bufferevent_get_input(s->server);
		evbuffer_remove_buffer(in, bufferevent_get_output(s->client), evbuffer_get_length(in));
		break;
	}
	default:
		break;
	}
}

static void server_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	if (s->state != S_CLOSING)
		release_backpressure(s->client, s->server, &s->client_read_paused);
}

static void server_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	if (s->state == S_CLOSING) {
		drop_server(s); /* nothing more can be written to it */
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		char why[200];
		if (s->state == S_COMMAND)
			snprintf(why, sizeof(why), "database server closed the connection during %s%s",
				 proto_command_name(s->ctx.command),
				 s->ctx.in_transaction ? "; the open transaction is lost" : "");
		else if (s->state == S_AUTH)
			snprintf(why, sizeof(why), "database server closed the connection during authentication");
		else
			snprintf(why, sizeof(why), "database server closed the connection%s",
				 s->ctx.in_transaction ? "; the open transaction is lost" : "");
		/* Relay whatever the server still said (an ERR explaining why). */
		struct evbuffer *in = bufferevent_get_input(bev);
		if (s->client && evbuffer_get_length(in))
			evbuffer_remove_buffer(in, bufferevent_get_output(s->client), evbuffer_get_length(in));
		drop_server(s);
		session_close(s, why);
	}
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	switch (s->state) {
	case S_CLIENT_HELLO:
		on_client_hello(s);
		break;
	case S_AUTH:
		relay_auth_from_client(s);
		break;
	case S_IDLE:
		process_client_commands(s);
		break;
	case S_COMMAND:
		relay_client_mid_command(s);
		break;
	default:
		break;
	}
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	if (s->state != S_CLOSING && s->server)
		release_backpressure(s->server, s->client, &s->server_read_paused);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	if (s->state == S_CLIENT_TLS) {
		if (what & BEV_EVENT_CONNECTED) {
			char desc[128];
			tls_describe_session(bufferevent_openssl_get_ssl(bev), desc, sizeof(desc));
			log_debug("session %llu: client TLS established (%s)", (unsigned long long)s->id, desc);
			s->client_tls = true;
			set_state(s, S_CLIENT_HELLO);
			on_client_hello(s);
			return;
		}
		unsigned long e = link_tls_error(bev);
		char reason[256] = "connection closed during the TLS handshake";
		if (e)
			ERR_error_string_n(e, reason, sizeof(reason));
		char why[320];
		snprintf(why, sizeof(why), "client TLS handshake failed: %s", reason);
		session_close(s, why);
		return;
	}
	if (s->state == S_CLOSING) {
		if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
			bufferevent_free(s->client);
			s->client = NULL;
		}
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_free(s->client);
		s->client = NULL;
		session_close(s, s->state == S_IDLE ? NULL : "client went away");
	}
}

/* ------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------ */

void session_start(struct worker *w, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
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
	(void)addrlen;
	snprintf(s->peer, sizeof(s->peer), "%s:%u", host, (unsigned)port);

	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;

	snprintf(s->log_prefix, sizeof(s->log_prefix), "session %llu", (unsigned long long)s->id);
	s->timer = evtimer_new(w->base, close_poll_cb, s);
	s->free_ev = event_new(w->base, -1, 0, free_cb, s);
	evutil_make_socket_nonblocking(fd);
	link_tune_socket(fd, cfg_of(s));
	s->client = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!s->timer || !s->free_ev || !s->client) {
		if (!s->client)
			close(fd);
		log_error("session %llu: out of memory", (unsigned long long)s->id);
		if (s->free_ev)
			event_active(s->free_ev, EV_TIMEOUT, 0);
		else
			session_free(s);
		return;
	}
	bufferevent_setcb(s->client, client_read_cb, client_write_cb, client_event_cb, s);
	log_debug("session %llu: accepted %s", (unsigned long long)s->id, s->peer);

	const struct config *cfg = cfg_of(s);
	if (atomic_load(&g->connections) > cfg->max_connections) {
		log_warning("session %llu: refusing %s: max_connections (%d) reached", (unsigned long long)s->id, s->peer,
			    cfg->max_connections);
		fail_client(s, 0, ER_CON_COUNT_ERROR, "08004", "acctgate: too many connections (max_connections)");
		return;
	}
	if (!link_start(&s->link, w->base, w->dns, &g->pool, cfg, s->settings->upstream_ctx, -1, &session_link_callbacks,
			s, s->log_prefix))
		fail_client(s, 0, ER_UNKNOWN_ERROR, "HY000", "acctgate: out of memory");
}

void session_request_drain(struct session *s)
{
	s->drain_requested = true;
	bool idle_phase = s->state == S_IDLE || s->state == S_CONNECTING ||
			  s->state == S_CLIENT_HELLO || s->state == S_CLIENT_TLS;
	if (idle_phase && !s->ctx.in_transaction) {
		if (s->state == S_IDLE)
			session_close(s, "drained at shutdown");
		else
			fail_client(s, s->state == S_CLIENT_HELLO || s->state == S_CLIENT_TLS ? s->client_seq : 0, 1053,
				    "08S01", "acctgate is shutting down");
	}
}

void session_abort(struct session *s, const char *why)
{
	session_close(s, why);
}
