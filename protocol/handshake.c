/*
 * handshake.c - connection-phase packets: the server greeting, the client's
 * SSLRequest and HandshakeResponse41, AuthSwitchRequest and AuthMoreData.
 *
 * HandshakeV10 (server -> client), as MariaDB's send_server_handshake_packet
 * writes it and Connector/C reads it:
 *
 *   u8      protocol version (10)
 *   nulstr  server version ("5.5.5-10.11.19-MariaDB..." for MariaDB)
 *   u32     connection id
 *   8       scramble part 1
 *   u8      filler (0)
 *   u16     capabilities, lower half
 *   -- the rest is absent in pre-4.1 short greetings (only those: a
 *      greeting that ends here with CLIENT_PROTOCOL_41 is cut short) --
 *   u8      charset
 *   u16     status flags
 *   u16     capabilities, upper half
 *   u8      auth data length (scramble + NUL; 0 without CLIENT_PLUGIN_AUTH)
 *   6       filler
 *   u32     MariaDB extended capabilities (filler when CLIENT_MYSQL is set)
 *   CLIENT_PLUGIN_AUTH:
 *     CLIENT_SECURE_CONNECTION: max(13, auth data length - 8) scramble part 2
 *     nulstr  plugin name (some servers omit the NUL: then the rest)
 *   otherwise:
 *     rest    scramble part 2 (13 bytes with its NUL on 4.1 servers)
 *
 * HandshakeResponse41 (client -> server):
 *
 *   u32     capabilities (CLIENT_PROTOCOL_41 set)
 *   u32     max packet size
 *   u8      charset
 *   19      filler (0)
 *   u32     MariaDB extended capabilities (0 from MySQL clients)
 *   -- an SSLRequest is exactly these 32 bytes, with CLIENT_SSL --
 *   nulstr  user name
 *   auth response: lenenc string with CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
 *                  else u8 length + bytes with CLIENT_SECURE_CONNECTION,
 *                  else nulstr
 *   nulstr  database        (CLIENT_CONNECT_WITH_DB, when bytes remain)
 *   nulstr  auth plugin     (CLIENT_PLUGIN_AUTH, when bytes remain)
 *   lenenc  attributes block(CLIENT_CONNECT_ATTRS, when bytes remain)
 *
 * The optional trailing fields are read "when bytes remain" because the
 * server reads them that way: Connector/C drops CLIENT_CONNECT_WITH_DB when
 * it has no database but older clients set the flag and send nothing.
 */
#include <string.h>

#include "proto_internal.h"

#define SCRAMBLE1_LEN 8u
#define SCRAMBLE2_MIN 13u
#define RESPONSE_FIXED_LEN 32u
#define RESPONSE_FILLER_LEN 19u

/* ---- HandshakeV10 ------------------------------------------------------ */

enum proto_status proto_parse_handshake(const uint8_t *p, size_t len, struct proto_handshake *out,
					struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_handshake){0};

	out->protocol_version = proto_read_u8(&r, "handshake protocol version");
	if (!r.failed && out->protocol_version != 10) {
		r.pos = 0;
		proto_reader_fail(&r, "handshake protocol version", 10, out->protocol_version);
	}
	out->server_version = proto_read_nulstr(&r, "handshake server version");
	out->connection_id = proto_read_u32(&r, "handshake connection id");
	struct proto_slice s1 = proto_read_bytes(&r, SCRAMBLE1_LEN, "handshake scramble part 1");
	if (!r.failed)
		memcpy(out->scramble1, s1.ptr, SCRAMBLE1_LEN);
	out->filler = proto_read_u8(&r, "handshake filler");
	out->capabilities = proto_read_u16(&r, "handshake capabilities");
	if (r.failed)
		return proto_reader_status(&r, err);
	/* A short greeting that claims protocol 4.1 would pass the proxy's
	 * CLIENT_PROTOCOL_41 check with no scramble part 2: the charset read
	 * below refuses it as truncated. */
	if (proto_reader_remaining(&r) == 0 && !(out->capabilities & CLIENT_PROTOCOL_41))
		return PROTO_OK; /* pre-4.1 short greeting */

	out->has_charset_and_status = true;
	out->charset = proto_read_u8(&r, "handshake charset");
	out->status_flags = proto_read_u16(&r, "handshake status flags");
	out->capabilities |= (uint32_t)proto_read_u16(&r, "handshake capabilities upper") << 16;
	out->auth_data_len = proto_read_u8(&r, "handshake auth data length");
	struct proto_slice reserved = proto_read_bytes(&r, sizeof(out->reserved), "handshake reserved");
	if (!r.failed)
		memcpy(out->reserved, reserved.ptr, sizeof(out->reserved));
	out->mariadb_ext_caps = proto_read_u32(&r, "handshake extended capabilities");

	if (!(out->capabilities & CLIENT_PLUGIN_AUTH)) {
		out->scramble2 = proto_read_rest(&r);
		return proto_reader_status(&r, err);
	}
	if (out->capabilities & CLIENT_SECURE_CONNECTION) {
		size_t n = out->auth_data_len > SCRAMBLE1_LEN + SCRAMBLE2_MIN ? out->auth_data_len - SCRAMBLE1_LEN
									   : SCRAMBLE2_MIN;
		out->scramble2 = proto_read_bytes(&r, n, "handshake scramble part 2");
	}
	if (r.failed)
		return proto_reader_status(&r, err);
	struct proto_slice rest = proto_read_rest(&r);
	const uint8_t *nul = rest.len ? memchr(rest.ptr, 0, rest.len) : NULL;
	if (nul) {
		out->auth_plugin = (struct proto_slice){rest.ptr, (size_t)(nul - rest.ptr)};
		out->auth_plugin_nul = true;
		if (out->auth_plugin.len + 1 != rest.len) {
			r.pos = (size_t)(nul - p) + 1;
			proto_reader_fail(&r, "handshake trailing bytes", 0, rest.len - out->auth_plugin.len - 1);
		}
	} else {
		out->auth_plugin = rest;
	}
	return proto_reader_status(&r, err);
}

void proto_handshake_scramble(const struct proto_handshake *hs, uint8_t out[PROTO_SCRAMBLE_LEN])
{
	size_t rest = PROTO_SCRAMBLE_LEN - sizeof(hs->scramble1);
	memcpy(out, hs->scramble1, sizeof(hs->scramble1));
	/* A short greeting's part 2 is the empty slice, whose ptr is NULL:
	 * memcpy from NULL is undefined even for 0 bytes. */
	if (hs->scramble2.len)
		memcpy(out + sizeof(hs->scramble1), hs->scramble2.ptr,
		       hs->scramble2.len < rest ? hs->scramble2.len : rest);
}

/* Mirrors the parser field for field, so parse + write reproduces the
 * original bytes; the capabilities decide which tail fields are written. */
bool proto_write_handshake(struct proto_writer *w, const struct proto_handshake *hs)
{
	proto_write_u8(w, hs->protocol_version);
	proto_write_nulstr(w, hs->server_version.ptr, hs->server_version.len);
	proto_write_u32(w, hs->connection_id);
	proto_write_bytes(w, hs->scramble1, SCRAMBLE1_LEN);
	proto_write_u8(w, hs->filler);
	proto_write_u16(w, (uint16_t)hs->capabilities);
	if (!hs->has_charset_and_status)
		return !w->overflow;
	proto_write_u8(w, hs->charset);
	proto_write_u16(w, hs->status_flags);
	proto_write_u16(w, (uint16_t)(hs->capabilities >> 16));
	proto_write_u8(w, hs->auth_data_len);
	proto_write_bytes(w, hs->reserved, sizeof(hs->reserved));
	proto_write_u32(w, hs->mariadb_ext_caps);
	if (!(hs->capabilities & CLIENT_PLUGIN_AUTH)) {
		proto_write_bytes(w, hs->scramble2.ptr, hs->scramble2.len);
		return !w->overflow;
	}
	if (hs->capabilities & CLIENT_SECURE_CONNECTION)
		proto_write_bytes(w, hs->scramble2.ptr, hs->scramble2.len);
	if (hs->auth_plugin_nul)
		proto_write_nulstr(w, hs->auth_plugin.ptr, hs->auth_plugin.len);
	else
		proto_write_bytes(w, hs->auth_plugin.ptr, hs->auth_plugin.len);
	return !w->overflow;
}

/* ---- SSLRequest and HandshakeResponse41 -------------------------------- */

/* The 32 fixed bytes shared by SSLRequest and HandshakeResponse41. The
 * filler must be zero: nothing else can be written back identically. */
static void read_fixed_part(struct proto_reader *r, uint32_t *caps, uint32_t *max_packet, uint8_t *charset,
			    uint32_t *ext_caps, const char *caps_what)
{
	*caps = proto_read_u32(r, caps_what);
	if (!r->failed && !(*caps & CLIENT_PROTOCOL_41)) {
		r->pos = 0;
		proto_reader_fail(r, "handshake response CLIENT_PROTOCOL_41", CLIENT_PROTOCOL_41, *caps & CLIENT_PROTOCOL_41);
	}
	*max_packet = proto_read_u32(r, "handshake response max packet");
	*charset = proto_read_u8(r, "handshake response charset");
	for (unsigned i = 0; i < RESPONSE_FILLER_LEN && !r->failed; i++) {
		uint8_t b = proto_read_u8(r, "handshake response filler");
		if (b) {
			r->pos--;
			proto_reader_fail(r, "handshake response filler", 0, b);
		}
	}
	*ext_caps = proto_read_u32(r, "handshake response extended capabilities");
}

static void write_fixed_part(struct proto_writer *w, uint32_t caps, uint32_t max_packet, uint8_t charset,
			     uint32_t ext_caps)
{
	static const uint8_t zeros[RESPONSE_FILLER_LEN];
	proto_write_u32(w, caps);
	proto_write_u32(w, max_packet);
	proto_write_u8(w, charset);
	proto_write_bytes(w, zeros, sizeof(zeros));
	proto_write_u32(w, ext_caps);
}

bool proto_is_ssl_request(const uint8_t *p, size_t len)
{
	if (len != RESPONSE_FIXED_LEN)
		return false;
	uint32_t caps = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return (caps & CLIENT_SSL) != 0;
}

enum proto_status proto_parse_ssl_request(const uint8_t *p, size_t len, struct proto_ssl_request *out,
					  struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_ssl_request){0};
	if (len != RESPONSE_FIXED_LEN) {
		proto_reader_fail(&r, "ssl request length", RESPONSE_FIXED_LEN, len);
		return proto_reader_status(&r, err);
	}
	read_fixed_part(&r, &out->capabilities, &out->max_packet, &out->charset, &out->mariadb_ext_caps,
			"ssl request capabilities");
	if (!r.failed && !(out->capabilities & CLIENT_SSL)) {
		r.pos = 0;
		proto_reader_fail(&r, "ssl request CLIENT_SSL", CLIENT_SSL, 0);
	}
	return proto_reader_status(&r, err);
}

bool proto_write_ssl_request(struct proto_writer *w, const struct proto_ssl_request *req)
{
	write_fixed_part(w, req->capabilities, req->max_packet, req->charset, req->mariadb_ext_caps);
	return !w->overflow;
}

enum proto_status proto_parse_handshake_response(const uint8_t *p, size_t len, struct proto_handshake_response *out,
						 struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_handshake_response){0};
	read_fixed_part(&r, &out->capabilities, &out->max_packet, &out->charset, &out->mariadb_ext_caps,
			"handshake response capabilities");
	uint32_t caps = out->capabilities;
	out->username = proto_read_nulstr(&r, "handshake response user name");
	if (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
		out->auth_response = proto_read_lenenc_str(&r, "handshake response auth data");
	} else if (caps & CLIENT_SECURE_CONNECTION) {
		uint8_t n = proto_read_u8(&r, "handshake response auth data length");
		out->auth_response = proto_read_bytes(&r, n, "handshake response auth data");
	} else {
		out->auth_response = proto_read_nulstr(&r, "handshake response auth data");
	}
	if ((caps & CLIENT_CONNECT_WITH_DB) && proto_reader_remaining(&r)) {
		out->has_database = true;
		out->database = proto_read_nulstr(&r, "handshake response database");
	}
	if ((caps & CLIENT_PLUGIN_AUTH) && proto_reader_remaining(&r)) {
		out->has_auth_plugin = true;
		out->auth_plugin = proto_read_nulstr(&r, "handshake response auth plugin");
	}
	if ((caps & CLIENT_CONNECT_ATTRS) && proto_reader_remaining(&r)) {
		out->has_attrs = true;
		out->attrs = proto_read_lenenc_str(&r, "handshake response attributes");
	}
	proto_reader_expect_end(&r, "handshake response trailing bytes");
	return proto_reader_status(&r, err);
}

/* A field is written only when present and allowed by the capabilities in
 * the struct, so clearing a capability bit (as a proxy does) drops its field
 * and the result always parses. */
bool proto_write_handshake_response(struct proto_writer *w, const struct proto_handshake_response *resp)
{
	uint32_t caps = resp->capabilities;
	write_fixed_part(w, caps, resp->max_packet, resp->charset, resp->mariadb_ext_caps);
	proto_write_nulstr(w, resp->username.ptr, resp->username.len);
	if (caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
		proto_write_lenenc_str(w, resp->auth_response.ptr, resp->auth_response.len);
	} else if (caps & CLIENT_SECURE_CONNECTION) {
		if (resp->auth_response.len > 0xFF)
			return false;
		proto_write_u8(w, (uint8_t)resp->auth_response.len);
		proto_write_bytes(w, resp->auth_response.ptr, resp->auth_response.len);
	} else {
		proto_write_nulstr(w, resp->auth_response.ptr, resp->auth_response.len);
	}
	if ((caps & CLIENT_CONNECT_WITH_DB) && resp->has_database)
		proto_write_nulstr(w, resp->database.ptr, resp->database.len);
	if ((caps & CLIENT_PLUGIN_AUTH) && resp->has_auth_plugin)
		proto_write_nulstr(w, resp->auth_plugin.ptr, resp->auth_plugin.len);
	if ((caps & CLIENT_CONNECT_ATTRS) && resp->has_attrs)
		proto_write_lenenc_str(w, resp->attrs.ptr, resp->attrs.len);
	return !w->overflow;
}

/* ---- authentication exchange ------------------------------------------ */

/*
 * AuthSwitchRequest: 0xFE, plugin name NUL, plugin data (rest). A lone 0xFE
 * is the pre-4.1 "use the old password hash" request: plugin and data empty.
 * An empty plugin name followed by a NUL names no plugin and is refused, so
 * that every accepted packet writes back identically.
 */
enum proto_status proto_parse_auth_switch(const uint8_t *p, size_t len, struct proto_auth_switch *out,
					  struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_auth_switch){0};
	uint8_t h = proto_read_u8(&r, "auth switch header");
	if (!r.failed && h != 0xFE) {
		r.pos = 0;
		proto_reader_fail(&r, "auth switch header", 0xFE, h);
	}
	if (r.failed || proto_reader_remaining(&r) == 0)
		return proto_reader_status(&r, err);
	out->plugin = proto_read_nulstr(&r, "auth switch plugin name");
	if (!r.failed && out->plugin.len == 0) {
		r.pos = 1;
		proto_reader_fail(&r, "auth switch plugin name", 1, 0);
	}
	out->data = proto_read_rest(&r);
	return proto_reader_status(&r, err);
}

bool proto_write_auth_switch(struct proto_writer *w, const struct proto_auth_switch *sw)
{
	proto_write_u8(w, 0xFE);
	if (sw->plugin.len == 0 && sw->data.len == 0)
		return !w->overflow;
	proto_write_nulstr(w, sw->plugin.ptr, sw->plugin.len);
	proto_write_bytes(w, sw->data.ptr, sw->data.len);
	return !w->overflow;
}

/* AuthMoreData: 0x01 then plugin-specific bytes (caching_sha2 "fast auth
 * ok" 0x03, a PEM public key, ...). */
enum proto_status proto_parse_auth_more_data(const uint8_t *p, size_t len, struct proto_auth_more_data *out,
					     struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*out = (struct proto_auth_more_data){0};
	uint8_t h = proto_read_u8(&r, "auth more data header");
	if (!r.failed && h != 0x01) {
		r.pos = 0;
		proto_reader_fail(&r, "auth more data header", 0x01, h);
	}
	out->data = proto_read_rest(&r);
	return proto_reader_status(&r, err);
}

static bool plugin_is(struct proto_slice plugin, const char *name)
{
	return plugin.len == strlen(name) && memcmp(plugin.ptr, name, plugin.len) == 0;
}

/* The server writes these two bytes alone (sql_authentication.cc); a
 * longer AuthMoreData is a PEM public key, whose second byte is '-'. */
enum proto_sha2_state proto_sha2_auth_state(const uint8_t *p, size_t len)
{
	if (len != 2 || p[0] != 0x01)
		return PROTO_SHA2_NONE;
	if (p[1] == 0x03)
		return PROTO_SHA2_FAST_OK;
	if (p[1] == 0x04)
		return PROTO_SHA2_FULL_AUTH;
	return PROTO_SHA2_NONE;
}

enum proto_password_request proto_auth_password_request(const uint8_t *p, size_t len)
{
	/* No other plugin sends caching_sha2_password's 0x01 0x04. */
	if (proto_sha2_auth_state(p, len) == PROTO_SHA2_FULL_AUTH)
		return PROTO_PW_SHA2_FULL;
	struct proto_auth_switch sw;
	if (len == 0 || p[0] != 0xFE || proto_parse_auth_switch(p, len, &sw, NULL) != PROTO_OK)
		return PROTO_PW_NONE;
	if (plugin_is(sw.plugin, "sha256_password"))
		return PROTO_PW_CLEAR_OR_RSA;
	if (plugin_is(sw.plugin, "mysql_clear_password"))
		return PROTO_PW_CLEAR;
	return PROTO_PW_NONE;
}

bool proto_write_auth_more_data(struct proto_writer *w, const struct proto_auth_more_data *md)
{
	proto_write_u8(w, 0x01);
	proto_write_bytes(w, md->data.ptr, md->data.len);
	return !w->overflow;
}

/* HandshakeResponse41: capabilities (4), max packet (4), charset (1), 19
 * bytes of filler, then MariaDB's extended capabilities (4) when the
 * client is MariaDB's (CLIENT_MYSQL clear). */
#define RESPONSE_EXT_CAPS_OFFSET 28

void proto_handshake_response_set_caps(uint8_t *p, size_t len, uint32_t caps)
{
	if (len < 4)
		return;
	p[0] = (uint8_t)caps;
	p[1] = (uint8_t)(caps >> 8);
	p[2] = (uint8_t)(caps >> 16);
	p[3] = (uint8_t)(caps >> 24);
	if (!(caps & CLIENT_MYSQL) && len >= RESPONSE_EXT_CAPS_OFFSET + 4)
		memset(p + RESPONSE_EXT_CAPS_OFFSET, 0, 4);
}
