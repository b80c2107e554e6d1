/*
 * login.c - the connection phase. The proxy is in the middle of the
 * handshake, so it can terminate TLS on both legs while authentication
 * passes through: acctgate never knows a password (but for caching_sha2's
 * key relay below, for the moment it is passed on).
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
 */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "auth_key.h"
#include "log.h"
#include "packet_io.h"
#include "tls.h"

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

/* Room for a decrypted password: a 2048-bit key's ciphertext and more. */
#define KEY_PLAINTEXT_MAX 1024

/* ------------------------------------------------------------------------
 * Greetings and the server leg
 * ------------------------------------------------------------------------ */

static void send_client_greeting(struct session *s, const struct proto_handshake *server_hs)
{
	const struct config *cfg = session_cfg(s);
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
	if (!proto_write_handshake(&w, &hs) || !pio_write_packet(&s->client->out, 0, buf, w.len)) {
		session_fail_client(s, 0, ER_UNKNOWN_ERROR, "HY000", "acctgate: cannot rewrite the server greeting");
		return;
	}
	s->client_seq = 1;
	session_set_state(s, S_CLIENT_HELLO);
	conn_set_reading(s->client, true);
}

static void on_link_greeting(void *owner)
{
	struct session *s = owner;
	const struct proto_handshake *hs = &s->link.hs;
	s->server_caps = hs->capabilities;
	s->upstream_tls = s->link.tls;
	proto_handshake_scramble(hs, s->scramble);
	send_client_greeting(s, hs);
	session_flush(s);
}

static void forward_held_response(struct session *s);

static void on_link_tls_ready(void *owner)
{
	struct session *s = owner;
	session_take_server_leg(s);
	forward_held_response(s);
	session_flush(s);
}

static void on_link_failed(void *owner, uint16_t code, const char *msg, const uint8_t *server_err,
			   size_t server_err_len)
{
	struct session *s = owner;
	if (server_err) {
		/* Before our greeting: the client reads the server's own ERR. */
		if (!pio_write_packet(&s->client->out, 0, server_err, server_err_len))
			log_error("session %llu: out of memory", (unsigned long long)s->id);
		session_close(s, msg);
	} else {
		session_fail_client(s, s->state == S_CONNECTING ? 0 : s->client_seq, code, "08S01", msg);
	}
	session_flush(s);
}

const struct link_callbacks login_link_callbacks = {
	.on_greeting = on_link_greeting,
	.on_tls_ready = on_link_tls_ready,
	.on_failed = on_link_failed,
};

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
void login_end_server_handshake(struct session *s)
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
	session_take_server_leg(s);
	if (pio_write_packet(&s->server->out, 1, buf, w.len))
		log_debug("session %llu: client left before its login: the server's handshake ended with an empty "
			  "login",
			  (unsigned long long)s->id);
}

/*
 * Refuse a login acctgate will not carry on. The server's exchange ends as a
 * failed login, with an empty password, not as a client that vanished
 * mid-login: MySQL and MariaDB count the latter against the host's
 * max_connect_errors, and every session acctgate carries comes from that
 * one host. The client gets ERR 1045 saying why.
 */
void login_refuse(struct session *s, uint8_t server_seq, uint8_t client_seq, const char *why)
{
	static const uint8_t empty_password[] = {0x00};
	/* At the level of the server's own failed logins, so that an admin who
	 * sees those sees why acctgate refused too. */
	char user[sizeof(s->ctx.user) * 4];
	log_escape(s->ctx.user, strlen(s->ctx.user), user, sizeof(user));
	log_notice("session %llu: login of '%s' from %s refused: %s", (unsigned long long)s->id, user, s->peer, why);
	if (s->server)
		(void)pio_write_packet(&s->server->out, server_seq, empty_password, sizeof(empty_password));
	session_fail_client(s, client_seq, ER_ACCESS_DENIED_ERROR, "28000", why);
}

/* ------------------------------------------------------------------------
 * The client's login
 * ------------------------------------------------------------------------ */

static void start_client_tls(struct session *s)
{
	SSL *ssl = SSL_new(s->settings->client_ctx);
	if (!ssl) {
		session_close(s, "cannot create a TLS session for the client");
		return;
	}
	session_set_state(s, S_CLIENT_TLS);
	conn_start_tls(s->client, ssl, true);
}

void login_client_tls_done(struct session *s)
{
	struct conn *c = s->client;
	if (c->tls != CONN_TLS_UP) {
		char reason[256] = "connection closed during the TLS handshake";
		unsigned long e = conn_tls_error(c);
		if (e)
			ERR_error_string_n(e, reason, sizeof(reason));
		else if (c->why[0])
			snprintf(reason, sizeof(reason), "%s", c->why);
		char why[320];
		snprintf(why, sizeof(why), "client TLS handshake failed: %s", reason);
		session_close(s, why);
		return;
	}
	char desc[128];
	tls_describe_session(c->ssl, desc, sizeof(desc));
	log_debug("session %llu: client TLS established (%s)", (unsigned long long)s->id, desc);
	s->client_tls = true;
	session_set_state(s, S_CLIENT_HELLO);
	login_client_hello(s);
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
	/* No MariaDB extended capability was offered (send_client_greeting):
	 * whatever a client put there is not passed on either. */
	proto_handshake_response_set_caps(p, s->held_response_len, caps);
	uint8_t seq = s->upstream_tls ? 2 : 1;
	bool ok = pio_write_packet(&s->server->out, seq, p, s->held_response_len);
	s->seq_shift = (int)seq - (int)(s->client_seq - 1);
	OPENSSL_cleanse(s->held_response, s->held_response_len);
	free(s->held_response);
	s->held_response = NULL;
	if (!ok) {
		session_close(s, "out of memory");
		return;
	}
	proto_tracker_begin_auth(&s->tracker, s->caps);
	session_set_state(s, S_AUTH);
	conn_set_reading(s->server, true);
	/* The client answers auth switches and key requests from here on. */
	conn_set_reading(s->client, true);
}

void login_client_hello(struct session *s)
{
	struct iobuf *in = &s->client->in;
	size_t wire;
	uint64_t plen;
	uint8_t next;
	struct proto_error perr = {0};
	enum proto_status st = proto_frame_logical(iobuf_peek(in), iobuf_len(in), s->client_seq, HANDSHAKE_MAX_PAYLOAD,
						   &wire, &plen, &next, &perr);
	if (st == PROTO_NEED_MORE)
		return;
	if (st == PROTO_MALFORMED || wire != plen + PROTO_HEADER_LEN) {
		log_warning("session %llu: client %s: malformed handshake packet (%s at %zu: expected %llu, got %llu)",
			    (unsigned long long)s->id, s->peer, perr.what ? perr.what : "multi-chunk", perr.offset,
			    (unsigned long long)perr.expected, (unsigned long long)perr.actual);
		session_fail_client(s, (uint8_t)(s->client_seq + 1), ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
				    "acctgate: malformed handshake packet");
		return;
	}
	const uint8_t *payload = iobuf_peek(in) + PROTO_HEADER_LEN;
	const struct config *cfg = session_cfg(s);
	uint8_t reply_seq = (uint8_t)(s->client_seq + 1);
	if (!s->client_tls && proto_is_ssl_request(payload, (size_t)plen)) {
		iobuf_consume(in, wire);
		if (cfg->client_tls == CLIENT_TLS_DISABLED) {
			session_fail_client(s, reply_seq, ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
					    "acctgate: TLS was not offered (client_tls = disabled)");
			return;
		}
		s->client_seq = reply_seq;
		start_client_tls(s);
		return;
	}
	struct proto_handshake_response resp;
	if (proto_parse_handshake_response(payload, (size_t)plen, &resp, &perr) != PROTO_OK) {
		log_warning("session %llu: client %s: unreadable handshake response (%s at byte %zu)",
			    (unsigned long long)s->id, s->peer, perr.what, perr.offset);
		session_fail_client(s, reply_seq, ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
				    "acctgate: malformed handshake response");
		return;
	}
	if (cfg->client_tls == CLIENT_TLS_REQUIRED && !s->client_tls) {
		log_notice("session %llu: client %s refused: plaintext login while client_tls = required",
			   (unsigned long long)s->id, s->peer);
		session_fail_client(s, reply_seq, ER_SECURE_TRANSPORT_REQUIRED, "HY000",
				    "acctgate requires TLS from clients (client_tls = required): connect with TLS");
		return;
	}
	if (!(resp.capabilities & CLIENT_PROTOCOL_41)) {
		session_fail_client(s, reply_seq, ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
				    "acctgate: clients must speak protocol 4.1");
		return;
	}
	uint8_t *held = malloc(plen ? (size_t)plen : 1);
	if (!held) {
		session_close(s, "out of memory");
		return;
	}
	memcpy(held, payload, (size_t)plen);
	snprintf(s->ctx.user, sizeof(s->ctx.user), "%.*s", (int)resp.username.len, (const char *)resp.username.ptr);
	if (resp.has_database)
		snprintf(s->ctx.database, sizeof(s->ctx.database), "%.*s", (int)resp.database.len,
			 (const char *)resp.database.ptr);
	iobuf_consume(in, wire);
	/* A client may only use what it was offered; anything else (say
	 * CLIENT_COMPRESS from a misbehaving client) is dropped here. */
	s->caps = resp.capabilities & (s->advertised_caps & ~CLIENT_SSL);
	s->held_response = held;
	s->held_response_len = (size_t)plen;
	s->client_seq = reply_seq;
	char user[sizeof(s->ctx.user) * 4], db[sizeof(s->ctx.database) * 4];
	log_escape(s->ctx.user, strlen(s->ctx.user), user, sizeof(user));
	log_escape(s->ctx.database, strlen(s->ctx.database), db, sizeof(db));
	log_info("session %llu: client %s user '%s'%s%s%s", (unsigned long long)s->id, s->peer, user,
		 db[0] ? " database '" : "", db, db[0] ? "'" : "");
	/* Stop reading the client until the server leg is ready. */
	conn_set_reading(s->client, false);
	if (s->upstream_tls) {
		session_set_state(s, S_UPSTREAM_TLS);
		link_start_tls(&s->link, s->caps, resp.max_packet, resp.charset);
	} else {
		session_take_server_leg(s);
		forward_held_response(s);
	}
}

/* ------------------------------------------------------------------------
 * Authentication exchange
 * ------------------------------------------------------------------------ */

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
static bool key_relay_client_packet(struct session *s, size_t wire, size_t plen, uint8_t next)
{
	const struct auth_key *key = session_gate(s)->auth_key;
	struct iobuf *in = &s->client->in;
	const uint8_t *p = iobuf_peek(in) + PROTO_HEADER_LEN;
	if (s->key_relay == KEY_RELAY_REQUEST && plen == 1 && p[0] == 0x02) {
		/* AuthMoreData: 0x01, then the PEM (a few hundred bytes). */
		size_t pem_len;
		const uint8_t *pem = auth_key_public_pem(key, &pem_len);
		uint8_t hdr[PROTO_HEADER_LEN + 1];
		proto_frame_write_header(hdr, (uint32_t)(1 + pem_len), next);
		hdr[PROTO_HEADER_LEN] = 0x01;
		iobuf_consume(in, wire);
		if (!iobuf_append(&s->client->out, hdr, sizeof(hdr)) || !iobuf_append(&s->client->out, pem, pem_len)) {
			session_close(s, "out of memory");
			return true;
		}
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
		login_refuse(s, server_seq, next,
			     "acctgate: the client encrypted its password with a key acctgate does not hold (a "
			     "server public key configured in the client?); connect to acctgate with TLS or without one");
		return true;
	}
	for (size_t i = 0; i < clen; i++)
		clear[i] ^= s->scramble[i % sizeof(s->scramble)];
	if (clear[clen - 1] != 0x00) {
		OPENSSL_cleanse(clear, sizeof(clear));
		login_refuse(s, server_seq, next, "acctgate: the client's encrypted password does not unmask");
		return true;
	}
	iobuf_consume(in, wire);
	bool ok = pio_write_packet(&s->server->out, server_seq, clear, clen);
	OPENSSL_cleanse(clear, sizeof(clear));
	if (!ok) {
		session_close(s, "out of memory");
		return true;
	}
	s->client_seq = next;
	log_debug("session %llu: caching_sha2_password full authentication: password passed on inside the server "
		  "leg's TLS",
		  (unsigned long long)s->id);
	return true;
}

/* Relay the client's side of the auth exchange, shifting sequence ids. */
void login_relay_from_client(struct session *s)
{
	struct iobuf *in = &s->client->in;
	while (s->state != S_CLOSING) {
		size_t wire;
		uint64_t plen;
		uint8_t next;
		struct proto_error perr = {0};
		enum proto_status st = proto_frame_logical(iobuf_peek(in), iobuf_len(in), s->client_seq,
							   HANDSHAKE_MAX_PAYLOAD, &wire, &plen, &next, &perr);
		if (st == PROTO_NEED_MORE)
			return;
		if (st == PROTO_MALFORMED) {
			log_warning("session %llu: client %s: bad auth packet (%s: expected %llu, got %llu)",
				    (unsigned long long)s->id, s->peer, perr.what, (unsigned long long)perr.expected,
				    (unsigned long long)perr.actual);
			session_close(s, "malformed packet during authentication");
			return;
		}
		if (s->key_relay != KEY_RELAY_OFF && key_relay_client_packet(s, wire, (size_t)plen, next))
			continue;
		proto_frame_rewrite_seq(iobuf_peek(in), wire, (uint8_t)(s->client_seq + s->seq_shift));
		if (!iobuf_append(&s->server->out, iobuf_peek(in), wire)) {
			session_close(s, "out of memory");
			return;
		}
		iobuf_consume(in, wire);
		s->client_seq = next;
	}
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

const char *login_on_server_auth_packet(struct session *s, const uint8_t *p, size_t len)
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

void login_auth_done(struct session *s)
{
	s->seq_shift = 0;
	s->key_relay = KEY_RELAY_OFF;
	if (s->state != S_AUTH)
		return; /* COM_CHANGE_USER: relay.c and txn.c take it from here */
	char user[sizeof(s->ctx.user) * 4];
	log_escape(s->ctx.user, strlen(s->ctx.user), user, sizeof(user));
	if (s->tracker.last.kind == END_ERR) {
		log_notice("session %llu: authentication of '%s' from %s failed (server error %u)",
			   (unsigned long long)s->id, user, s->peer, s->tracker.last.err_code);
		session_close(s, NULL);
		return;
	}
	s->ctx.status_flags = s->tracker.last.status_flags;
	s->ctx.autocommit = (s->ctx.status_flags & SERVER_STATUS_AUTOCOMMIT) != 0;
	log_info("session %llu: '%s' authenticated (client %s, server %s)", (unsigned long long)s->id, user,
		 s->client_tls ? "TLS" : "plain", s->upstream_tls ? "TLS" : "plain");
	session_logged_in(s);
}
