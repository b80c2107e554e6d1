/*
 * link.h - the server leg of a connection, from name resolution to the end
 * of its TLS handshake. Client sessions and health probes both use it, so
 * a probe connects, and verifies the server, exactly as a session would.
 *
 *   LINK_CONNECTING  resolve each server (again, every time) and try each of
 *                    its addresses within connect_timeout; then the next
 *                    server of the failover list
 *   LINK_GREETING    connected; reading the server's HandshakeV10 (within
 *                    handshake_timeout)
 *   LINK_HELD        greeting received; the owner decides when to go on.
 *                    The socket is still read: a server that closes (its
 *                    own connect_timeout) is noticed and reported
 *   LINK_TLS         SSLRequest sent, TLS handshake and identity check
 *                    (within handshake_timeout)
 *   LINK_READY       the owner takes the connection (link_take_conn)
 *   LINK_FAILED      on_failed was called; nothing more happens
 *
 * Callbacks may close their owner; the link is not touched after a callback
 * that ends its life (on_failed), and the owner frees it with link_cleanup.
 */
#ifndef ACCTGATE_LINK_H
#define ACCTGATE_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
#include "conn.h"
#include "proto.h"

struct settings;
struct upstream_pool;

enum link_state { LINK_CONNECTING, LINK_GREETING, LINK_HELD, LINK_TLS, LINK_READY, LINK_FAILED };

struct link_callbacks {
	/* The greeting arrived and the TLS policy allows going on. */
	void (*on_greeting)(void *owner);
	/* TLS is up, the chain, name and pin checked. */
	void (*on_tls_ready)(void *owner);
	/*
	 * The leg failed before LINK_READY. `code` and `msg` are meant for the
	 * client's ERR packet; when the server itself refused the connection
	 * before the handshake, server_err holds its ERR payload to relay.
	 */
	void (*on_failed)(void *owner, uint16_t code, const char *msg, const uint8_t *server_err, size_t server_err_len);
};

struct link {
	enum link_state state;
	struct event_base *base;
	struct evdns_base *dns;
	struct upstream_pool *pool;
	const struct config *cfg;
	SSL_CTX *tls_ctx;            /* NULL when [upstream] tls = disabled */
	const struct link_callbacks *cb;
	void *owner;
	const char *log_prefix;      /* "session 12" / "health check" */

	int order[CONFIG_MAX_SERVERS]; /* indexes into cfg->servers, in try order */
	int nattempts;                 /* how many of order[] to try */
	int order_pos;
	int server_index;            /* into cfg->servers */
	struct evutil_addrinfo *addrs, *addr_cur;
	struct evdns_getaddrinfo_request *dns_req;
	struct event *timer;         /* connect_timeout, then handshake_timeout */
	struct event *connect_ev;    /* the socket being connected is writable */
	int connect_fd;              /* -1 when none */
	char attempts[512];          /* "host:port: reason; ..." */
	char addr_failures[256];     /* the current server's: "at addr: reason, ..." */

	struct conn *conn;           /* connected: the leg, until link_take_conn */
	struct conn_stats *stats;
	uint8_t *greeting;           /* the server's HandshakeV10 payload */
	size_t greeting_len;
	struct proto_handshake hs;   /* parsed; slices point into greeting */
	bool tls;                    /* the leg is (or will be) encrypted */
};

/* The resolver of one event base: [upstream] resolver, or the system's
 * (/etc/resolv.conf), plus /etc/hosts. NULL with err on failure. */
struct evdns_base *link_resolver_new(struct event_base *base, const struct config *cfg, char *err, size_t errlen);

/* Start connecting: to the servers in the pool's order, or only to
 * cfg->servers[only_server] when it is >= 0 (health probes). The outcome is
 * reported to the pool: down with the reason on failure, up once the leg is
 * usable (greeting read, and TLS verified when used). Returns false (nothing
 * started) when out of memory. */
bool link_start(struct link *l, struct event_base *base, struct evdns_base *dns, struct upstream_pool *pool,
		const struct config *cfg, SSL_CTX *tls_ctx, int only_server, const struct link_callbacks *cb,
		void *owner, const char *log_prefix, struct conn_stats *stats);

/* From LINK_HELD with l->tls: send SSLRequest (sequence id 1) with these
 * capabilities and start the TLS handshake. */
void link_start_tls(struct link *l, uint32_t caps, uint32_t max_packet, uint8_t charset);

/* From LINK_READY (or LINK_HELD without TLS): hand the connection over.
 * The caller sets its own handler. */
struct conn *link_take_conn(struct link *l);

/* Cancel whatever is under way and free what the link owns. */
void link_cleanup(struct link *l);

/* TCP_NODELAY and keepalive per [proxy] keepalive_*, for both legs. A
 * setting the kernel refuses is logged under log_prefix; the leg works on
 * without it. */
void link_tune_socket(int fd, const struct config *cfg, const char *log_prefix);

/* "host:port" of the server being used, and the name its certificate is
 * checked against. */
void link_endpoint(const struct link *l, char *buf, size_t len);
const char *link_expected_name(const struct link *l);

#endif
