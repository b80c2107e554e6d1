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

#include <sys/socket.h>
#include <unistd.h>

#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gate.h"
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

static const struct conn_handler link_handler;
static void connect_next(struct link *l);

void link_endpoint(const struct link *l, char *buf, size_t len)
{
	config_endpoint_name(&l->cfg->servers[l->server_index], buf, len);
}

const char *link_expected_name(const struct link *l)
{
	return l->cfg->upstream_tls_server_name[0] ? l->cfg->upstream_tls_server_name
						   : l->cfg->servers[l->server_index].host;
}

/* Give up the socket being connected or the connection, whichever. */
static void drop_socket(struct link *l)
{
	if (l->connect_ev) {
		event_free(l->connect_ev);
		l->connect_ev = NULL;
	}
	if (l->connect_fd >= 0) {
		close(l->connect_fd);
		l->connect_fd = -1;
	}
	conn_free(l->conn);
	l->conn = NULL;
}

/* Arm the link's timer for `seconds`; false (the link failed) if it cannot be. */
static bool arm_timer(struct link *l, int seconds);

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
	drop_socket(l);
	l->cb->on_failed(l->owner, code, msg, server_err, server_err_len);
}

static void set_option(int fd, int level, int name, int value, const char *what, const char *log_prefix)
{
	/* EOPNOTSUPP: not a TCP socket (a test's socketpair): nothing to tune. */
	if (setsockopt(fd, level, name, &value, sizeof(value)) != 0 && errno != EOPNOTSUPP)
		log_warning("%s: cannot set %s: %s", log_prefix, what, strerror(errno));
}

void link_tune_socket(int fd, const struct config *cfg, const char *log_prefix)
{
	set_option(fd, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY", log_prefix);
	if (cfg->keepalive_idle == 0)
		return;
	set_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE", log_prefix);
	set_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, cfg->keepalive_idle, "TCP_KEEPIDLE", log_prefix);
	set_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, cfg->keepalive_interval, "TCP_KEEPINTVL", log_prefix);
	set_option(fd, IPPROTO_TCP, TCP_KEEPCNT, 6, "TCP_KEEPCNT", log_prefix);
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
	drop_socket(l);
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

static bool arm_timer(struct link *l, int seconds)
{
	struct timeval tv = {seconds, 0};
	if (evtimer_add(l->timer, &tv) == 0)
		return true;
	fail(l, NULL, ER_UPSTREAM, "acctgate: cannot arm a timer", NULL, 0);
	return false;
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct link *l = arg;
	char reason[96];
	if (l->state == LINK_CONNECTING) {
		snprintf(reason, sizeof(reason), "connect timed out after %ds", l->cfg->connect_timeout);
		address_failed(l, reason);
		return;
	}
	char ep[CONFIG_HOST_MAX + 8], msg[400];
	link_endpoint(l, ep, sizeof(ep));
	snprintf(reason, sizeof(reason), "no %s within handshake_timeout (%ds)",
		 l->state == LINK_TLS ? "TLS handshake" : "greeting", l->cfg->handshake_timeout);
	snprintf(msg, sizeof(msg), "acctgate: database server %s: %s", ep, reason);
	log_warning("%s: %s", l->log_prefix, msg);
	fail(l, reason, ER_UPSTREAM, msg, NULL, 0);
}

/* The socket being connected became writable: connected, or refused. */
static void connected_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct link *l = arg;
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
		soerr = errno;
	if (soerr != 0) {
		address_failed(l, strerror(soerr));
		return;
	}
	event_free(l->connect_ev);
	l->connect_ev = NULL;
	l->connect_fd = -1;
	link_tune_socket(fd, l->cfg, l->log_prefix);
	l->conn = conn_new(l->base, fd, l->stats, GREETING_MAX_PAYLOAD + PROTO_HEADER_LEN);
	if (!l->conn) {
		close(fd);
		fail(l, NULL, ER_UPSTREAM, "acctgate: out of memory", NULL, 0);
		return;
	}
	conn_set_handler(l->conn, &link_handler, l);
	evutil_freeaddrinfo(l->addrs);
	l->addrs = l->addr_cur = NULL;
	l->state = LINK_GREETING;
	evtimer_del(l->timer);
	if (!arm_timer(l, l->cfg->handshake_timeout))
		return;
	conn_set_reading(l->conn, true);
}

static void connect_addr(struct link *l)
{
	const struct evutil_addrinfo *ai = l->addr_cur;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		address_failed(l, strerror(errno));
		return;
	}
	l->connect_fd = fd;
	if (connect(fd, ai->ai_addr, (socklen_t)ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
		address_failed(l, strerror(errno)); /* immediate (no route) */
		return;
	}
	l->connect_ev = event_new(l->base, fd, EV_WRITE, connected_cb, l);
	struct timeval tv = {l->cfg->connect_timeout, 0};
	if (!l->connect_ev || event_add(l->connect_ev, NULL) != 0 || evtimer_add(l->timer, &tv) != 0)
		fail(l, NULL, ER_UPSTREAM, "acctgate: out of memory", NULL, 0);
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
		void *owner, const char *log_prefix, struct conn_stats *stats)
{
	memset(l, 0, sizeof(*l));
	l->connect_fd = -1;
	l->stats = stats;
	l->state = LINK_CONNECTING;
	l->base = base;
	l->dns = dns;
	l->pool = pool;
	l->cfg = cfg;
	l->tls_ctx = tls_ctx;
	l->cb = cb;
	l->owner = owner;
	l->log_prefix = log_prefix;
	l->timer = evtimer_new(base, timeout_cb, l);
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

/* Read the greeting. True while it is still incomplete; after false the
 * link called back (or failed) and its owner may be gone. */
static bool on_greeting(struct link *l)
{
	struct iobuf *in = &l->conn->in;
	size_t wire;
	uint64_t plen;
	uint8_t next;
	struct proto_error perr = {0};
	enum proto_status st =
		proto_frame_logical(iobuf_peek(in), iobuf_len(in), 0, GREETING_MAX_PAYLOAD, &wire, &plen, &next, &perr);
	if (st == PROTO_NEED_MORE)
		return true;
	char ep[CONFIG_HOST_MAX + 8];
	link_endpoint(l, ep, sizeof(ep));
	if (st == PROTO_MALFORMED || wire != plen + PROTO_HEADER_LEN) {
		log_warning("%s: upstream %s sent a malformed greeting (%s at byte %zu)", l->log_prefix, ep,
			    perr.what ? perr.what : "split packet", perr.offset);
		fail(l, "malformed greeting", ER_UPSTREAM, "acctgate: the database server sent a malformed greeting",
		     NULL, 0);
		return false;
	}
	l->greeting = malloc(plen ? (size_t)plen : 1);
	l->greeting_len = (size_t)plen;
	if (!l->greeting) {
		fail(l, NULL, ER_UPSTREAM, "acctgate: out of memory", NULL, 0);
		return false;
	}
	memcpy(l->greeting, iobuf_peek(in) + PROTO_HEADER_LEN, (size_t)plen);
	conn_consume(l->conn, wire);
	if (plen > 0 && l->greeting[0] == 0xff) {
		/* Refused before the handshake ("Too many connections", "Host is
		 * blocked"): the client should read the server's own words. */
		log_warning("%s: upstream %s refused the connection before the handshake", l->log_prefix, ep);
		fail(l, "refused the connection before the handshake", 0, "database server refused the connection",
		     l->greeting, l->greeting_len);
		return false;
	}
	if (proto_parse_handshake(l->greeting, l->greeting_len, &l->hs, &perr) != PROTO_OK) {
		log_warning("%s: upstream %s greeting unreadable: %s at byte %zu", l->log_prefix, ep, perr.what,
			    perr.offset);
		fail(l, "unreadable greeting", ER_UPSTREAM,
		     "acctgate: the database server sent an unreadable greeting", NULL, 0);
		return false;
	}
	if (!(l->hs.capabilities & CLIENT_PROTOCOL_41)) {
		fail(l, "no protocol 4.1", ER_UPSTREAM, "acctgate: the database server does not speak protocol 4.1",
		     NULL, 0);
		return false;
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
		return false;
	}
	l->tls = offered && mode != UPSTREAM_TLS_DISABLED;
	if (!l->tls && mode == UPSTREAM_TLS_PREFERRED)
		log_warning("%s: upstream %s offers no TLS; continuing in plaintext (tls = preferred)", l->log_prefix, ep);
	l->state = LINK_HELD;
	evtimer_del(l->timer); /* the client's login_timeout runs now */
	if (!l->tls)
		upstream_pool_report(l->pool, l->cfg, l->server_index, NULL); /* usable as it is */
	l->cb->on_greeting(l->owner);
	return false;
}

/* ---- TLS ------------------------------------------------------------------ */

void link_start_tls(struct link *l, uint32_t caps, uint32_t max_packet, uint8_t charset)
{
	char err[256];
	SSL *ssl = tls_upstream_ssl_new(l->tls_ctx, gate_upstream_verify(l->cfg->upstream_tls), link_expected_name(l),
					err, sizeof(err));
	if (!ssl) {
		fail(l, NULL, ER_UPSTREAM, err, NULL, 0);
		return;
	}
	struct proto_ssl_request req = {
		.capabilities = caps | CLIENT_SSL, .max_packet = max_packet, .charset = charset, .mariadb_ext_caps = 0};
	uint8_t buf[64];
	struct proto_writer w;
	proto_writer_init(&w, buf, sizeof(buf));
	if (!proto_write_ssl_request(&w, &req) || !pio_write_packet(&l->conn->out, 1, buf, w.len)) {
		SSL_free(ssl);
		fail(l, NULL, ER_UPSTREAM, "acctgate: cannot start TLS with the server", NULL, 0);
		return;
	}
	/* The SSLRequest goes now, in a segment of its own, as stock clients
	 * send it: servers accept it sharing a segment with the ClientHello,
	 * but packet captures (and middleboxes that read greedily) cannot
	 * split them. */
	conn_flush(l->conn);
	l->state = LINK_TLS;
	if (!arm_timer(l, l->cfg->handshake_timeout)) {
		SSL_free(ssl);
		return;
	}
	conn_start_tls(l->conn, ssl, false);
}

static void on_tls_done(struct link *l, bool connected)
{
	SSL *ssl = l->conn->ssl;
	evtimer_del(l->timer);
	char ep[CONFIG_HOST_MAX + 8], why[300], msg[700];
	link_endpoint(l, ep, sizeof(ep));
	if (connected && l->cfg->has_pin && !tls_check_pin(ssl, l->cfg->upstream_tls_pin_sha256, why, sizeof(why)))
		connected = false;
	else if (!connected)
		tls_describe_failure(ssl, conn_tls_error(l->conn), link_expected_name(l), why, sizeof(why));
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

static void link_on_read(void *arg)
{
	struct link *l = arg;
	struct conn *c = l->conn;
	if (l->state == LINK_GREETING && !c->failed && !on_greeting(l))
		return;
	if ((l->state != LINK_GREETING && l->state != LINK_HELD) || !(c->eof || c->failed))
		return;
	char ep[CONFIG_HOST_MAX + 8], msg[400];
	link_endpoint(l, ep, sizeof(ep));
	snprintf(msg, sizeof(msg), "acctgate: database server %s closed the connection during the handshake", ep);
	fail(l, "closed the connection during the handshake", ER_UPSTREAM, msg, NULL, 0);
}

static void link_on_tls_done(void *arg)
{
	struct link *l = arg;
	if (l->state == LINK_TLS)
		on_tls_done(l, l->conn->tls == CONN_TLS_UP);
}

static void link_on_drained(void *arg) { (void)arg; }

static const struct conn_handler link_handler = {
	.on_read = link_on_read,
	.on_drained = link_on_drained,
	.on_tls_done = link_on_tls_done,
};

struct conn *link_take_conn(struct link *l)
{
	struct conn *c = l->conn;
	l->conn = NULL;
	l->state = LINK_READY;
	evtimer_del(l->timer);
	return c;
}

void link_cleanup(struct link *l)
{
	if (!l->timer)
		return; /* never started, or cleaned up already */
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
	drop_socket(l);
	free(l->greeting);
	l->greeting = NULL;
}
