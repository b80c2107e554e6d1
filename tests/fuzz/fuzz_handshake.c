/*
 * fuzz_handshake.c - every connection-phase parser on the same input:
 * greeting, SSLRequest, HandshakeResponse41, AuthSwitchRequest,
 * AuthMoreData. Oracles: no read outside the input (ASan), a reason for
 * every refusal, and writing back what was parsed gives the input again
 * (exactly, or for the response, whose lenenc fields may be non-minimal,
 * a fixed point after one write).
 */
#include "fuzz_util.h"

static void greeting(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	struct proto_handshake hs;
	struct proto_error err = {0};
	if (proto_parse_handshake(p, len, &hs, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_handshake(&w, &hs));
	FUZZ_CHECK(w.len == len && memcmp(out, p, len) == 0);
}

static void ssl_request(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	struct proto_ssl_request req;
	struct proto_error err = {0};
	bool is = proto_is_ssl_request(p, len);
	if (proto_parse_ssl_request(p, len, &req, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	FUZZ_CHECK(is);
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_ssl_request(&w, &req));
	FUZZ_CHECK(w.len == len && memcmp(out, p, len) == 0);
}

static void response(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	struct proto_handshake_response r;
	struct proto_error err = {0};
	if (proto_parse_handshake_response(p, len, &r, &err) != PROTO_OK) {
		fuzz_check_error(&err, len);
		return;
	}
	struct proto_writer w;
	proto_writer_init(&w, out, cap);
	FUZZ_CHECK(proto_write_handshake_response(&w, &r));
	size_t n1 = w.len;
	FUZZ_CHECK(proto_parse_handshake_response(out, n1, &r, &err) == PROTO_OK);
	uint8_t *out2 = malloc(cap);
	FUZZ_CHECK(out2);
	proto_writer_init(&w, out2, cap);
	FUZZ_CHECK(proto_write_handshake_response(&w, &r));
	FUZZ_CHECK(w.len == n1 && memcmp(out, out2, n1) == 0);
	free(out2);
}

static void auth_packets(const uint8_t *p, size_t len, uint8_t *out, size_t cap)
{
	struct proto_error err = {0};
	struct proto_writer w;
	struct proto_auth_switch sw;
	if (proto_parse_auth_switch(p, len, &sw, &err) == PROTO_OK) {
		proto_writer_init(&w, out, cap);
		FUZZ_CHECK(proto_write_auth_switch(&w, &sw));
		FUZZ_CHECK(w.len == len && memcmp(out, p, len) == 0);
	} else {
		fuzz_check_error(&err, len);
	}
	struct proto_auth_more_data md;
	if (proto_parse_auth_more_data(p, len, &md, &err) == PROTO_OK) {
		proto_writer_init(&w, out, cap);
		FUZZ_CHECK(proto_write_auth_more_data(&w, &md));
		FUZZ_CHECK(w.len == len && memcmp(out, p, len) == 0);
	} else {
		fuzz_check_error(&err, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size copy: ASan then sees any read past the end. */
	uint8_t *p = malloc(size ? size : 1);
	size_t cap = fuzz_out_cap(size);
	uint8_t *out = malloc(cap);
	FUZZ_CHECK(p && out);
	memcpy(p, data, size);
	greeting(p, size, out, cap);
	ssl_request(p, size, out, cap);
	response(p, size, out, cap);
	auth_packets(p, size, out, cap);
	free(out);
	free(p);
	return 0;
}
