/*
 * test_handshake.c - connection-phase packets: the real MariaDB 10.11
 * greeting and libmariadb login from the shared capture, their variants by
 * capability, and malformed input (every truncation, missing NULs, bad
 * filler, trailing bytes).
 */
#include "test_util.h"

/* Frame 4 and 6 of slurmdbd-mariadb-plain.pcap (payloads, no header). */
static const char REAL_GREETING[] =
	"0a352e352e352d31302e31312e31392d4d6172696144422d302b646562313275310005000000727577725a4a435300feff08"
	"0200ff81150000000000001d0000005534412c5752767b264a7e60006d7973716c5f6e61746976655f70617373776f726400";
static const char REAL_LOGIN[] =
	"8ca2bf00000010002d000000000000000000000000000000000000001d000000736c75726d0014d55b78ea5f2f16fbc9218d"
	"dbbb3f85329e3502ef736c75726d5f616363745f6462006d7973716c5f6e61746976655f70617373776f7264006c035f6f73"
	"054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f7069640531353530380f5f636c69656e745f"
	"76657273696f6e06332e332e3230095f706c6174666f726d067838365f36340c5f7365727665725f686f737409313237"
	"2e302e302e31";

static void assert_slice(struct proto_slice s, const char *text)
{
	assert_int_equal(s.len, strlen(text));
	assert_memory_equal(s.ptr, text, s.len);
}

/* parse -> write gives the input back byte for byte. */
static void handshake_round_trip(const uint8_t *p, size_t len)
{
	struct proto_handshake hs;
	struct proto_error err = {0};
	if (proto_parse_handshake(p, len, &hs, &err) != PROTO_OK)
		fail_msg("%s at %zu (expected %llu, got %llu)", err.what, err.offset, (unsigned long long)err.expected,
			 (unsigned long long)err.actual);
	uint8_t out[512];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_handshake(&w, &hs));
	assert_int_equal(w.len, len);
	assert_memory_equal(out, p, len);
}

static void test_real_greeting(void **state)
{
	uint8_t b[256];
	size_t n = hex_decode(REAL_GREETING, b, sizeof(b));
	struct proto_handshake hs;
	assert_int_equal(proto_parse_handshake(b, n, &hs, NULL), PROTO_OK);
	assert_int_equal(hs.protocol_version, 10);
	assert_slice(hs.server_version, "5.5.5-10.11.19-MariaDB-0+deb12u1");
	assert_int_equal(hs.connection_id, 5);
	assert_memory_equal(hs.scramble1, "ruwrZJCS", 8);
	assert_true(hs.has_charset_and_status);
	assert_int_equal(hs.capabilities, 0x81fffffe);
	assert_false(hs.capabilities & CLIENT_MYSQL); /* MariaDB: extended caps follow */
	assert_int_equal(hs.charset, 8);
	assert_int_equal(hs.status_flags, SERVER_STATUS_AUTOCOMMIT);
	assert_int_equal(hs.auth_data_len, 21);
	assert_int_equal(hs.mariadb_ext_caps, 0x1d);
	assert_int_equal(hs.scramble2.len, 13);
	assert_int_equal(hs.scramble2.ptr[12], 0);
	assert_slice(hs.auth_plugin, "mysql_native_password");
	assert_true(hs.auth_plugin_nul);
	/* The nonce: both parts, without scramble2's NUL. */
	uint8_t nonce[PROTO_SCRAMBLE_LEN + 1];
	memset(nonce, 0xAA, sizeof(nonce));
	proto_handshake_scramble(&hs, nonce);
	assert_memory_equal(nonce, "ruwrZJCS", 8);
	assert_memory_equal(nonce + 8, hs.scramble2.ptr, 12);
	assert_int_equal(nonce[PROTO_SCRAMBLE_LEN], 0xAA);
	handshake_round_trip(b, n);
}

/* What a proxy does: change the capabilities, zero the extended ones, and
 * write a greeting that parses back to the same fields. */
static void test_greeting_rewrite(void **state)
{
	uint8_t b[256];
	size_t n = hex_decode(REAL_GREETING, b, sizeof(b));
	struct proto_handshake hs, back;
	assert_int_equal(proto_parse_handshake(b, n, &hs, NULL), PROTO_OK);
	hs.capabilities &= ~(CLIENT_COMPRESS | CLIENT_SSL);
	hs.mariadb_ext_caps = 0;
	uint8_t out[256];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_handshake(&w, &hs));
	assert_int_equal(w.len, n);
	assert_int_equal(proto_parse_handshake(out, w.len, &back, NULL), PROTO_OK);
	assert_int_equal(back.capabilities, hs.capabilities);
	assert_int_equal(back.mariadb_ext_caps, 0);
	assert_slice(back.auth_plugin, "mysql_native_password");

	/* Too small a buffer: refused, not truncated. */
	proto_writer_init(&w, out, n - 1);
	assert_false(proto_write_handshake(&w, &hs));
}

/* Build greetings of other shapes from the real one's fields. */
static size_t build_greeting(uint8_t *out, size_t cap, uint32_t caps, uint8_t auth_len, const char *scramble2,
			     size_t s2len, const char *plugin, bool nul)
{
	struct proto_handshake hs = {
		.protocol_version = 10,
		.server_version = {(const uint8_t *)"8.0.36", 6},
		.connection_id = 42,
		.scramble1 = {1, 2, 3, 4, 5, 6, 7, 8},
		.capabilities = caps,
		.has_charset_and_status = true,
		.charset = 255,
		.status_flags = 2,
		.auth_data_len = auth_len,
		.scramble2 = {(const uint8_t *)scramble2, s2len},
		.auth_plugin = {(const uint8_t *)plugin, plugin ? strlen(plugin) : 0},
		.auth_plugin_nul = nul,
	};
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	assert_true(proto_write_handshake(&w, &hs));
	return w.len;
}

static void test_greeting_variants(void **state)
{
	uint8_t b[256];
	uint32_t base = CLIENT_MYSQL | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION;
	/* MySQL 8 style, plugin NUL-terminated. */
	size_t n = build_greeting(b, sizeof(b), base | CLIENT_PLUGIN_AUTH, 21, "abcdefghijkl\0", 13,
				  "caching_sha2_password", true);
	handshake_round_trip(b, n);
	/* Plugin name without its NUL: the rest of the packet. */
	n = build_greeting(b, sizeof(b), base | CLIENT_PLUGIN_AUTH, 21, "abcdefghijkl\0", 13, "mysql_native_password",
			   false);
	handshake_round_trip(b, n);
	struct proto_handshake hs;
	assert_int_equal(proto_parse_handshake(b, n, &hs, NULL), PROTO_OK);
	assert_false(hs.auth_plugin_nul);
	assert_slice(hs.auth_plugin, "mysql_native_password");
	/* A longer scramble (auth data length 30 -> 22 bytes of part 2). */
	n = build_greeting(b, sizeof(b), base | CLIENT_PLUGIN_AUTH, 30, "0123456789abcdefghijk\0", 22, "x", true);
	handshake_round_trip(b, n);
	assert_int_equal(proto_parse_handshake(b, n, &hs, NULL), PROTO_OK);
	assert_int_equal(hs.scramble2.len, 22);
	/* A short auth data length still means 13 bytes. */
	n = build_greeting(b, sizeof(b), base | CLIENT_PLUGIN_AUTH, 0, "abcdefghijkl\0", 13, "p", true);
	handshake_round_trip(b, n);
	/* No CLIENT_PLUGIN_AUTH: part 2 is the rest, no plugin. */
	n = build_greeting(b, sizeof(b), base, 0, "abcdefghijkl\0", 13, NULL, false);
	handshake_round_trip(b, n);
	assert_int_equal(proto_parse_handshake(b, n, &hs, NULL), PROTO_OK);
	assert_int_equal(hs.scramble2.len, 13);
	assert_int_equal(hs.auth_plugin.len, 0);

	/* A pre-4.1 short greeting ends after the lower capabilities. */
	const uint8_t short_hs[] = {10, '3', '.', '2', '3', 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x2c, 0x00};
	handshake_round_trip(short_hs, sizeof(short_hs));
	assert_int_equal(proto_parse_handshake(short_hs, sizeof(short_hs), &hs, NULL), PROTO_OK);
	assert_false(hs.has_charset_and_status);
	/* It has no scramble part 2: the nonce is part 1 and the rest of out
	 * stays as it was (no copy from the empty slice's NULL). */
	uint8_t nonce[PROTO_SCRAMBLE_LEN];
	memset(nonce, 0xAA, sizeof(nonce));
	proto_handshake_scramble(&hs, nonce);
	assert_memory_equal(nonce, short_hs + 10, 8);
	for (size_t i = 8; i < sizeof(nonce); i++)
		assert_int_equal(nonce[i], 0xAA);
}

/*
 * A forged greeting: the short pre-4.1 form, but with CLIENT_PROTOCOL_41 in
 * its lower capabilities. A 4.1 server always sends the fields after them,
 * and the proxy, which refuses servers without CLIENT_PROTOCOL_41, would
 * otherwise go on to read a scramble part 2 the greeting does not have: it
 * is refused as cut short where the charset belongs.
 */
static void test_greeting_short_claims_41(void **state)
{
	const uint8_t forged[] = {10, '5', '.', '0', 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x00, 0x02};
	uint8_t *c = exact_copy(forged, sizeof(forged));
	struct proto_handshake hs;
	struct proto_error err = {0};
	assert_int_equal(proto_parse_handshake(c, sizeof(forged), &hs, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake charset");
	assert_int_equal(err.offset, sizeof(forged));
	assert_int_equal(err.expected, 1);
	assert_int_equal(err.actual, 0);
	assert_error_sane(&err, sizeof(forged));
	/* Every capability word with CLIENT_PROTOCOL_41 set is refused the same
	 * way; without it the short form stays valid. */
	for (unsigned caps = 0; caps <= 0xFFFF; caps += 0x101) {
		c[18] = (uint8_t)caps;
		c[19] = (uint8_t)(caps >> 8);
		enum proto_status st = proto_parse_handshake(c, sizeof(forged), &hs, &err);
		assert_int_equal(st, (caps & CLIENT_PROTOCOL_41) ? PROTO_MALFORMED : PROTO_OK);
	}
	free(c);
}

/* Every prefix of the real greeting either fails with a reason or is itself
 * a valid greeting that writes back identically (a plugin name cut short,
 * which reads as a NUL-less name). The cut right after the lower
 * capabilities is not a short pre-4.1 greeting: they claim
 * CLIENT_PROTOCOL_41. */
static void test_greeting_truncations(void **state)
{
	uint8_t b[256];
	size_t n = hex_decode(REAL_GREETING, b, sizeof(b));
	size_t ok = 0;
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *c = exact_copy(b, cut);
		struct proto_handshake hs;
		struct proto_error err = {0};
		if (proto_parse_handshake(c, cut, &hs, &err) == PROTO_OK) {
			handshake_round_trip(c, cut);
			ok++;
		} else {
			assert_error_sane(&err, cut);
		}
		free(c);
	}
	/* the 21 plugin-name cuts and the name with no NUL */
	assert_int_equal(ok, 22);
}

static void test_greeting_malformed(void **state)
{
	uint8_t b[256];
	size_t n = hex_decode(REAL_GREETING, b, sizeof(b));
	struct proto_handshake hs;
	struct proto_error err;

	b[0] = 9;
	assert_int_equal(proto_parse_handshake(b, n, &hs, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake protocol version");
	assert_int_equal(err.expected, 10);
	assert_int_equal(err.actual, 9);
	b[0] = 10;

	/* Server version without its NUL. */
	uint8_t v[] = {10, 'a', 'b', 'c'};
	assert_int_equal(proto_parse_handshake(v, sizeof(v), &hs, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake server version");

	/* Cut inside scramble part 2. */
	size_t s2 = 1 + 33 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
	assert_int_equal(proto_parse_handshake(b, s2 + 5, &hs, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake scramble part 2");
	assert_int_equal(err.offset, s2);
	assert_int_equal(err.expected, 13);
	assert_int_equal(err.actual, 5);

	/* Bytes after the plugin's NUL. */
	uint8_t longer[300];
	memcpy(longer, b, n);
	longer[n] = 'x';
	assert_int_equal(proto_parse_handshake(longer, n + 1, &hs, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake trailing bytes");
	assert_int_equal(err.offset, n);
}

/* ---- HandshakeResponse41 and SSLRequest ---------------------------------- */

static void response_round_trip(const uint8_t *p, size_t len)
{
	struct proto_handshake_response r;
	struct proto_error err = {0};
	if (proto_parse_handshake_response(p, len, &r, &err) != PROTO_OK)
		fail_msg("%s at %zu", err.what, err.offset);
	uint8_t out[512];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_handshake_response(&w, &r));
	assert_int_equal(w.len, len);
	assert_memory_equal(out, p, len);
}

static void test_real_login(void **state)
{
	uint8_t b[512];
	size_t n = hex_decode(REAL_LOGIN, b, sizeof(b));
	struct proto_handshake_response r;
	assert_int_equal(proto_parse_handshake_response(b, n, &r, NULL), PROTO_OK);
	assert_int_equal(r.capabilities, 0x00bfa28c);
	assert_int_equal(r.max_packet, 1048576);
	assert_int_equal(r.charset, 45);
	assert_int_equal(r.mariadb_ext_caps, 0x1d);
	assert_slice(r.username, "slurm");
	assert_int_equal(r.auth_response.len, 20);
	assert_true(r.has_database);
	assert_slice(r.database, "slurm_acct_db");
	assert_true(r.has_auth_plugin);
	assert_slice(r.auth_plugin, "mysql_native_password");
	assert_true(r.has_attrs);
	assert_int_equal(r.attrs.len, 108);
	assert_false(proto_is_ssl_request(b, n));
	response_round_trip(b, n);
}

static size_t build_response(uint8_t *out, size_t cap, uint32_t caps, const char *auth, size_t auth_len,
			     const char *db, const char *plugin, const char *attrs, size_t attrs_len)
{
	struct proto_handshake_response r = {
		.capabilities = caps,
		.max_packet = 16777216,
		.charset = 33,
		.username = {(const uint8_t *)"root", 4},
		.auth_response = {(const uint8_t *)auth, auth_len},
		.has_database = db != NULL,
		.database = {(const uint8_t *)db, db ? strlen(db) : 0},
		.has_auth_plugin = plugin != NULL,
		.auth_plugin = {(const uint8_t *)plugin, plugin ? strlen(plugin) : 0},
		.has_attrs = attrs != NULL,
		.attrs = {(const uint8_t *)attrs, attrs_len},
	};
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	assert_true(proto_write_handshake_response(&w, &r));
	return w.len;
}

static void test_response_variants(void **state)
{
	uint8_t b[512];
	uint32_t p41 = CLIENT_PROTOCOL_41;
	char big[300];
	memset(big, 'k', sizeof(big));
	/* u8-length auth data (no LENENC flag). */
	size_t n = build_response(b, sizeof(b), p41 | CLIENT_SECURE_CONNECTION, "0123456789abcdefghij", 20, NULL, NULL,
				  NULL, 0);
	response_round_trip(b, n);
	/* lenenc auth data longer than 250 bytes. */
	n = build_response(b, sizeof(b), p41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, big,
			   sizeof(big), "db", "plug", NULL, 0);
	assert_int_equal(b[32 + 5], 0xFC);
	response_round_trip(b, n);
	/* pre-4.1 auth: NUL-terminated. */
	n = build_response(b, sizeof(b), p41, "scramble", 8, NULL, NULL, NULL, 0);
	response_round_trip(b, n);
	/* Everything, attrs included. */
	n = build_response(b, sizeof(b),
			   p41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH |
				   CLIENT_CONNECT_ATTRS,
			   "x", 1, "acct", "mysql_native_password", "\x03_os\x05Linux", 10);
	response_round_trip(b, n);
	/* Flags set but fields absent (old clients): parsed as absent. */
	n = build_response(b, sizeof(b), p41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_WITH_DB | CLIENT_PLUGIN_AUTH,
			   "", 0, NULL, NULL, NULL, 0);
	struct proto_handshake_response r;
	assert_int_equal(proto_parse_handshake_response(b, n, &r, NULL), PROTO_OK);
	assert_false(r.has_database);
	assert_false(r.has_auth_plugin);
	response_round_trip(b, n);

	/* u8 length cannot hold 300 bytes: the writer refuses. */
	struct proto_handshake_response bad = {.capabilities = p41 | CLIENT_SECURE_CONNECTION,
						.auth_response = {(const uint8_t *)big, sizeof(big)}};
	struct proto_writer w;
	proto_writer_init(&w, b, sizeof(b));
	assert_false(proto_write_handshake_response(&w, &bad));

	/* Clearing a capability drops its field (what a proxy relies on). */
	n = hex_decode(REAL_LOGIN, b, sizeof(b));
	assert_int_equal(proto_parse_handshake_response(b, n, &r, NULL), PROTO_OK);
	r.capabilities &= ~CLIENT_CONNECT_ATTRS;
	uint8_t out[512];
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_handshake_response(&w, &r));
	assert_int_equal(w.len, n - 109);
	assert_int_equal(proto_parse_handshake_response(out, w.len, &r, NULL), PROTO_OK);
	assert_false(r.has_attrs);
}

static void test_response_truncations(void **state)
{
	uint8_t b[512];
	size_t n = hex_decode(REAL_LOGIN, b, sizeof(b));
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *c = exact_copy(b, cut);
		struct proto_handshake_response r;
		struct proto_error err = {0};
		if (proto_parse_handshake_response(c, cut, &r, &err) == PROTO_OK)
			response_round_trip(c, cut); /* cut exactly between optional fields */
		else
			assert_error_sane(&err, cut);
		free(c);
	}
}

static void test_response_malformed(void **state)
{
	uint8_t b[512];
	size_t n = hex_decode(REAL_LOGIN, b, sizeof(b));
	struct proto_handshake_response r;
	struct proto_error err;

	uint8_t *c = exact_copy(b, n);
	c[1] &= (uint8_t)~(CLIENT_PROTOCOL_41 >> 8);
	assert_int_equal(proto_parse_handshake_response(c, n, &r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake response CLIENT_PROTOCOL_41");
	free(c);

	c = exact_copy(b, n);
	c[20] = 1;
	assert_int_equal(proto_parse_handshake_response(c, n, &r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake response filler");
	assert_int_equal(err.offset, 20);
	free(c);

	/* User name with no NUL before the end. */
	c = exact_copy(b, 37);
	assert_int_equal(proto_parse_handshake_response(c, 37, &r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake response user name");
	assert_int_equal(err.offset, 32);
	free(c);

	/* Auth data longer than the packet. */
	c = exact_copy(b, 45);
	assert_int_equal(proto_parse_handshake_response(c, 45, &r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake response auth data");
	assert_int_equal(err.expected, 20);
	free(c);

	/* Attributes block claiming more than is there. */
	c = exact_copy(b, n);
	c[n - 109] = 109;
	assert_int_equal(proto_parse_handshake_response(c, n, &r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake response attributes");
	free(c);

	/* Trailing bytes after the last field. */
	uint8_t longer[512];
	memcpy(longer, b, n);
	longer[n] = 0;
	c = exact_copy(longer, n + 1);
	assert_int_equal(proto_parse_handshake_response(c, n + 1, &r, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "handshake response trailing bytes");
	assert_int_equal(err.offset, n);
	free(c);
}

static void test_ssl_request(void **state)
{
	uint8_t b[512];
	size_t n = hex_decode(REAL_LOGIN, b, sizeof(b));
	(void)n;
	b[1] |= CLIENT_SSL >> 8;
	assert_true(proto_is_ssl_request(b, 32));
	assert_false(proto_is_ssl_request(b, 31));
	struct proto_ssl_request req;
	assert_int_equal(proto_parse_ssl_request(b, 32, &req, NULL), PROTO_OK);
	assert_true(req.capabilities & CLIENT_SSL);
	assert_int_equal(req.max_packet, 1048576);
	assert_int_equal(req.charset, 45);
	assert_int_equal(req.mariadb_ext_caps, 0x1d);
	uint8_t out[32];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_ssl_request(&w, &req));
	assert_int_equal(w.len, 32);
	assert_memory_equal(out, b, 32);

	struct proto_error err;
	assert_int_equal(proto_parse_ssl_request(b, 33, &req, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "ssl request length");
	assert_int_equal(err.expected, 32);
	assert_int_equal(err.actual, 33);
	b[1] &= (uint8_t)~(CLIENT_SSL >> 8);
	assert_int_equal(proto_parse_ssl_request(b, 32, &req, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "ssl request CLIENT_SSL");
	proto_writer_init(&w, out, 31);
	assert_false(proto_write_ssl_request(&w, &req));
}

/* ---- auth exchange ------------------------------------------------------- */

static void test_auth_switch(void **state)
{
	const uint8_t sw[] = "\xfemysql_native_password\0abcdefghijklmnopqrst\0";
	size_t n = sizeof(sw) - 1;
	struct proto_auth_switch a;
	assert_int_equal(proto_parse_auth_switch(sw, n, &a, NULL), PROTO_OK);
	assert_slice(a.plugin, "mysql_native_password");
	assert_int_equal(a.data.len, 21);
	uint8_t out[64];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_auth_switch(&w, &a));
	assert_int_equal(w.len, n);
	assert_memory_equal(out, sw, n);

	/* The lone 0xFE of the old-password request. */
	const uint8_t old[] = {0xFE};
	assert_int_equal(proto_parse_auth_switch(old, 1, &a, NULL), PROTO_OK);
	assert_int_equal(a.plugin.len, 0);
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_auth_switch(&w, &a));
	assert_int_equal(w.len, 1);

	struct proto_error err;
	const uint8_t nonul[] = {0xFE, 'a', 'b'};
	assert_int_equal(proto_parse_auth_switch(nonul, 3, &a, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "auth switch plugin name");
	const uint8_t empty[] = {0xFE, 0, 'x'};
	assert_int_equal(proto_parse_auth_switch(empty, 3, &a, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "auth switch plugin name");
	const uint8_t wrong[] = {0x01, 'a', 0};
	assert_int_equal(proto_parse_auth_switch(wrong, 3, &a, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "auth switch header");
	assert_int_equal(proto_parse_auth_switch(wrong, 0, &a, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "auth switch header");
}

static void test_auth_more_data(void **state)
{
	const uint8_t md[] = {0x01, 0x03};
	struct proto_auth_more_data m;
	assert_int_equal(proto_parse_auth_more_data(md, 2, &m, NULL), PROTO_OK);
	assert_int_equal(m.data.len, 1);
	assert_int_equal(m.data.ptr[0], 0x03);
	uint8_t out[8];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_auth_more_data(&w, &m));
	assert_int_equal(w.len, 2);
	assert_memory_equal(out, md, 2);
	struct proto_error err;
	assert_int_equal(proto_parse_auth_more_data(md, 0, &m, &err), PROTO_MALFORMED);
	assert_string_equal(err.what, "auth more data header");
	const uint8_t bad[] = {0x02};
	assert_int_equal(proto_parse_auth_more_data(bad, 1, &m, &err), PROTO_MALFORMED);
	assert_int_equal(err.expected, 1);
	assert_int_equal(err.actual, 2);
}

static void test_auth_password_request(void **state)
{
	const uint8_t full_auth[] = {0x01, 0x04}, fast_ok[] = {0x01, 0x03}, key[] = {0x01, '-', '-'};
	assert_int_equal(proto_auth_password_request(full_auth, 2), PROTO_PW_SHA2_FULL);
	assert_int_equal(proto_auth_password_request(fast_ok, 2), PROTO_PW_NONE);
	assert_int_equal(proto_auth_password_request(key, 3), PROTO_PW_NONE);
	const uint8_t clear[] = "\xfemysql_clear_password\0";
	const uint8_t sha256[] = "\xfesha256_password\0abcdefghijklmnopqrst\0";
	const uint8_t native[] = "\xfemysql_native_password\0abcdefghijklmnopqrst\0";
	const uint8_t sha2[] = "\xfe" "caching_sha2_password\0abcdefghijklmnopqrst\0";
	const uint8_t prefix[] = "\xfemysql_clear\0";
	assert_int_equal(proto_auth_password_request(clear, sizeof(clear) - 1), PROTO_PW_CLEAR);
	assert_int_equal(proto_auth_password_request(sha256, sizeof(sha256) - 1), PROTO_PW_CLEAR_OR_RSA);
	assert_int_equal(proto_auth_password_request(native, sizeof(native) - 1), PROTO_PW_NONE);
	/* A switch to caching_sha2_password asks for a scramble; only its
	 * full authentication asks for the password. */
	assert_int_equal(proto_auth_password_request(sha2, sizeof(sha2) - 1), PROTO_PW_NONE);
	assert_int_equal(proto_auth_password_request(prefix, sizeof(prefix) - 1), PROTO_PW_NONE);
	/* Truncated or foreign packets are not requests. */
	const uint8_t lone[] = {0xFE}, ok[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
	assert_int_equal(proto_auth_password_request(lone, 1), PROTO_PW_NONE);
	assert_int_equal(proto_auth_password_request(clear, 5), PROTO_PW_NONE);
	assert_int_equal(proto_auth_password_request(ok, sizeof(ok)), PROTO_PW_NONE);
	assert_int_equal(proto_auth_password_request(full_auth, 1), PROTO_PW_NONE);
	assert_int_equal(proto_auth_password_request(full_auth, 0), PROTO_PW_NONE);
}

/* caching_sha2_password's two one-byte states, and what is neither. */
static void test_sha2_auth_state(void **state)
{
	const uint8_t fast_ok[] = {0x01, 0x03}, full_auth[] = {0x01, 0x04}, other[] = {0x01, 0x02};
	const uint8_t longer[] = {0x01, 0x03, 0x00}, not_more_data[] = {0x02, 0x03};
	const uint8_t key[] = "\x01-----BEGIN PUBLIC KEY-----\n";
	assert_int_equal(proto_sha2_auth_state(fast_ok, 2), PROTO_SHA2_FAST_OK);
	assert_int_equal(proto_sha2_auth_state(full_auth, 2), PROTO_SHA2_FULL_AUTH);
	assert_int_equal(proto_sha2_auth_state(other, 2), PROTO_SHA2_NONE);
	assert_int_equal(proto_sha2_auth_state(longer, sizeof(longer)), PROTO_SHA2_NONE);
	assert_int_equal(proto_sha2_auth_state(not_more_data, 2), PROTO_SHA2_NONE);
	assert_int_equal(proto_sha2_auth_state(key, sizeof(key) - 1), PROTO_SHA2_NONE);
	assert_int_equal(proto_sha2_auth_state(fast_ok, 1), PROTO_SHA2_NONE);
	assert_int_equal(proto_sha2_auth_state(fast_ok, 0), PROTO_SHA2_NONE);
}

/* Issue 8 defect 7: a MariaDB client's extended capability bytes (28-31
 * of its login) are cleared with the capabilities the proxy relays; a
 * MySQL client's filler is left alone; a short payload is not touched. */
static void test_response_set_caps(void **state)
{
	uint8_t p[40];
	memset(p, 0xEE, sizeof(p));
	proto_handshake_response_set_caps(p, sizeof(p), CLIENT_PROTOCOL_41 | CLIENT_PLUGIN_AUTH);
	uint32_t caps = CLIENT_PROTOCOL_41 | CLIENT_PLUGIN_AUTH;
	assert_int_equal(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24, caps);
	for (int i = 28; i < 32; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(p[27], 0xEE);
	assert_int_equal(p[32], 0xEE);

	memset(p, 0xEE, sizeof(p));
	proto_handshake_response_set_caps(p, sizeof(p), CLIENT_MYSQL | CLIENT_PROTOCOL_41);
	assert_int_equal(p[28], 0xEE);
	assert_int_equal(p[0], (uint8_t)(CLIENT_MYSQL | CLIENT_PROTOCOL_41));

	memset(p, 0xEE, sizeof(p));
	proto_handshake_response_set_caps(p, 3, 0);
	assert_int_equal(p[0], 0xEE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_response_set_caps),
		cmocka_unit_test(test_real_greeting),	    cmocka_unit_test(test_greeting_rewrite),
		cmocka_unit_test(test_greeting_variants),   cmocka_unit_test(test_greeting_truncations),
		cmocka_unit_test(test_greeting_malformed),  cmocka_unit_test(test_greeting_short_claims_41),
		cmocka_unit_test(test_real_login),
		cmocka_unit_test(test_response_variants),   cmocka_unit_test(test_response_truncations),
		cmocka_unit_test(test_response_malformed),  cmocka_unit_test(test_ssl_request),
		cmocka_unit_test(test_auth_switch),	    cmocka_unit_test(test_auth_more_data),
		cmocka_unit_test(test_auth_password_request),
		cmocka_unit_test(test_sha2_auth_state),
	};
	return cmocka_run_group_tests_name("handshake", tests, NULL, NULL);
}
