/*
 * admin.c - the admin port's listener and connections: the server side of
 * the MySQL connection phase, acctgate's own check of the one admin
 * account, the failed-login throttle, and the packets its answers are made
 * of. What each command answers is admin_commands.c's.
 *
 *   client                         acctgate (main thread)
 *     | <-- greeting (seq 0): protocol 10, "acctgate <version> admin", a
 *     |     fresh 20-byte nonce, mysql_native_password, CLIENT_SSL if TLS
 *     | SSLRequest (1) ---------->  TLS accept            [optional]
 *     | HandshakeResponse (1|2) ->  mysql_native_password: checked at once
 *     | <-- AuthSwitchRequest ----  client_ed25519 asked for ([admin] auth
 *     |                             = any) or the only one (ed25519): that,
 *     |                             with 32 fresh random bytes; another
 *     |                             plugin: mysql_native_password, the same
 *     |                             nonce
 *     | auth response ----------->  native: SHA1(pw) XOR SHA1(nonce +
 *     |                             SHA1(SHA1(pw))), compared in constant
 *     |                             time; ed25519: a 64-byte signature of the
 *     |                             32 bytes under the password's public key
 *     |                             (tls/auth_ed25519.h)
 *     | <-- OK / ERR 1045 --------  after the address's throttle delay
 *     | COM_QUERY (0) ----------->  result set, OK or ERR (seq 1...)
 *
 * The throttle: each consecutive failure from an address doubles the delay
 * before its ERR (ADMIN_DELAY_BASE_MS up to ADMIN_DELAY_MAX_MS), and no
 * verdict for that address, a success included, goes out before the last
 * one's delay ended. Otherwise a guesser would open connections in
 * parallel and take a quick OK as the answer, never waiting for an ERR.
 * With at most ADMIN_CONN_MAX connections at once, that bounds the guesses
 * to one per delay.
 */
#include "admin_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "gate.h"
#include "log.h"
#include "packet_io.h"
#include "tls.h"

#ifndef ACCTGATE_VERSION
#define ACCTGATE_VERSION "unknown"
#endif

#define NATIVE_PLUGIN "mysql_native_password"
#define ED25519_PLUGIN "client_ed25519"

/* Room for a client's auth response: one byte more than the longest right
 * one (a client_ed25519 signature), so that a longer answer keeps a length
 * no check accepts. */
#define ADMIN_TOKEN_MAX (AUTH_ED25519_SIG_LEN + 1)

/* What the admin port offers. Bit 0 (CLIENT_LONG_PASSWORD, which MariaDB
 * reads as CLIENT_MYSQL) set: no MariaDB extended capability follows, so
 * nothing changes the packet layouts below. CLIENT_DEPRECATE_EOF is
 * offered and both result-set endings are written (admin_rs_end). */
#define ADMIN_CAPS                                                                                              \
	(CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 |                 \
	 CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH |            \
	 CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_DEPRECATE_EOF)

#define CHARSET_UTF8MB4 45
#define TYPE_VAR_STRING 0xFD

/* MySQL error numbers the admin port answers with. */
#define ER_CON_COUNT_ERROR 1040
#define ER_HANDSHAKE_ERROR 1043
#define ER_ACCESS_DENIED_ERROR 1045
#define ER_UNKNOWN_COM_ERROR 1047
#define ER_NET_PACKET_TOO_LARGE 1153
#define ER_NET_PACKETS_OUT_OF_ORDER 1156
#define ER_PARSE_ERROR 1064
#define ER_NOT_SUPPORTED_AUTH_MODE 1251
#define ER_SECURE_TRANSPORT_REQUIRED 3159

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *state_name(enum admin_state st)
{
	static const char *const names[] = {
		[AS_HELLO] = "hello",	  [AS_TLS] = "tls",	      [AS_SWITCHED] = "auth-switch", [AS_VERDICT] = "verdict",
		[AS_READY] = "ready",	  [AS_GATHERING] = "gathering", [AS_CLOSING] = "closing",
	};
	return names[st];
}

static const char *plugin_name(enum admin_plugin p)
{
	return p == ADMIN_PLUGIN_ED25519 ? ED25519_PLUGIN : NATIVE_PLUGIN;
}

/* ------------------------------------------------------------------------
 * Packets out
 * ------------------------------------------------------------------------ */

static bool put_packet(struct admin_conn *ac, const uint8_t *payload, size_t len)
{
	if (!pio_write_packet(&ac->c->out, ac->seq, payload, len))
		return false;
	ac->seq++;
	return true;
}

static struct proto_writer scratch(struct admin_conn *ac)
{
	struct proto_writer w;
	proto_writer_init(&w, ac->admin->scratch, sizeof(ac->admin->scratch));
	return w;
}

bool admin_send_ok(struct admin_conn *ac, const char *info)
{
	struct proto_writer w = scratch(ac);
	struct proto_ok ok = {.header = 0x00, .status_flags = SERVER_STATUS_AUTOCOMMIT};
	if (info)
		ok.info = (struct proto_slice){(const uint8_t *)info, strlen(info)};
	return proto_write_ok(&w, ac->caps | CLIENT_PROTOCOL_41, &ok) && put_packet(ac, w.buf, w.len);
}

bool admin_send_err(struct admin_conn *ac, uint16_t code, const char *sql_state, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct proto_writer w = scratch(ac);
	return proto_write_err_msg(&w, code, sql_state, msg) && put_packet(ac, w.buf, w.len);
}

static bool send_eof(struct admin_conn *ac)
{
	struct proto_writer w = scratch(ac);
	struct proto_eof eof = {.status_flags = SERVER_STATUS_AUTOCOMMIT};
	return proto_write_eof(&w, &eof) && put_packet(ac, w.buf, w.len);
}

bool admin_rs_begin(struct admin_conn *ac, const char *const *names, size_t ncols)
{
	struct proto_writer w = scratch(ac);
	proto_write_lenenc(&w, ncols);
	if (w.overflow || !put_packet(ac, w.buf, w.len))
		return false;
	static const uint8_t def[] = "def";
	for (size_t i = 0; i < ncols; i++) {
		struct proto_slice name = {(const uint8_t *)names[i], strlen(names[i])};
		struct proto_column_def col = {
			.catalog = {def, 3},
			.name = name,
			.org_name = name,
			.charset = CHARSET_UTF8MB4,
			.column_length = 1024,
			.type = TYPE_VAR_STRING,
		};
		w = scratch(ac);
		if (!proto_write_column_def(&w, &col) || !put_packet(ac, w.buf, w.len))
			return false;
	}
	return (ac->caps & CLIENT_DEPRECATE_EOF) || send_eof(ac);
}

bool admin_rs_row(struct admin_conn *ac, const char *const *values, size_t ncols)
{
	struct proto_writer w = scratch(ac);
	for (size_t i = 0; i < ncols; i++) {
		if (!values[i])
			proto_write_u8(&w, 0xFB);
		else
			proto_write_lenenc_str(&w, values[i], strlen(values[i]));
	}
	return !w.overflow && put_packet(ac, w.buf, w.len);
}

bool admin_rs_pair(struct admin_conn *ac, const char *name, const char *fmt, ...)
{
	char value[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	const char *row[] = {name, value};
	return admin_rs_row(ac, row, 2);
}

bool admin_rs_end(struct admin_conn *ac)
{
	if (!(ac->caps & CLIENT_DEPRECATE_EOF))
		return send_eof(ac);
	/* CLIENT_DEPRECATE_EOF: an OK with the EOF's 0xFE header ends it. */
	struct proto_writer w = scratch(ac);
	struct proto_ok ok = {.header = 0xFE, .status_flags = SERVER_STATUS_AUTOCOMMIT};
	return proto_write_ok(&w, ac->caps | CLIENT_PROTOCOL_41, &ok) && put_packet(ac, w.buf, w.len);
}

void admin_flush(struct admin_conn *ac)
{
	if (ac->c)
		conn_flush(ac->c);
}

/* ------------------------------------------------------------------------
 * Closing and freeing
 * ------------------------------------------------------------------------ */

static void conn_free_admin(struct admin_conn *ac)
{
	struct admin *a = ac->admin;
	if (ac->prev)
		ac->prev->next = ac->next;
	else
		a->conns = ac->next;
	if (ac->next)
		ac->next->prev = ac->prev;
	a->nconns--;
	conn_free(ac->c);
	if (ac->timer)
		event_free(ac->timer);
	if (ac->free_ev)
		event_free(ac->free_ev);
	OPENSSL_cleanse(ac->nonce, sizeof(ac->nonce));
	OPENSSL_cleanse(ac->ed_nonce, sizeof(ac->ed_nonce));
	free(ac);
}

static void free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free_admin(arg);
}

static void schedule_free(struct admin_conn *ac)
{
	if (ac->free_ev && !event_pending(ac->free_ev, EV_TIMEOUT, NULL))
		event_active(ac->free_ev, EV_TIMEOUT, 0);
}

static void close_if_flushed(struct admin_conn *ac)
{
	if (ac->c->failed || conn_pending(ac->c) == 0)
		schedule_free(ac);
}

void admin_close(struct admin_conn *ac, const char *why)
{
	if (ac->state == AS_CLOSING)
		return;
	if (why)
		log_info("admin %llu: closing (%s) from %s: %s", (unsigned long long)ac->id, state_name(ac->state),
			 ac->peer, why);
	ac->state = AS_CLOSING;
	struct timeval tv = {ADMIN_CLOSE_FLUSH_SECONDS, 0};
	if (!ac->timer || evtimer_add(ac->timer, &tv) != 0)
		schedule_free(ac);
	conn_set_reading(ac->c, false);
	conn_flush(ac->c);
	conn_close_notify(ac->c);
	close_if_flushed(ac);
}

/* ERR then close: every failure of the connection phase ends so. */
static void fail(struct admin_conn *ac, uint16_t code, const char *sql_state, const char *msg)
{
	if (!admin_send_err(ac, code, sql_state, "%s", msg))
		log_error("admin %llu: out of memory for an ERR", (unsigned long long)ac->id);
	admin_close(ac, msg);
}

/* ------------------------------------------------------------------------
 * The failed-login throttle
 * ------------------------------------------------------------------------ */

static struct admin_throttle *throttle_find(struct admin *a, const char *host, bool create)
{
	struct admin_throttle *oldest = &a->throttle[0];
	uint64_t now = now_ms();
	for (size_t i = 0; i < ADMIN_THROTTLE_SLOTS; i++) {
		struct admin_throttle *t = &a->throttle[i];
		if (t->host[0] && now - t->last_ms > ADMIN_THROTTLE_FORGET_MS && now >= t->busy_until_ms)
			memset(t, 0, sizeof(*t)); /* forgiven */
		if (t->host[0] && strcmp(t->host, host) == 0)
			return t;
		if (!t->host[0] || (oldest->host[0] && t->last_ms < oldest->last_ms))
			oldest = t;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->host, sizeof(oldest->host), "%s", host);
	return oldest;
}

/* The delay the n-th consecutive failure earns. */
static uint64_t failure_delay_ms(unsigned n)
{
	uint64_t d = ADMIN_DELAY_BASE_MS;
	for (unsigned i = 1; i < n && d < ADMIN_DELAY_MAX_MS; i++)
		d *= 2;
	return d < ADMIN_DELAY_MAX_MS ? d : ADMIN_DELAY_MAX_MS;
}

/* ------------------------------------------------------------------------
 * The login
 * ------------------------------------------------------------------------ */

static bool sha1(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[20])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) && EVP_DigestUpdate(ctx, a, alen) &&
		  (!blen || EVP_DigestUpdate(ctx, b, blen)) && EVP_DigestFinal_ex(ctx, out, &n) && n == 20;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * mysql_native_password: the client sends SHA1(pw) XOR SHA1(nonce +
 * SHA1(SHA1(pw))); the same is computed here from the file's secret and
 * compared with CRYPTO_memcmp, so the time taken says nothing of how much
 * of it matched.
 */
static bool native_password_ok(const uint8_t nonce[PROTO_SCRAMBLE_LEN], const char *password, const uint8_t *resp,
			       size_t len)
{
	uint8_t h1[20], h2[20], h3[20], expected[20];
	bool ok = sha1(password, strlen(password), NULL, 0, h1) && sha1(h1, 20, NULL, 0, h2) &&
		  sha1(nonce, PROTO_SCRAMBLE_LEN, h2, 20, h3);
	for (size_t i = 0; i < 20; i++)
		expected[i] = h1[i] ^ h3[i];
	ok = ok && len == 20 && CRYPTO_memcmp(expected, resp, 20) == 0;
	OPENSSL_cleanse(h1, sizeof(h1));
	OPENSSL_cleanse(h2, sizeof(h2));
	OPENSSL_cleanse(h3, sizeof(h3));
	OPENSSL_cleanse(expected, sizeof(expected));
	return ok;
}

/* The answer to the plugin the login was switched to (or the greeting's),
 * checked against this generation's password. */
static bool password_ok(const struct admin_conn *ac, const struct settings *st, const uint8_t *resp, size_t len)
{
	if (!st->cfg.admin_password[0])
		return false;
	if (ac->plugin == ADMIN_PLUGIN_ED25519)
		return st->admin_ed25519 && auth_ed25519_verify(st->admin_ed25519, ac->ed_nonce, resp, len);
	return native_password_ok(ac->nonce, st->cfg.admin_password, resp, len);
}

static void send_verdict(struct admin_conn *ac)
{
	if (ac->verdict_ok) {
		if (!admin_send_ok(ac, NULL)) {
			admin_close(ac, "out of memory");
			return;
		}
		ac->state = AS_READY;
		ac->c->in_limit = ADMIN_COMMAND_MAX + PROTO_HEADER_LEN;
		ac->seq = 0;
		conn_set_reading(ac->c, true);
		return;
	}
	fail(ac, ER_ACCESS_DENIED_ERROR, "28000", "Access denied for this admin user (acctgate admin port)");
}

/* The response is in: decide, and answer once the address's throttle lets
 * the verdict go. The client is not read meanwhile. */
static void decide(struct admin_conn *ac, const uint8_t *resp, size_t len)
{
	struct admin *a = ac->admin;
	struct settings *st = gate_settings(a->gate);
	const struct config *cfg = &st->cfg;
	/* Both checks run whatever the first says. */
	size_t ulen = strlen(ac->user);
	bool user_ok = ulen == strlen(cfg->admin_user) && CRYPTO_memcmp(ac->user, cfg->admin_user, ulen) == 0;
	bool pw_ok = password_ok(ac, st, resp, len);
	settings_release(st);
	ac->verdict_ok = user_ok && pw_ok;

	uint64_t now = now_ms();
	struct admin_throttle *t = throttle_find(a, ac->host, !ac->verdict_ok);
	uint64_t at = now;
	char user[sizeof(ac->user) * 4];
	log_escape(ac->user, strlen(ac->user), user, sizeof(user));
	if (ac->verdict_ok) {
		a->logins_ok++;
		if (t) {
			at = t->busy_until_ms > now ? t->busy_until_ms : now;
			memset(t, 0, sizeof(*t)); /* a success ends the series */
		}
		log_notice("admin %llu: '%s' logged in from %s (%s, %s)", (unsigned long long)ac->id, user, ac->peer,
			   ac->tls ? "TLS" : "plaintext", plugin_name(ac->plugin));
	} else {
		a->logins_failed++;
		t->failures++;
		t->last_ms = now;
		uint64_t delay = failure_delay_ms(t->failures);
		at = (t->busy_until_ms > now ? t->busy_until_ms : now) + delay;
		t->busy_until_ms = at;
		log_warning("admin %llu: login of '%s' from %s refused: %s (%s; failure %u in a row from %s; "
			    "answered in %llu ms)",
			    (unsigned long long)ac->id, user, ac->peer, !user_ok ? "unknown user" : "wrong password",
			    plugin_name(ac->plugin), t->failures, ac->host, (unsigned long long)(at - now));
	}
	ac->state = AS_VERDICT;
	conn_set_reading(ac->c, false);
	if (at <= now) {
		send_verdict(ac);
		return;
	}
	uint64_t wait = at - now;
	struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)((wait % 1000) * 1000)};
	if (evtimer_add(ac->timer, &tv) != 0)
		admin_close(ac, "cannot arm a timer");
}

/* One whole packet at the front of the input, or NULL (need more, or the
 * connection failed: then it is closed). */
static const uint8_t *take_packet(struct admin_conn *ac, size_t max, size_t *wire, size_t *plen)
{
	struct iobuf *in = &ac->c->in;
	uint64_t payload;
	uint8_t next;
	struct proto_error perr = {0};
	enum proto_status st =
		proto_frame_logical(iobuf_peek(in), iobuf_len(in), ac->seq, max, wire, &payload, &next, &perr);
	if (st == PROTO_NEED_MORE)
		return NULL;
	if (st == PROTO_MALFORMED) {
		char msg[200];
		snprintf(msg, sizeof(msg), "acctgate admin: malformed packet (%s: expected %llu, got %llu)",
			 perr.what ? perr.what : "framing", (unsigned long long)perr.expected,
			 (unsigned long long)perr.actual);
		ac->seq = (uint8_t)(ac->seq + 1);
		fail(ac, perr.kind == PROTO_ERR_TOO_LARGE ? ER_NET_PACKET_TOO_LARGE : ER_NET_PACKETS_OUT_OF_ORDER,
		     "08S01", msg);
		return NULL;
	}
	*plen = (size_t)payload;
	ac->seq = next;
	return iobuf_peek(in) + PROTO_HEADER_LEN;
}

static void start_tls(struct admin_conn *ac)
{
	SSL *ssl = SSL_new(ac->admin->tls_ctx);
	if (!ssl) {
		admin_close(ac, "cannot create a TLS session");
		return;
	}
	ac->state = AS_TLS;
	conn_start_tls(ac->c, ssl, true);
}

static bool plugin_is(struct proto_slice name, const char *plugin)
{
	return name.len == strlen(plugin) && memcmp(name.ptr, plugin, name.len) == 0;
}

/* The plugin a login is checked with: [admin] auth's only one, or under
 * any, client_ed25519 when the client asked for it and the greeting's
 * otherwise. */
static enum admin_plugin plugin_for(enum admin_auth auth, struct proto_slice asked)
{
	switch (auth) {
	case ADMIN_AUTH_NATIVE:
		return ADMIN_PLUGIN_NATIVE;
	case ADMIN_AUTH_ED25519:
		return ADMIN_PLUGIN_ED25519;
	case ADMIN_AUTH_ANY:
		break;
	}
	return plugin_is(asked, ED25519_PLUGIN) ? ADMIN_PLUGIN_ED25519 : ADMIN_PLUGIN_NATIVE;
}

/* The AuthSwitchRequest to ac->plugin. */
static void send_switch(struct admin_conn *ac)
{
	const char *name = plugin_name(ac->plugin);
	uint8_t native[PROTO_SCRAMBLE_LEN + 1];
	struct proto_auth_switch sw = {.plugin = {(const uint8_t *)name, strlen(name)}};
	if (ac->plugin == ADMIN_PLUGIN_ED25519) {
		/* A nonce of the plugin's size: the greeting's 20 bytes are too
		 * few (the client refuses any other length). */
		if (RAND_bytes(ac->ed_nonce, sizeof(ac->ed_nonce)) != 1) {
			admin_close(ac, "cannot draw a nonce");
			return;
		}
		sw.data = (struct proto_slice){ac->ed_nonce, sizeof(ac->ed_nonce)};
	} else {
		/* The greeting's nonce, NUL-terminated as MySQL servers send it. */
		memcpy(native, ac->nonce, PROTO_SCRAMBLE_LEN);
		native[PROTO_SCRAMBLE_LEN] = 0;
		sw.data = (struct proto_slice){native, sizeof(native)};
	}
	struct proto_writer w = scratch(ac);
	if (!proto_write_auth_switch(&w, &sw) || !put_packet(ac, w.buf, w.len)) {
		admin_close(ac, "out of memory");
		return;
	}
	ac->state = AS_SWITCHED;
}

static void read_hello(struct admin_conn *ac)
{
	size_t wire, plen;
	const uint8_t *p = take_packet(ac, ADMIN_HANDSHAKE_MAX, &wire, &plen);
	if (!p)
		return;
	if (!ac->tls && proto_is_ssl_request(p, plen)) {
		conn_consume(ac->c, wire);
		if (!ac->admin->tls_ctx) {
			fail(ac, ER_HANDSHAKE_ERROR, "08S01", "acctgate admin: TLS is not offered on this port");
			return;
		}
		start_tls(ac);
		return;
	}
	struct proto_handshake_response resp;
	struct proto_error perr = {0};
	if (proto_parse_handshake_response(p, plen, &resp, &perr) != PROTO_OK) {
		conn_consume(ac->c, wire);
		log_warning("admin %llu: %s: unreadable handshake response (%s at byte %zu)", (unsigned long long)ac->id,
			    ac->peer, perr.what, perr.offset);
		fail(ac, ER_HANDSHAKE_ERROR, "08S01", "acctgate admin: malformed handshake response");
		return;
	}
	snprintf(ac->user, sizeof(ac->user), "%.*s", (int)resp.username.len, (const char *)resp.username.ptr);
	ac->caps = resp.capabilities & ADMIN_CAPS;
	if (ac->admin->tls_mode == CLIENT_TLS_REQUIRED && !ac->tls) {
		conn_consume(ac->c, wire);
		log_notice("admin %llu: %s refused: plaintext login while [admin] client_tls = required",
			   (unsigned long long)ac->id, ac->peer);
		fail(ac, ER_SECURE_TRANSPORT_REQUIRED, "HY000",
		     "acctgate admin port requires TLS ([admin] client_tls = required): connect with --ssl");
		return;
	}
	struct settings *st = gate_settings(ac->admin->gate);
	enum admin_auth auth = st->cfg.admin_auth;
	settings_release(st);
	bool named_native = !resp.has_auth_plugin || plugin_is(resp.auth_plugin, NATIVE_PLUGIN);
	ac->plugin = plugin_for(auth, resp.auth_plugin);
	if (ac->plugin == ADMIN_PLUGIN_ED25519 && !(ac->caps & CLIENT_PLUGIN_AUTH)) {
		/* No AuthSwitchRequest may go to it; no password was tried. */
		conn_consume(ac->c, wire);
		log_notice("admin %llu: %s refused: a client without plugin authentication while [admin] auth = "
			   "ed25519",
			   (unsigned long long)ac->id, ac->peer);
		fail(ac, ER_NOT_SUPPORTED_AUTH_MODE, "08004",
		     "acctgate admin port takes client_ed25519 logins only ([admin] auth = ed25519)");
		return;
	}
	if (ac->plugin == ADMIN_PLUGIN_NATIVE && named_native) {
		uint8_t token[ADMIN_TOKEN_MAX];
		size_t n = resp.auth_response.len < sizeof(token) ? resp.auth_response.len : sizeof(token);
		memcpy(token, resp.auth_response.ptr, n);
		conn_consume(ac->c, wire);
		decide(ac, token, n);
		OPENSSL_cleanse(token, sizeof(token));
		return;
	}
	/* client_ed25519, or another plugin (caching_sha2_password...) that
	 * gets mysql_native_password, or the greeting's when [admin] auth =
	 * ed25519: the answer comes after the switch. */
	log_debug("admin %llu: client plugin '%.*s': switching to %s", (unsigned long long)ac->id,
		  (int)resp.auth_plugin.len, (const char *)resp.auth_plugin.ptr, plugin_name(ac->plugin));
	conn_consume(ac->c, wire);
	send_switch(ac);
}

static void read_switch_reply(struct admin_conn *ac)
{
	size_t wire, plen;
	const uint8_t *p = take_packet(ac, ADMIN_HANDSHAKE_MAX, &wire, &plen);
	if (!p)
		return;
	uint8_t token[ADMIN_TOKEN_MAX];
	size_t n = plen < sizeof(token) ? plen : sizeof(token);
	memcpy(token, p, n);
	conn_consume(ac->c, wire);
	decide(ac, token, n);
	OPENSSL_cleanse(token, sizeof(token));
}

/* ------------------------------------------------------------------------
 * The command phase
 * ------------------------------------------------------------------------ */

void admin_command_done(struct admin_conn *ac)
{
	if (ac->state == AS_CLOSING)
		return;
	ac->state = AS_READY;
	ac->seq = 0;
	conn_set_reading(ac->c, true);
}

static void read_commands(struct admin_conn *ac)
{
	while (ac->state == AS_READY) {
		size_t wire, plen;
		ac->seq = 0; /* every command starts a sequence */
		const uint8_t *p = take_packet(ac, ADMIN_COMMAND_MAX, &wire, &plen);
		if (!p)
			return;
		uint8_t code = plen ? p[0] : 0xFF;
		if (code == COM_QUIT) {
			conn_consume(ac->c, wire);
			admin_close(ac, NULL);
			return;
		}
		if (code == COM_PING || code == COM_INIT_DB) {
			conn_consume(ac->c, wire);
			if (!admin_send_ok(ac, NULL))
				admin_close(ac, "out of memory");
			continue;
		}
		if (code != COM_QUERY) {
			conn_consume(ac->c, wire);
			if (!admin_send_err(ac, ER_UNKNOWN_COM_ERROR, "08S01",
					    "acctgate admin: %s is not supported here (COM_QUERY, COM_PING, COM_INIT_DB "
					    "and COM_QUIT are)",
					    plen ? proto_command_name(code) : "an empty packet"))
				admin_close(ac, "out of memory");
			continue;
		}
		char err[300];
		struct admin_command cmd;
		bool ok = admin_parse((const char *)p + 1, plen - 1, &cmd, err, sizeof(err));
		conn_consume(ac->c, wire);
		if (!ok) {
			if (!admin_send_err(ac, ER_PARSE_ERROR, "42000", "%s", err))
				admin_close(ac, "out of memory");
			continue;
		}
		admin_run(ac, &cmd);
	}
}

/* ------------------------------------------------------------------------
 * The connection's callbacks
 * ------------------------------------------------------------------------ */

static void on_read(void *arg)
{
	struct admin_conn *ac = arg;
	switch (ac->state) {
	case AS_HELLO:
		read_hello(ac);
		break;
	case AS_SWITCHED:
		read_switch_reply(ac);
		break;
	case AS_READY:
		read_commands(ac);
		break;
	default:
		break;
	}
	if (ac->state != AS_CLOSING && (ac->c->eof || ac->c->failed))
		admin_close(ac, ac->state == AS_READY ? NULL : ac->c->failed ? ac->c->why : "client went away");
	admin_flush(ac);
	if (ac->state == AS_CLOSING)
		close_if_flushed(ac);
}

static void on_drained(void *arg)
{
	struct admin_conn *ac = arg;
	if (ac->state == AS_CLOSING)
		close_if_flushed(ac);
}

static void on_tls_done(void *arg)
{
	struct admin_conn *ac = arg;
	if (ac->state != AS_TLS)
		return;
	if (ac->c->tls != CONN_TLS_UP) {
		char reason[256] = "connection closed during the TLS handshake";
		unsigned long e = conn_tls_error(ac->c);
		if (e)
			ERR_error_string_n(e, reason, sizeof(reason));
		char why[320];
		snprintf(why, sizeof(why), "TLS handshake failed: %s", reason);
		admin_close(ac, why);
		return;
	}
	ac->tls = true;
	ac->state = AS_HELLO;
	read_hello(ac);
	admin_flush(ac);
}

static const struct conn_handler admin_handler = {
	.on_read = on_read,
	.on_drained = on_drained,
	.on_tls_done = on_tls_done,
};

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct admin_conn *ac = arg;
	switch (ac->state) {
	case AS_CLOSING:
		schedule_free(ac);
		return;
	case AS_VERDICT:
		send_verdict(ac);
		break;
	case AS_HELLO:
	case AS_TLS:
	case AS_SWITCHED:
		log_notice("admin %llu: %s: login not complete after login_timeout", (unsigned long long)ac->id,
			   ac->peer);
		if (ac->state == AS_TLS)
			admin_close(ac, NULL);
		else
			fail(ac, ER_HANDSHAKE_ERROR, "08S01", "acctgate admin: login_timeout reached");
		break;
	default:
		break;
	}
	admin_flush(ac);
}

/* ------------------------------------------------------------------------
 * Accepting
 * ------------------------------------------------------------------------ */

static void format_peer(const struct sockaddr *addr, char *host, size_t hostlen, char *peer, size_t peerlen)
{
	uint16_t port = 0;
	snprintf(host, hostlen, "?");
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		evutil_inet_ntop(AF_INET, &in->sin_addr, host, hostlen);
		port = ntohs(in->sin_port);
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, hostlen);
		port = ntohs(in6->sin6_port);
	}
	snprintf(peer, peerlen, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
}

static bool send_greeting(struct admin_conn *ac)
{
	if (RAND_bytes(ac->nonce, sizeof(ac->nonce)) != 1)
		return false;
	/* The nonce goes into a NUL-terminated field: no NUL inside, and
	 * printable as MySQL servers make it. */
	for (size_t i = 0; i < sizeof(ac->nonce); i++)
		ac->nonce[i] = (uint8_t)(0x21 + ac->nonce[i] % 0x5e);
	static const char version[] = "acctgate " ACCTGATE_VERSION " admin";
	uint8_t part2[PROTO_SCRAMBLE_LEN - 8 + 1];
	memcpy(part2, ac->nonce + 8, PROTO_SCRAMBLE_LEN - 8);
	part2[PROTO_SCRAMBLE_LEN - 8] = 0;
	struct proto_handshake hs = {
		.protocol_version = 10,
		.server_version = {(const uint8_t *)version, strlen(version)},
		.connection_id = (uint32_t)ac->id,
		.capabilities = ADMIN_CAPS | (ac->admin->tls_ctx ? CLIENT_SSL : 0),
		.has_charset_and_status = true,
		.charset = CHARSET_UTF8MB4,
		.status_flags = SERVER_STATUS_AUTOCOMMIT,
		.auth_data_len = PROTO_SCRAMBLE_LEN + 1,
		.scramble2 = {part2, sizeof(part2)},
		.auth_plugin = {(const uint8_t *)NATIVE_PLUGIN, strlen(NATIVE_PLUGIN)},
		.auth_plugin_nul = true,
	};
	memcpy(hs.scramble1, ac->nonce, 8);
	struct proto_writer w = scratch(ac);
	ac->seq = 0;
	return proto_write_handshake(&w, &hs) && put_packet(ac, w.buf, w.len);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *addr, int len, void *arg)
{
	(void)l;
	(void)len;
	struct admin *a = arg;
	struct admin_conn *ac = calloc(1, sizeof(*ac));
	if (!ac) {
		evutil_closesocket(fd);
		return;
	}
	ac->admin = a;
	ac->id = ++a->next_id;
	format_peer(addr, ac->host, sizeof(ac->host), ac->peer, sizeof(ac->peer));
	evutil_make_socket_nonblocking(fd);
	ac->c = conn_new(a->base, fd, &a->stats, ADMIN_HANDSHAKE_MAX + PROTO_HEADER_LEN);
	ac->timer = evtimer_new(a->base, timer_cb, ac);
	ac->free_ev = event_new(a->base, -1, 0, free_cb, ac);
	if (!ac->c || !ac->timer || !ac->free_ev) {
		if (!ac->c)
			evutil_closesocket(fd);
		conn_free(ac->c);
		if (ac->timer)
			event_free(ac->timer);
		if (ac->free_ev)
			event_free(ac->free_ev);
		log_error("admin: out of memory accepting %s", ac->peer);
		free(ac);
		return;
	}
	conn_set_handler(ac->c, &admin_handler, ac);
	ac->next = a->conns;
	if (a->conns)
		a->conns->prev = ac;
	a->conns = ac;
	a->nconns++;
	log_debug("admin %llu: accepted %s", (unsigned long long)ac->id, ac->peer);
	if (a->nconns > ADMIN_CONN_MAX) {
		log_warning("admin %llu: refusing %s: %d admin connections already", (unsigned long long)ac->id, ac->peer,
			    ADMIN_CONN_MAX);
		ac->state = AS_HELLO;
		fail(ac, ER_CON_COUNT_ERROR, "08004", "acctgate admin: too many admin connections");
		return;
	}
	struct settings *st = gate_settings(a->gate);
	struct timeval tv = {st->cfg.login_timeout, 0};
	settings_release(st);
	ac->state = AS_HELLO;
	if (!send_greeting(ac) || evtimer_add(ac->timer, &tv) != 0) {
		admin_close(ac, "cannot send the greeting");
		return;
	}
	conn_set_reading(ac->c, true);
	conn_flush(ac->c);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	log_error("admin: accept: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static bool is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0;
}

bool admin_start(struct gate *g, const struct config *cfg, struct admin **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!cfg->admin_user[0] || !cfg->admin_password_file[0]) {
		log_notice("admin port not started: [admin] user and password_file are not set (it has no default "
			   "password)");
		return true;
	}
	struct admin *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "[admin]: out of memory");
		return false;
	}
	a->gate = g;
	a->base = g->base;
	a->tls_mode = cfg->admin_client_tls;
	config_endpoint_name(&cfg->admin_listen, a->listen_name, sizeof(a->listen_name));
	char why[400];
	if (cfg->admin_tls_cert[0] && cfg->admin_client_tls != CLIENT_TLS_DISABLED) {
		struct tls_listener_params p = {cfg->admin_tls_cert, cfg->admin_tls_key, "", "", ""};
		a->tls_ctx = tls_listener_ctx_new(&p, why, sizeof(why));
		if (!a->tls_ctx) {
			snprintf(err, errlen, "%s: [admin] TLS: %s", cfg->path, why);
			goto fail;
		}
	}
	a->mailbox_ready = mailbox_init(&a->mailbox, a->base, admin_deliver, a);
	if (!a->mailbox_ready) {
		snprintf(err, errlen, "[admin]: cannot make a mailbox: %s", strerror(errno));
		goto fail;
	}
	struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = EVUTIL_AI_PASSIVE};
	struct evutil_addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%u", (unsigned)cfg->admin_listen.port);
	int rc = evutil_getaddrinfo(cfg->admin_listen.host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "[admin] listen: cannot resolve '%s': %s", cfg->admin_listen.host,
			 evutil_gai_strerror(rc));
		goto fail;
	}
	a->listener = evconnlistener_new_bind(a->base, on_accept, a,
					      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 16,
					      res->ai_addr, (int)res->ai_addrlen);
	evutil_freeaddrinfo(res);
	if (!a->listener) {
		snprintf(err, errlen, "[admin] listen: cannot listen on %s: %s", a->listen_name, strerror(errno));
		goto fail;
	}
	evconnlistener_set_error_cb(a->listener, on_accept_error);
	const char *tls = a->tls_mode == CLIENT_TLS_REQUIRED ? "TLS required"
			  : a->tls_ctx			      ? "TLS optional"
							      : "plaintext only";
	if (!is_loopback(cfg->admin_listen.host) && a->tls_mode != CLIENT_TLS_REQUIRED)
		log_warning("[admin] listen = %s is beyond loopback and client_tls is not required (%s): the admin "
			    "login and its answers may cross the network in clear",
			    a->listen_name, tls);
	log_notice("admin port listening on %s (%s), user '%s'", a->listen_name, tls, cfg->admin_user);
	*out = a;
	return true;
fail:
	admin_free(a);
	return false;
}

void admin_free(struct admin *a)
{
	if (!a)
		return;
	while (a->conns)
		conn_free_admin(a->conns);
	if (a->listener)
		evconnlistener_free(a->listener);
	if (a->mailbox_ready)
		mailbox_destroy(&a->mailbox);
	admin_gathers_free(a);
	SSL_CTX_free(a->tls_ctx);
	free(a);
}
