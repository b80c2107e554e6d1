/*
 * link.h - the server leg of a connection, from name resolution to the end
 * of its TLS handshake. Client sessions and health probes both use it, so
 * a probe connects, and verifies the server, exactly as a session would.
 *
 *   LINK_CONNECTING  resolve each server (again, every time) and try each of
 *                    its addresses within connect_timeout; then the next
 *                    server of the failover list
 *   LINK_GREETING    connected; reading the server's HandshakeV10
 *   LINK_HELD        greeting received; the owner decides when to go on
 *   LINK_TLS         SSLRequest sent, TLS handshake and identity check
 *   LINK_READY       the owner takes the bufferevent (link_take_bev)
 *   LINK_FAILED      on_failed was called; nothing more happens
 *
 * Callbacks may close their owner; the link is not touched after a callback
 * that ends its life (on_failed), and the owner frees it with link_cleanup.
 */
#ifndef ACCTGATE_LINK_H
#define ACCTGATE_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
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
	struct event *timer;
	char attempts[512];          /* "host:port: reason; ..." */
	char addr_failures[256];     /* the current server's: "at addr: reason, ..." */

	struct bufferevent *bev;
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
		void *owner, const char *log_prefix);

/* A TLS filter over a plain bufferevent, set up the same way for both
 * legs (the client leg accepts, the server leg connects). NULL on failure;
 * the caller still owns ssl then. */
struct bufferevent *link_tls_filter(struct event_base *base, struct bufferevent *plain, SSL *ssl, bool accepting);

/* Why a TLS filter failed: the most recent OpenSSL error it recorded (0 if
 * none), emptying its list. libevent 2.1 files SSL_get_error()'s own codes
 * (SSL_ERROR_SSL, SSL_ERROR_SYSCALL: no library) in the same list and
 * hands it back most recent first, so a peer that closes right after our
 * alert puts a bare SSL_ERROR_SYSCALL on top of the real reason; those
 * codes are passed over. */
unsigned long link_tls_error(struct bufferevent *tls);

/* From LINK_HELD with l->tls: send SSLRequest (sequence id 1) with these
 * capabilities and start the TLS handshake. */
void link_start_tls(struct link *l, uint32_t caps, uint32_t max_packet, uint8_t charset);

/* From LINK_READY (or LINK_HELD without TLS): hand the bufferevent over.
 * The caller sets its own callbacks. */
struct bufferevent *link_take_bev(struct link *l);

/* Cancel whatever is under way and free what the link owns. */
void link_cleanup(struct link *l);

/* TCP_NODELAY and keepalive per [proxy] keepalive_*, for both legs. */
void link_tune_socket(int fd, const struct config *cfg);

/* "host:port" of the server being used, and the name its certificate is
 * checked against. */
void link_endpoint(const struct link *l, char *buf, size_t len);
const char *link_expected_name(const struct link *l);

#endif
