/*
 * health.c - active health checks of the upstream servers.
 *
 * Every health_interval seconds, each server without a probe in flight gets
 * one, unless it is down and backing off (upstream.c doubles its wait after
 * each failure, up to health_backoff_max): a server that is down for hours,
 * or a route across VPCs that is gone, is not hammered. The link (link.c) resolves, connects and verifies it exactly as a
 * session would, then the probe logs in as health_user and sends COM_QUIT.
 * The link reports reachability to the pool; a failed login only warns (the
 * server answered: it is the health user that is wrong, not the server).
 *
 * Probes run on the main thread's event base, beside the listener.
 */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gate.h"
#include "link.h"
#include "log.h"
#include "packet_io.h"
#include "proto.h"

#define PROBE_MAX_PAYLOAD (64u << 10)

enum probe_state {
	PROBE_LINK,  /* the link connects, reads the greeting, does TLS */
	PROBE_LOGIN, /* HandshakeResponse sent; auth exchange until OK/ERR */
	PROBE_QUIT,  /* COM_QUIT queued; closing once flushed */
	PROBE_DONE,  /* over: freed at the end of the callback that ended it */
};

struct probe {
	struct health *health;
	int server;
	enum probe_state state;
	struct settings *settings;
	struct link link;
	struct conn *conn;    /* the server leg, once the link hands it over */
	struct event *deadline;
	uint8_t seq;          /* next sequence id to send */
	uint8_t scramble[PROTO_SCRAMBLE_LEN];
	char prefix[CONFIG_ENDPOINT_NAME_MAX + 16]; /* "health check of host:port" */
};

struct health {
	struct gate *gate;
	struct event_base *base;
	struct evdns_base *dns;
	struct event *tick;
	struct probe *probes[CONFIG_MAX_SERVERS];
	char last_login_error[CONFIG_MAX_SERVERS][200];
	struct conn_stats stats;
};

static void probe_free(struct probe *p)
{
	struct health *h = p->health;
	if (h->probes[p->server] == p)
		h->probes[p->server] = NULL;
	link_cleanup(&p->link);
	conn_free(p->conn);
	if (p->deadline)
		event_free(p->deadline);
	settings_release(p->settings);
	free(p);
}

/* Log a login failure once, not every interval. `error` is escaped
 * already (log_escape) where it quotes the server. */
static void note_login_result(struct probe *p, const char *error)
{
	char *last = p->health->last_login_error[p->server];
	const char *user = p->settings->cfg.health_user;
	char shown[4 * sizeof(p->settings->cfg.health_user)];
	log_escape(user, strlen(user), shown, sizeof(shown));
	if (!error) {
		if (last[0])
			log_notice("%s: login as '%s' works again", p->prefix, shown);
		last[0] = '\0';
		return;
	}
	if (strcmp(last, error) != 0)
		log_warning("%s: login as '%s' failed: %s (the server is up; check health_user)", p->prefix, shown,
			    error);
	snprintf(last, sizeof(p->health->last_login_error[0]), "%s", error);
}

/* ---- the scrambles of the password plugins ---------------------------------- */

/* out = md(a + b). False when OpenSSL cannot (out of memory): a response
 * from a half-computed digest would only fail the login, and blame the
 * health user for it. */
static __attribute__((warn_unused_result)) bool digest(const EVP_MD *md, const void *a, size_t alen,
						       const void *b, size_t blen, uint8_t *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n;
	bool ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, a, alen) == 1 &&
		  (!b || EVP_DigestUpdate(ctx, b, blen) == 1) && EVP_DigestFinal_ex(ctx, out, &n) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* The XOR of a password hash and a scramble hash, as both plugins answer:
 *   mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))
 *   caching_sha2_password: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble)
 * H(pw) logs in as well as the password does, and H(H(pw)) is what the
 * server stores: both are wiped. */
static bool scramble_password(const EVP_MD *md, bool scramble_first, const char *pw,
			      const uint8_t scramble[PROTO_SCRAMBLE_LEN], uint8_t out[32], size_t *len)
{
	uint8_t h1[32], h2[32], h3[32];
	size_t n = (size_t)EVP_MD_get_size(md);
	bool ok = n <= sizeof(h1) && digest(md, pw, strlen(pw), NULL, 0, h1) && digest(md, h1, n, NULL, 0, h2) &&
		  (scramble_first ? digest(md, scramble, PROTO_SCRAMBLE_LEN, h2, n, h3)
				  : digest(md, h2, n, scramble, PROTO_SCRAMBLE_LEN, h3));
	if (ok) {
		for (size_t i = 0; i < n; i++)
			out[i] = h1[i] ^ h3[i];
		*len = n;
	}
	OPENSSL_cleanse(h1, sizeof(h1));
	OPENSSL_cleanse(h2, sizeof(h2));
	return ok;
}

enum auth_result {
	AUTH_OK,
	AUTH_UNSUPPORTED, /* a plugin probes cannot use */
	AUTH_FAILED,      /* OpenSSL could not compute it */
};

/* The auth response for `plugin`. */
static enum auth_result auth_response(struct probe *p, struct proto_slice plugin, uint8_t out[32], size_t *len)
{
	const char *pw = p->settings->cfg.health_password;
	bool ok;
	if (plugin.len == 21 && memcmp(plugin.ptr, "mysql_native_password", 21) == 0)
		ok = scramble_password(EVP_sha1(), true, pw, p->scramble, out, len);
	else if (plugin.len == 21 && memcmp(plugin.ptr, "caching_sha2_password", 21) == 0)
		ok = scramble_password(EVP_sha256(), false, pw, p->scramble, out, len);
	else
		return AUTH_UNSUPPORTED;
	return ok ? AUTH_OK : AUTH_FAILED;
}

/* An internal failure: the probe ends without a verdict on the server or
 * the health user. */
static void give_up(struct probe *p, const char *why)
{
	log_warning("%s: %s; this round is skipped", p->prefix, why);
	p->state = PROBE_DONE;
}

/* ---- probe steps ---------------------------------------------------------- */

static const struct conn_handler probe_handler;

static void send_packet(struct probe *p, const uint8_t *payload, size_t len)
{
	if (!pio_write_packet(&p->conn->out, p->seq++, payload, len))
		p->state = PROBE_DONE; /* out of memory: the probe ends */
}

static void send_login(struct probe *p)
{
	const struct proto_handshake *hs = &p->link.hs;
	/* The scramble is part 1 (8 bytes) and the first 12 bytes of part 2. */
	proto_handshake_scramble(hs, p->scramble);

	uint8_t auth[32];
	size_t auth_len = 0;
	static const char native[] = "mysql_native_password";
	struct proto_slice plugin = hs->auth_plugin;
	enum auth_result ar = auth_response(p, plugin, auth, &auth_len);
	if (ar == AUTH_UNSUPPORTED) {
		/* Ask for native password; the server switches if it must. */
		plugin = (struct proto_slice){(const uint8_t *)native, sizeof(native) - 1};
		ar = auth_response(p, plugin, auth, &auth_len);
	}
	if (ar != AUTH_OK) {
		give_up(p, "cannot compute the login's auth response");
		return;
	}
	struct proto_handshake_response resp = {
		.capabilities = (CLIENT_MYSQL | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
				 CLIENT_TRANSACTIONS | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) &
				hs->capabilities,
		.max_packet = 1u << 24,
		.charset = hs->charset,
		.username = {(const uint8_t *)p->settings->cfg.health_user, strlen(p->settings->cfg.health_user)},
		.auth_response = {auth, auth_len},
		.has_auth_plugin = true,
		.auth_plugin = plugin,
	};
	if (p->link.tls)
		resp.capabilities |= CLIENT_SSL;
	uint8_t buf[512];
	struct proto_writer w;
	proto_writer_init(&w, buf, sizeof(buf));
	p->conn = link_take_conn(&p->link);
	conn_set_handler(p->conn, &probe_handler, p);
	if (!proto_write_handshake_response(&w, &resp)) {
		p->state = PROBE_DONE;
		return;
	}
	p->seq = p->link.tls ? 2 : 1;
	p->state = PROBE_LOGIN;
	send_packet(p, buf, w.len);
	conn_set_reading(p->conn, true);
	conn_flush(p->conn);
}

/* The login's outcome is known. The probe is not freed here: its callback
 * frees it once it is done (probe_settle). */
static void finish(struct probe *p, const char *login_error)
{
	note_login_result(p, login_error);
	if (login_error) {
		p->state = PROBE_DONE;
		return;
	}
	log_debug("%s: ok", p->prefix);
	uint8_t quit = COM_QUIT;
	p->seq = 0;
	p->state = PROBE_QUIT;
	send_packet(p, &quit, 1);
	conn_set_reading(p->conn, false);
}

/* One packet of the auth exchange. What the server says goes into the log
 * escaped: an impostor's ERR text must not forge or hide log lines. */
static void on_login_packet(struct probe *p, const uint8_t *pl, size_t len)
{
	char why[200], text[160], plugin[64];
	struct proto_error perr;
	if (len == 0) {
		finish(p, "empty packet");
		return;
	}
	switch (pl[0]) {
	case 0x00:
		finish(p, NULL);
		return;
	case 0xff: {
		struct proto_err e;
		if (proto_parse_err(pl, len, &e, &perr) != PROTO_OK) {
			finish(p, "malformed ERR packet");
			return;
		}
		log_escape((const char *)e.message.ptr, e.message.len, text, sizeof(text));
		snprintf(why, sizeof(why), "ERROR %u: %s", e.code, text);
		finish(p, why);
		return;
	}
	case 0xfe: { /* auth switch */
		struct proto_auth_switch sw;
		uint8_t auth[32];
		size_t auth_len;
		if (proto_parse_auth_switch(pl, len, &sw, &perr) != PROTO_OK || sw.data.len < PROTO_SCRAMBLE_LEN) {
			finish(p, "malformed auth switch");
			return;
		}
		memcpy(p->scramble, sw.data.ptr, PROTO_SCRAMBLE_LEN);
		enum auth_result ar = auth_response(p, sw.plugin, auth, &auth_len);
		if (ar == AUTH_FAILED) {
			give_up(p, "cannot compute the auth switch's response");
			return;
		}
		if (ar == AUTH_UNSUPPORTED) {
			log_escape((const char *)sw.plugin.ptr, sw.plugin.len, plugin, sizeof(plugin));
			snprintf(why, sizeof(why), "the server wants plugin '%s'; health_user must use mysql_native_password or caching_sha2_password",
				 plugin);
			finish(p, why);
			return;
		}
		send_packet(p, auth, auth_len);
		return;
	}
	case 0x01: /* AuthMoreData */
		switch (proto_sha2_auth_state(pl, len)) {
		case PROTO_SHA2_FAST_OK:
			return; /* the OK follows */
		case PROTO_SHA2_FULL_AUTH:
			if (!p->link.tls) {
				finish(p, "caching_sha2_password full authentication needs TLS toward the server");
				return;
			}
			send_packet(p, (const uint8_t *)p->settings->cfg.health_password,
				    strlen(p->settings->cfg.health_password) + 1);
			return;
		case PROTO_SHA2_NONE:
			break;
		}
		finish(p, "unexpected auth data from the server");
		return;
	default:
		finish(p, "unexpected packet during login");
		return;
	}
}

/* The end of every probe callback: write what is queued, and free the
 * probe once it is over (its COM_QUIT sent). Nothing touches p after. */
static void probe_settle(struct probe *p)
{
	if (p->conn)
		conn_flush(p->conn);
	if (p->state == PROBE_DONE || (p->state == PROBE_QUIT && (p->conn->failed || conn_pending(p->conn) == 0)))
		probe_free(p);
}

static void probe_on_read(void *arg)
{
	struct probe *p = arg;
	struct iobuf *in = &p->conn->in;
	while (p->state == PROBE_LOGIN) {
		size_t wire;
		uint64_t plen;
		uint8_t next;
		struct proto_error perr = {0};
		enum proto_status st = proto_frame_logical(iobuf_peek(in), iobuf_len(in), p->seq, PROBE_MAX_PAYLOAD,
							   &wire, &plen, &next, &perr);
		if (st == PROTO_NEED_MORE)
			break;
		if (st == PROTO_MALFORMED || wire != plen + PROTO_HEADER_LEN) {
			finish(p, "malformed packet");
			break;
		}
		p->seq = next;
		on_login_packet(p, iobuf_peek(in) + PROTO_HEADER_LEN, (size_t)plen);
		conn_consume(p->conn, wire);
	}
	if (p->state == PROBE_LOGIN && (p->conn->eof || p->conn->failed)) {
		upstream_pool_report(&p->health->gate->pool, &p->settings->cfg, p->server,
				     "closed the connection during the health check login");
		p->state = PROBE_DONE;
	}
	probe_settle(p);
}

static void probe_on_drained(void *arg) { probe_settle(arg); }

static void probe_on_tls_done(void *arg) { (void)arg; /* the link drove the handshake */ }

static const struct conn_handler probe_handler = {
	.on_read = probe_on_read,
	.on_drained = probe_on_drained,
	.on_tls_done = probe_on_tls_done,
};

static void on_link_greeting(void *owner)
{
	struct probe *p = owner;
	if (p->link.tls)
		link_start_tls(&p->link, CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH, 1u << 24,
			       p->link.hs.charset);
	else {
		send_login(p);
		probe_settle(p);
	}
}

static void on_link_tls_ready(void *owner)
{
	send_login(owner);
	probe_settle(owner);
}

static void on_link_failed(void *owner, uint16_t code, const char *msg, const uint8_t *server_err, size_t len)
{
	probe_free(owner); /* the link told the pool and the log */
}

static const struct link_callbacks probe_link_callbacks = {
	.on_greeting = on_link_greeting,
	.on_tls_ready = on_link_tls_ready,
	.on_failed = on_link_failed,
};

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	if (p->state != PROBE_QUIT)
		upstream_pool_report(&p->health->gate->pool, &p->settings->cfg, p->server, "health check timed out");
	probe_free(p);
}

static void start_probe(struct health *h, struct settings *st, int server)
{
	struct probe *p = calloc(1, sizeof(*p));
	if (!p)
		return;
	p->health = h;
	p->server = server;
	p->settings = st;
	atomic_fetch_add(&st->refs, 1);
	char name[CONFIG_ENDPOINT_NAME_MAX];
	config_endpoint_name(&st->cfg.servers[server], name, sizeof(name));
	snprintf(p->prefix, sizeof(p->prefix), "health check of %s", name);
	p->deadline = evtimer_new(h->base, deadline_cb, p);
	h->probes[server] = p;
	/* Bound the whole probe: connect, TLS and login. */
	struct timeval tv = {2 * st->cfg.connect_timeout, 0};
	if (!p->deadline || evtimer_add(p->deadline, &tv) != 0 ||
	    !link_start(&p->link, h->base, h->dns, &h->gate->pool, &st->cfg, st->upstream_ctx, server,
			&probe_link_callbacks, p, p->prefix, &h->stats))
		probe_free(p);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	struct settings *st = gate_settings(h->gate);
	if (st->cfg.health_user[0]) {
		for (int i = 0; i < st->cfg.nservers; i++)
			if (!h->probes[i] && upstream_pool_due(&h->gate->pool, &st->cfg, i))
				start_probe(h, st, i);
	}
	struct timeval tv = {st->cfg.health_interval, 0};
	/* Without the timer no round comes again: the operator must know. */
	if (evtimer_add(h->tick, &tv) != 0)
		log_error("health checks stop: cannot arm their timer");
	settings_release(st);
}

struct health *health_new(struct gate *g, struct event_base *base, const struct config *cfg, char *err,
			  size_t errlen)
{
	struct health *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->gate = g;
	h->base = base;
	h->dns = link_resolver_new(base, cfg, err, errlen);
	h->tick = evtimer_new(base, tick_cb, h);
	if (!h->dns || !h->tick) {
		if (h->dns)
			snprintf(err, errlen, "cannot set up health checks");
		health_free(h);
		return NULL;
	}
	/* First round at once, so the log tells the upstream's state at start. */
	event_active(h->tick, EV_TIMEOUT, 0);
	return h;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	for (int i = 0; i < CONFIG_MAX_SERVERS; i++)
		if (h->probes[i])
			probe_free(h->probes[i]);
	if (h->tick)
		event_free(h->tick);
	if (h->dns)
		evdns_base_free(h->dns, 1);
	free(h);
}
