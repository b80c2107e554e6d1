/*
 * link.c - see link.h.
 */
#include "link.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "log.h"
#include "packet_io.h"
#include "tls.h"
#include "upstream.h"

/* Greetings are small; a larger one is not a MySQL server. */
#define GREETING_MAX_PAYLOAD (64u << 10)

/* The error code of every ERR the link causes. Client-range codes (2000-
 * 2999, "can't connect", "SSL error") would read better, but libmariadb
 * reports any such code arriving from a server as "Received malformed
 * packet" and drops the message: the text says what failed. */
#define ER_UPSTREAM 1105 /* ER_UNKNOWN_ERROR */

/* Encrypted bytes queued on the socket before the TLS filter stops and
 * keeps the rest, in clear, in its own output: the backlog the proxy's
 * backpressure measures stays visible there. */
#define TLS_SOCKET_BACKLOG (256u << 10)

static void link_read_cb(struct bufferevent *bev, void *arg);
static void link_event_cb(struct bufferevent *bev, short what, void *arg);
static void connect_next(struct link *l);

void link_endpoint(const struct link *l, char *buf, size_t len)
{
	const struct config_endpoint *ep = &l->cfg->servers[l->server_index];
	snprintf(buf, len, strchr(ep->host, ':') ? "[%s]:%u" : "%s:%u", ep->host, (unsigned)ep->port);
}

const char *link_expected_name(const struct link *l)
{
	return l->cfg->upstream_tls_server_name[0] ? l->cfg->upstream_tls_server_name
						   : l->cfg->servers[l->server_index].host;
}

static void drop_bev(struct link *l)
{
	if (l->bev) {
		bufferevent_free(l->bev);
		l->bev = NULL;
	}
}

/*
 * End the link's life: after this the owner may be gone. `blame` is the
 * reason to record against the server in use (NULL when the failure is not
 * that server's, or was already recorded).
 */
static void fail(struct link *l, const char *blame, uint16_t code, const char *msg, const uint8_t *server_err,
		 size_t server_err_len)
{
	if (blame)
		upstream_pool_report(l->pool, l->cfg, l->server_index, blame);
	l->state = LINK_FAILED;
	evtimer_del(l->timer);
	drop_bev(l);
	l->cb->on_failed(l->owner, code, msg, server_err, server_err_len);
}

void link_tune_socket(int fd, const struct config *cfg)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cfg->keepalive_idle == 0)
		return;
	int idle = cfg->keepalive_idle, intvl = cfg->keepalive_interval, cnt = 6;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* ---- resolve and connect ------------------------------------------------ */

struct evdns_base *link_resolver_new(struct event_base *base, const struct config *cfg, char *err, size_t errlen)
{
	struct evdns_base *dns;
	if (cfg->resolver[0]) {
		dns = evdns_base_new(base, 0);
		if (dns && evdns_base_nameserver_ip_add(dns, cfg->resolver) != 0) {
			snprintf(err, errlen, "[upstream] resolver: cannot use %s", cfg->resolver);
			evdns_base_free(dns, 0);
			return NULL;
		}
	} else {
		dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
		/* No usable resolv.conf (a minimal container): literal addresses
		 * and /etc/hosts still work. */
		if (!dns)
			dns = evdns_base_new(base, 0);
	}
	if (!dns) {
		snprintf(err, errlen, "cannot create a DNS resolver");
		return NULL;
	}
	evdns_base_load_hosts(dns, NULL);
	/* Answers are never cached here: each connection asks again. */
	return dns;
}

/* The current address failed; when it was the server's last, record why. */
static void address_failed(struct link *l, const char *reason)
{
	evtimer_del(l->timer);
	drop_bev(l);
	/* Name each address a host name resolved to: after a failover the
	 * operator needs to see which ones were tried ("localhost" is both
	 * 127.0.0.1 and ::1, and the last is rarely the one that matters). */
	char addr[INET6_ADDRSTRLEN] = "";
	if (l->addr_cur && getnameinfo(l->addr_cur->ai_addr, l->addr_cur->ai_addrlen, addr, sizeof(addr), NULL, 0,
				       NI_NUMERICHOST) != 0)
		addr[0] = '\0';
	bool named = addr[0] && strcmp(addr, l->cfg->servers[l->server_index].host) != 0;
	char entry[INET6_ADDRSTRLEN + 160];
	snprintf(entry, sizeof(entry), "%s%s%s%s", named ? "at " : "", named ? addr : "", named ? ": " : "", reason);
	size_t n = strlen(l->addr_failures);
	/* The resolver may list an address twice (/etc/hosts and its own). */
	if (!strstr(l->addr_failures, entry))
		snprintf(l->addr_failures + n, sizeof(l->addr_failures) - n, "%s%s", n ? ", " : "", entry);
	l->addr_cur = l->addr_cur ? l->addr_cur->ai_next : NULL;
	if (!l->addr_cur) {
		char ep[CONFIG_HOST_MAX + 8];
		link_endpoint(l, ep, sizeof(ep));
		size_t used = strlen(l->attempts);
		snprintf(l->attempts + used, sizeof(l->attempts) - used, "%s%s: %s", used ? "; " : "", ep,
			 l->addr_failures);
		upstream_pool_report(l->pool, l->cfg, l->server_index, l->addr_failures);
		l->addr_failures[0] = '\0';
	}
	connect_next(l);
}

static void connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	char reason[64];
	snprintf(reason, sizeof(reason), "connect timed out after %ds", l->cfg->connect_timeout);
	address_failed(l, reason);
}

static void connect_addr(struct link *l)
{
	l->bev = bufferevent_socket_new(l->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!l->bev) {
		fail(l, NULL, ER_UPSTREAM, "acctgate: out of memory", NULL, 0);
		return;
	}
	bufferevent_setcb(l->bev, link_read_cb, NULL, link_event_cb, l);
	struct timeval tv = {l->cfg->connect_timeout, 0};
	evtimer_add(l->timer, &tv);
	if (bufferevent_socket_connect(l->bev, l->addr_cur->ai_addr, (int)l->addr_cur->ai_addrlen) != 0)
		address_failed(l, strerror(errno)); /* immediate (no route): no event follows */
}

static void resolved_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	if (result == EVUTIL_EAI_CANCEL)
		return; /* the owner is closing; arg may be gone */
	struct link *l = arg;
	l->dns_req = NULL;
	if (result != 0) {
		char reason[160];
		snprintf(reason, sizeof(reason), "cannot resolve: %s", evutil_gai_strerror(result));
		address_failed(l, reason);
		return;
	}
	l->addrs = res;
	l->addr_cur = res;
	connect_addr(l);
}

/* Try the current server's next address, or resolve the next server. */
static void connect_next(struct link *l)
{
	if (l->addr_cur) {
		connect_addr(l);
		return;
	}
	if (l->addrs) {
		evutil_freeaddrinfo(l->addrs);
		l->addrs = NULL;
	}
	if (l->order_pos >= l->nattempts) {
		char msg[640];
		snprintf(msg, sizeof(msg), "acctgate: no database server reachable (%s)", l->attempts);
		log_warning("%s: %s", l->log_prefix, msg);
		fail(l, NULL, ER_UPSTREAM, msg, NULL, 0);
		return;
	}
	l->server_index = l->order[l->order_pos++];
	const struct config_endpoint *ep = &l->cfg->servers[l->server_index];
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)ep->port);
	struct evutil_addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/* May complete before returning (literal addresses, /etc/hosts): then
	 * resolved_cb already ran and the request is NULL. */
	struct evdns_getaddrinfo_request *req = evdns_getaddrinfo(l->dns, ep->host, port, &hints, resolved_cb, l);
	if (req)
		l->dns_req = req;
}

bool link_start(struct link *l, struct event_base *base, struct evdns_base *dns, struct upstream_pool *pool,
		const struct config *cfg, SSL_CTX *tls_ctx, int only_server, const struct link_callbacks *cb,
		void *owner, const char *log_prefix)
{
	memset(l, 0, sizeof(*l));
	l->state = LINK_CONNECTING;
	l->base = base;
	l->dns = dns;
	l->pool = pool;
	l->cfg = cfg;
	l->tls_ctx = tls_ctx;
	l->cb = cb;
	l->owner = owner;
	l->log_prefix = log_prefix;
	l->timer = evtimer_new(base, connect_timeout_cb, l);
	if (!l->timer)
		return false;
	if (only_server >= 0) {
		l->order[0] = only_server;
		l->nattempts = 1;
	} else {
		upstream_pool_order(pool, cfg, l->order);
		l->nattempts = cfg->nservers;
	}
	connect_next(l);
	return true;
}

/* ---- greeting ------------------------------------------------------------ */

static void on_greeting(struct link *l)
{
	struct evbuffer *in = bufferevent_get_input(l->bev);
	size_t wire;
	uint64_t plen;
	uint8_t next;
	struct proto_error perr = {0};
	enum proto_status st = pio_logical(in, 0, GREETING_MAX_PAYLOAD, &wire, &plen, &next, &perr);
	if (st == PROTO_NEED_MORE)
		return;
	char ep[CONFIG_HOST_MAX + 8];
	link_endpoint(l, ep, sizeof(ep));
	if (st == PROTO_MALFORMED || wire != plen + PROTO_HEADER_LEN) {
		log_warning("%s: upstream %s sent a malformed greeting (%s at byte %zu)", l->log_prefix, ep,
			    perr.what ? perr.what : "split packet", perr.offset);
		fail(l, "malformed greeting", ER_UPSTREAM, "acctgate: the database server sent a malformed greeting",
		     NULL, 0);
		return;
	}
	l->greeting = pio_take_payload(in, (size_t)plen);
	l->greeting_len = (size_t)plen;
	if (!l->greeting) {
		fail(l, NULL, ER_UPSTREAM, "acctgate: out of memory", NULL, 0);
		return;
	}
	if (plen > 0 && l->greeting[0] == 0xff) {
		/* Refused before the handshake ("Too many connections", "Host is
		 * blocked"): the client should read the server's own words. */
		log_warning("%s: upstream %s refused the connection before the handshake", l->log_prefix, ep);
		fail(l, "refused the connection before the handshake", 0, "database server refused the connection",
		     l->greeting, l->greeting_len);
		return;
	}
	if (proto_parse_handshake(l->greeting, l->greeting_len, &l->hs, &perr) != PROTO_OK) {
		log_warning("%s: upstream %s greeting unreadable: %s at byte %zu", l->log_prefix, ep, perr.what,
			    perr.offset);
		fail(l, "unreadable greeting", ER_UPSTREAM,
		     "acctgate: the database server sent an unreadable greeting", NULL, 0);
		return;
	}
	if (!(l->hs.capabilities & CLIENT_PROTOCOL_41)) {
		fail(l, "no protocol 4.1", ER_UPSTREAM, "acctgate: the database server does not speak protocol 4.1",
		     NULL, 0);
		return;
	}
	bool offered = (l->hs.capabilities & CLIENT_SSL) != 0;
	enum upstream_tls_mode mode = l->cfg->upstream_tls;
	if (mode >= UPSTREAM_TLS_REQUIRED && !offered) {
		char msg[400];
		snprintf(msg, sizeof(msg),
			 "acctgate: database server %s does not offer TLS and [upstream] tls = %s forbids plaintext; no credentials were sent",
			 ep, config_upstream_tls_name(mode));
		log_warning("%s: %s", l->log_prefix, msg);
		fail(l, "offers no TLS", ER_UPSTREAM, msg, NULL, 0);
		return;
	}
	l->tls = offered && mode != UPSTREAM_TLS_DISABLED;
	if (!l->tls && mode == UPSTREAM_TLS_PREFERRED)
		log_warning("%s: upstream %s offers no TLS; continuing in plaintext (tls = preferred)", l->log_prefix, ep);
	l->state = LINK_HELD;
	bufferevent_disable(l->bev, EV_READ);
	if (!l->tls)
		upstream_pool_report(l->pool, l->cfg, l->server_index, NULL); /* usable as it is */
	l->cb->on_greeting(l->owner);
}

/* ---- TLS ------------------------------------------------------------------ */

struct bufferevent *link_tls_filter(struct event_base *base, struct bufferevent *plain, SSL *ssl, bool accepting)
{
	struct bufferevent *tls = bufferevent_openssl_filter_new(
		base, plain, ssl, accepting ? BUFFEREVENT_SSL_ACCEPTING : BUFFEREVENT_SSL_CONNECTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!tls)
		return NULL;
	bufferevent_setwatermark(plain, EV_WRITE, 0, TLS_SOCKET_BACKLOG);
	/* Peers often close without close_notify; that is not an attack on a
	 * protocol with its own framing and COM_QUIT. */
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	return tls;
}

unsigned long link_tls_error(struct bufferevent *tls)
{
	unsigned long e, reason = 0;
	while ((e = bufferevent_get_openssl_error(tls)) != 0)
		if (!reason && ERR_GET_LIB(e) != 0)
			reason = e;
	return reason;
}

void link_start_tls(struct link *l, uint32_t caps, uint32_t max_packet, uint8_t charset)
{
	char err[256];
	enum upstream_tls_mode mode = l->cfg->upstream_tls;
	enum tls_verify verify = mode == UPSTREAM_TLS_VERIFY_IDENTITY ? TLS_VERIFY_IDENTITY
				 : mode == UPSTREAM_TLS_VERIFY_CA     ? TLS_VERIFY_CA
								      : TLS_VERIFY_NONE;
	SSL *ssl = tls_upstream_ssl_new(l->tls_ctx, verify, link_expected_name(l), err, sizeof(err));
	if (!ssl) {
		fail(l, NULL, ER_UPSTREAM, err, NULL, 0);
		return;
	}
	struct proto_ssl_request req = {
		.capabilities = caps | CLIENT_SSL, .max_packet = max_packet, .charset = charset, .mariadb_ext_caps = 0};
	uint8_t buf[64];
	struct proto_writer w;
	proto_writer_init(&w, buf, sizeof(buf));
	struct bufferevent *tls = NULL;
	if (proto_write_ssl_request(&w, &req)) {
		struct evbuffer *out = bufferevent_get_output(l->bev);
		pio_write_packet(out, 1, buf, w.len);
		/* Send the SSLRequest now, in a segment of its own, as stock
		 * clients do: queued, it would share a segment with the
		 * ClientHello, which servers accept but packet captures (and any
		 * middlebox that reads greedily) cannot split. Whatever the
		 * socket refuses still goes first through the filter. */
		evbuffer_write(out, bufferevent_getfd(l->bev));
		tls = link_tls_filter(l->base, l->bev, ssl, false);
	}
	if (!tls) {
		SSL_free(ssl);
		fail(l, NULL, ER_UPSTREAM, "acctgate: cannot start TLS with the server", NULL, 0);
		return;
	}
	l->bev = tls;
	l->state = LINK_TLS;
	bufferevent_setcb(tls, NULL, NULL, link_event_cb, l);
	bufferevent_enable(tls, EV_READ);
}

static void on_tls_done(struct link *l, bool connected)
{
	SSL *ssl = bufferevent_openssl_get_ssl(l->bev);
	char ep[CONFIG_HOST_MAX + 8], why[300], msg[700];
	link_endpoint(l, ep, sizeof(ep));
	if (connected && l->cfg->has_pin && !tls_check_pin(ssl, l->cfg->upstream_tls_pin_sha256, why, sizeof(why)))
		connected = false;
	else if (!connected)
		tls_describe_failure(ssl, link_tls_error(l->bev), link_expected_name(l), why, sizeof(why));
	if (!connected) {
		snprintf(msg, sizeof(msg), "acctgate: TLS to database server %s failed: %s; no credentials were sent", ep,
			 why);
		log_warning("%s: %s", l->log_prefix, msg);
		fail(l, why, ER_UPSTREAM, msg, NULL, 0);
		return;
	}
	upstream_pool_report(l->pool, l->cfg, l->server_index, NULL);
	char desc[128];
	tls_describe_session(ssl, desc, sizeof(desc));
	log_debug("%s: upstream %s TLS up (%s), checked as '%s' (%s)", l->log_prefix, ep, desc, link_expected_name(l),
		  config_upstream_tls_name(l->cfg->upstream_tls));
	l->state = LINK_READY;
	l->cb->on_tls_ready(l->owner);
}

/* ---- callbacks and ownership -------------------------------------------------- */

static void link_read_cb(struct bufferevent *bev, void *arg)
{
	struct link *l = arg;
	if (l->state == LINK_GREETING)
		on_greeting(l);
}

static void link_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct link *l = arg;
	switch (l->state) {
	case LINK_CONNECTING:
		if (what & BEV_EVENT_CONNECTED) {
			evtimer_del(l->timer);
			link_tune_socket(bufferevent_getfd(bev), l->cfg);
			evutil_freeaddrinfo(l->addrs);
			l->addrs = l->addr_cur = NULL;
			l->state = LINK_GREETING;
			bufferevent_enable(bev, EV_READ);
			return;
		}
		address_failed(l, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	case LINK_TLS:
		on_tls_done(l, (what & BEV_EVENT_CONNECTED) != 0);
		return;
	case LINK_GREETING:
	case LINK_HELD:
		if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
			char ep[CONFIG_HOST_MAX + 8], msg[400];
			link_endpoint(l, ep, sizeof(ep));
			snprintf(msg, sizeof(msg), "acctgate: database server %s closed the connection during the handshake",
				 ep);
			fail(l, "closed the connection during the handshake", ER_UPSTREAM, msg, NULL, 0);
		}
		return;
	case LINK_READY:
	case LINK_FAILED:
		return;
	}
}

struct bufferevent *link_take_bev(struct link *l)
{
	struct bufferevent *bev = l->bev;
	l->bev = NULL;
	l->state = LINK_READY;
	return bev;
}

void link_cleanup(struct link *l)
{
	if (l->dns_req) {
		evdns_getaddrinfo_cancel(l->dns_req);
		l->dns_req = NULL;
	}
	if (l->addrs) {
		evutil_freeaddrinfo(l->addrs);
		l->addrs = l->addr_cur = NULL;
	}
	if (l->timer) {
		event_free(l->timer);
		l->timer = NULL;
	}
	drop_bev(l);
	free(l->greeting);
	l->greeting = NULL;
}
