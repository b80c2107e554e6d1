/*
 * harness.h - drive one acctgate session in-process, against a scripted
 * MySQL server, with no database and no threads.
 *
 *   test (client side)          acctgate (session.c)           test (server side)
 *   socketpair end  <========>  session_start(fd) ... link  <==>  127.0.0.1:port
 *   harness_client_*            worker->base                     harness_server_*
 *
 * Everything runs on the worker's event base in the test's own thread: the
 * test-side sockets are registered on the same base, and every wait pumps
 * that base (EVLOOP_ONCE, bounded by a short timer) until its condition
 * holds or its deadline passes. A missed deadline fails the test with the
 * caller's file and line; nothing ever blocks, so nothing can hang.
 *
 * The test-side sockets are buffered: sends are queued and flushed as the
 * socket accepts them (a 20 MiB command needs the proxy to read while the
 * test writes), receives accumulate until an expect_* consumes them.
 *
 * Packets are built in a struct harness_buf, which numbers them itself
 * (its seq goes up by one per physical chunk), so one buffer can hold a
 * whole scripted response: send it from the server side and expect the
 * very same bytes on the client side to check a byte-for-byte relay.
 *
 * Writing a scenario:
 *
 *	struct harness *h = *state;          (setup: harness_new(NULL))
 *	harness_login(h, HARNESS_CLIENT_CAPS);
 *	harness_client_send_packet(h, 0, "\x03SELECT 1", 9);
 *	harness_server_expect_command(h, "\x03SELECT 1", 9);
 *	struct harness_buf r;
 *	harness_buf_init(&r, 1);
 *	harness_buf_ok(&r, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
 *	harness_server_send(h, r.data, r.len);
 *	harness_client_expect_bytes(h, r.data, r.len);
 *	harness_buf_free(&r);
 *
 * What the harness needs from the proxy (the whole coupling, kept small so
 * the proxy's internals can change under it): config_load, settings_build,
 * settings_release, upstream_pool_init/configure/destroy, worker_new,
 * worker_join_and_free (on a worker whose thread never started),
 * session_start, and the fields struct gate.settings, .settings_lock (which
 * gate_settings takes), .pool, .connections, .next_session_id, .auth_key
 * (NULL: no caching_sha2 key relay) and struct worker.base, .nsessions.
 * The drain scenarios also call session_request_drain on
 * worker.sessions.
 */
#ifndef ACCTGATE_TEST_HARNESS_H
#define ACCTGATE_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "gate.h"
#include "proto.h"

/* How long any expected event may take. Generous: ASan builds on a
 * shared two-core machine. */
#define HARNESS_TIMEOUT_MS 5000
/* How long "nothing happens" is watched for. */
#define HARNESS_QUIET_MS 100

/* The scripted server's greeting. */
#define HARNESS_SERVER_VERSION "8.0.36-scripted"
#define HARNESS_CONNECTION_ID 0x01020304u
#define HARNESS_SERVER_CHARSET 45 /* utf8mb4_general_ci */
/* What a MySQL 8 server offers, with things the proxy must mask out:
 * CLIENT_COMPRESS, CLIENT_QUERY_ATTRIBUTES and CLIENT_LOCAL_FILES (off in
 * the harness's configuration). No CLIENT_SSL: [upstream] tls = disabled. */
#define HARNESS_SERVER_CAPS                                                                                     \
	(CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_NO_SCHEMA | \
	 CLIENT_COMPRESS | CLIENT_ODBC | CLIENT_LOCAL_FILES | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 |           \
	 CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_RESERVED |                      \
	 CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |     \
	 CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |                       \
	 CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS | CLIENT_SESSION_TRACK | CLIENT_DEPRECATE_EOF |                       \
	 CLIENT_QUERY_ATTRIBUTES)
/* What the greeting that reaches the client must offer. */
#define HARNESS_ADVERTISED_CAPS \
	(HARNESS_SERVER_CAPS & ~(CLIENT_COMPRESS | CLIENT_QUERY_ATTRIBUTES | CLIENT_LOCAL_FILES | CLIENT_SSL))
/* The scripted client's capabilities, as libmariadb (slurmdbd) sends
 * them, without CLIENT_DEPRECATE_EOF; OR it in for the other layout. */
#define HARNESS_CLIENT_CAPS                                                                                    \
	(CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 |                  \
	 CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS |        \
	 CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)

/* ---- packet buffers ---------------------------------------------------- */

/* Growable bytes; `seq` is the sequence id the next packet gets. */
struct harness_buf {
	uint8_t *data;
	size_t len, cap;
	uint8_t seq;
};

void harness_buf_init(struct harness_buf *b, uint8_t first_seq);
void harness_buf_free(struct harness_buf *b);
/* Append bytes as they are (a payload being built, or raw wire bytes). */
void harness_buf_raw(struct harness_buf *b, const void *p, size_t n);
/* Append one logical packet, split at 0xFFFFFF like a real peer would. */
void harness_buf_packet(struct harness_buf *b, const void *payload, size_t n);

/* Server packets, each appended as one packet. `caps` is the negotiated
 * set (harness->caps); `header` 0x00 for an OK, 0xFE for an OK that ends
 * a result under CLIENT_DEPRECATE_EOF. */
void harness_buf_ok(struct harness_buf *b, uint32_t caps, uint8_t header, uint16_t status, uint64_t affected,
		    const char *info);
void harness_buf_eof(struct harness_buf *b, uint16_t status);
void harness_buf_err(struct harness_buf *b, uint16_t code, const char *sql_state, const char *msg);
void harness_buf_column_count(struct harness_buf *b, uint64_t n);
void harness_buf_column_def(struct harness_buf *b, const char *name);
/* A text row; a NULL value is SQL NULL. */
void harness_buf_text_row(struct harness_buf *b, size_t n, const char *const *values);
/* The END of a result: an EOF, or under CLIENT_DEPRECATE_EOF an OK with
 * header 0xFE. */
void harness_buf_result_end(struct harness_buf *b, uint32_t caps, uint16_t status);
/* A whole text result set: column count, definitions, the EOF after them
 * (unless CLIENT_DEPRECATE_EOF), rows (nrows x ncols values, row-major),
 * then the END with `status`. */
void harness_buf_result_set(struct harness_buf *b, uint32_t caps, size_t ncols, const char *const *names,
			    size_t nrows, const char *const *values, uint16_t status);

/* ---- the harness ----------------------------------------------------------- */

/* One test-side socket. */
struct harness_peer {
	const char *name;      /* "client" / "server", for messages */
	int fd;                /* -1 when closed or not yet accepted */
	struct event *rd, *wr;
	struct harness_buf in; /* received, not yet consumed (from in_pos) */
	size_t in_pos;
	struct harness_buf out; /* queued, not yet written (from out_pos) */
	size_t out_pos;
	struct harness_buf packet; /* the last packet an expect_* read */
	bool eof;              /* the other end closed (or reset) */
	int error;             /* errno of a failed read or write, 0 if none */
};

struct harness {
	char conf_path[64];
	struct config cfg;
	struct gate gate;
	struct worker *worker;
	struct event *tick;    /* bounds each EVLOOP_ONCE */

	int listen_fd;         /* the scripted server's listening socket */
	struct event *listen_ev;
	uint16_t port;
	int accepted;          /* connections the scripted server accepted */

	struct harness_peer client, server;

	uint32_t caps;         /* negotiated: what the client's login sent */
	uint8_t scramble[PROTO_SCRAMBLE_LEN]; /* the greeting's nonce */
};

/*
 * A harness with this configuration: [proxy] client_tls = disabled, and
 * `proxy_lines` (may be NULL) appended to [proxy]; [upstream] servers at the
 * scripted server, tls = disabled. The log level is warning unless
 * proxy_lines sets it or ACCTGATE_TEST_LOG names one (debug to watch a
 * failing scenario). Fails the test on any error.
 */
struct harness *harness_new(const char *proxy_lines);
/* Close the test-side sockets, wait for the session to be freed, free all.
 * False (after printing why) when a session outlived the wait. */
bool harness_free(struct harness *h);

/* Pump the event loop until cond(h, arg) holds (true) or timeout_ms pass
 * (false). */
bool harness_run_until(struct harness *h, bool (*cond)(struct harness *, void *), void *arg, int timeout_ms);
/* Sessions alive on the worker. */
int harness_nsessions(const struct harness *h);

/* Hand the proxy a new client connection (session_start on a socketpair
 * end), as the listener thread would. */
void harness_start_session(struct harness *h);

/*
 * Exchange the test's ends of the current session with *client / *server
 * (zeroed peers with fd = -1 the first time), so a second session can be
 * started and driven through h->client / h->server while the first one
 * stays as it is; swap again to go back. Close both sets before
 * harness_free.
 */
void harness_swap_peers(struct harness *h, struct harness_peer *client, struct harness_peer *server);
/* Close a swapped-out peer and free its buffers. */
void harness_peer_free(struct harness_peer *p);

/* The scripted pieces of a login, for scenarios that bend one of them. */
void harness_server_greet(struct harness *h);
/* The HandshakeResponse41 payload the scripted client sends. */
void harness_handshake_response(struct harness *h, uint32_t caps, struct harness_buf *payload);
/* A whole plain login, every step checked: greeting relayed with the
 * server's version, connection id and nonce and the expected capabilities,
 * the client's response reaching the server unchanged, the OK coming back. */
#define harness_login(h, caps) harness_login_at((h), (caps), __FILE__, __LINE__)
/* A COM_QUERY from the client, checked to reach the server as sent. */
#define harness_query(h, sql) harness_query_at((h), (sql), __FILE__, __LINE__)
/* COM_PING through the session and back: proves it is in step and idle. */
#define harness_ping(h) harness_ping_at((h), __FILE__, __LINE__)

/* ---- each side ----------------------------------------------------------------
 * The macros pass the caller's file and line, which failures report. */

#define harness_client_send(h, p, n) harness_send(&(h)->client, (p), (n))
#define harness_server_send(h, p, n) harness_send(&(h)->server, (p), (n))
/* One logical packet with sequence id `seq` (split at 0xFFFFFF). */
#define harness_client_send_packet(h, seq, p, n) harness_send_packet(&(h)->client, (seq), (p), (n))
#define harness_server_send_packet(h, seq, p, n) harness_send_packet(&(h)->server, (seq), (p), (n))

/* The next bytes received are exactly these. */
#define harness_client_expect_bytes(h, p, n) harness_expect_bytes_at((h), &(h)->client, (p), (n), __FILE__, __LINE__)
#define harness_server_expect_bytes(h, p, n) harness_expect_bytes_at((h), &(h)->server, (p), (n), __FILE__, __LINE__)
/* The next logical packet has this sequence id and payload. */
#define harness_client_expect_packet(h, seq, p, n) \
	harness_expect_packet_at((h), &(h)->client, (seq), (p), (n), __FILE__, __LINE__)
#define harness_server_expect_packet(h, seq, p, n) \
	harness_expect_packet_at((h), &(h)->server, (seq), (p), (n), __FILE__, __LINE__)
/* A command reaches the server: sequence id 0 and this payload. */
#define harness_server_expect_command(h, p, n) \
	harness_expect_packet_at((h), &(h)->server, 0, (p), (n), __FILE__, __LINE__)
/* The next packet is an ERR with this sequence id and code; its message
 * is returned in msg (may be NULL). */
#define harness_client_expect_err(h, seq, code, msg, msglen) \
	harness_expect_err_at((h), &(h)->client, (seq), (code), (msg), (msglen), __FILE__, __LINE__)
/* Read the next logical packet whatever it is: *seq and a malloc'd payload
 * of *len bytes (free it). */
#define harness_client_read_packet(h, seq, len) \
	harness_read_packet_at((h), &(h)->client, (seq), (len), __FILE__, __LINE__)
#define harness_server_read_packet(h, seq, len) \
	harness_read_packet_at((h), &(h)->server, (seq), (len), __FILE__, __LINE__)
/* The other end closes with nothing more received. */
#define harness_client_expect_close(h) harness_expect_close_at((h), &(h)->client, __FILE__, __LINE__)
#define harness_server_expect_close(h) harness_expect_close_at((h), &(h)->server, __FILE__, __LINE__)
/* The scripted server accepts the proxy's connection. */
#define harness_server_accept(h) harness_server_accept_at((h), __FILE__, __LINE__)
/* The scripted server stops listening: the proxy's connect is refused. */
void harness_close_listener(struct harness *h);
/* The scripted server (or client) closes its end. */
void harness_close(struct harness_peer *p);
#define harness_server_close(h) harness_close(&(h)->server)
#define harness_client_close(h) harness_close(&(h)->client)
/* Neither test-side socket receives anything (or closes) for `ms`. */
#define harness_expect_quiet(h, ms) harness_expect_quiet_at((h), (ms), __FILE__, __LINE__)
/* The session is freed within the timeout. */
#define harness_expect_no_session(h) harness_expect_no_session_at((h), __FILE__, __LINE__)

/* Bytes queued on a test-side socket that the proxy has not read yet
 * (the socket's own buffer counts as read). */
size_t harness_unsent(const struct harness_peer *p);

void harness_send(struct harness_peer *p, const void *bytes, size_t n);
void harness_send_packet(struct harness_peer *p, uint8_t seq, const void *payload, size_t n);
void harness_expect_bytes_at(struct harness *h, struct harness_peer *p, const void *bytes, size_t n,
			     const char *file, int line);
void harness_expect_packet_at(struct harness *h, struct harness_peer *p, uint8_t seq, const void *payload, size_t n,
			      const char *file, int line);
void harness_expect_err_at(struct harness *h, struct harness_peer *p, uint8_t seq, uint16_t code, char *msg,
			   size_t msglen, const char *file, int line);
uint8_t *harness_read_packet_at(struct harness *h, struct harness_peer *p, uint8_t *seq, size_t *len,
				const char *file, int line);
void harness_expect_close_at(struct harness *h, struct harness_peer *p, const char *file, int line);
void harness_server_accept_at(struct harness *h, const char *file, int line);
void harness_expect_quiet_at(struct harness *h, int ms, const char *file, int line);
void harness_expect_no_session_at(struct harness *h, const char *file, int line);
void harness_login_at(struct harness *h, uint32_t caps, const char *file, int line);
void harness_ping_at(struct harness *h, const char *file, int line);
void harness_query_at(struct harness *h, const char *sql, const char *file, int line);

#endif
