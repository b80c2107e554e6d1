/*
 * proto.h - the MySQL/MariaDB protocol codec: bounded reader/writer, framing,
 * packet parsers and writers, and the response tracker.
 *
 * Contracts common to every parser here:
 *  - the input is one complete logical packet payload (no 4-byte header);
 *  - on success they return PROTO_OK and every slice in the output points
 *    into the input; on failure PROTO_MALFORMED with *err filled (err may be
 *    NULL) and the output is unspecified;
 *  - they never read outside the input and never allocate.
 * Writers append a payload (no header) to a proto_writer and return false
 * on overflow.
 */
#ifndef ACCTGATE_PROTO_H
#define ACCTGATE_PROTO_H

#include "proto_types.h"

#define PROTO_MUST_USE __attribute__((warn_unused_result))

/* ---- bounded reader ---------------------------------------------------- */

void proto_reader_init(struct proto_reader *r, const uint8_t *data, size_t len);
size_t proto_reader_remaining(const struct proto_reader *r);
uint8_t proto_read_u8(struct proto_reader *r, const char *what);
uint16_t proto_read_u16(struct proto_reader *r, const char *what);
uint32_t proto_read_u24(struct proto_reader *r, const char *what);
uint32_t proto_read_u32(struct proto_reader *r, const char *what);
uint64_t proto_read_u64(struct proto_reader *r, const char *what);
/* Length-encoded integer. *is_null (may be NULL) is set for 0xFB. 0xFF is malformed. */
uint64_t proto_read_lenenc(struct proto_reader *r, bool *is_null, const char *what);
struct proto_slice proto_read_bytes(struct proto_reader *r, size_t n, const char *what);
struct proto_slice proto_read_nulstr(struct proto_reader *r, const char *what); /* consumes the NUL */
struct proto_slice proto_read_lenenc_str(struct proto_reader *r, const char *what);
struct proto_slice proto_read_rest(struct proto_reader *r);
void proto_skip(struct proto_reader *r, size_t n, const char *what);
/* PROTO_OK if nothing failed, else PROTO_MALFORMED with *err copied. */
PROTO_MUST_USE enum proto_status proto_reader_status(const struct proto_reader *r, struct proto_error *err);

/* ---- bounded writer ---------------------------------------------------- */

void proto_writer_init(struct proto_writer *w, uint8_t *buf, size_t cap);
void proto_write_u8(struct proto_writer *w, uint8_t v);
void proto_write_u16(struct proto_writer *w, uint16_t v);
void proto_write_u24(struct proto_writer *w, uint32_t v);
void proto_write_u32(struct proto_writer *w, uint32_t v);
void proto_write_u64(struct proto_writer *w, uint64_t v);
void proto_write_lenenc(struct proto_writer *w, uint64_t v);
void proto_write_bytes(struct proto_writer *w, const void *p, size_t n);
void proto_write_nulstr(struct proto_writer *w, const void *p, size_t n); /* bytes then NUL */
void proto_write_lenenc_str(struct proto_writer *w, const void *p, size_t n);
size_t proto_lenenc_size(uint64_t v);

/* ---- framing ----------------------------------------------------------- */

/* Decode a 4-byte header. NEED_MORE if avail < 4. */
enum proto_status proto_frame_peek(const uint8_t *buf, size_t avail, struct proto_frame_header *out);
void proto_frame_write_header(uint8_t out[PROTO_HEADER_LEN], uint32_t payload_len, uint8_t seq);

/*
 * Find one complete logical packet at the start of contiguous bytes.
 * Checks each chunk's sequence id (first == expected_seq, then +1 mod 256)
 * and that the total payload does not exceed max_payload before anything is
 * trusted. On PROTO_OK: *wire_len is the bytes it spans including every
 * header, *payload_len the reassembled payload size, *next_seq the sequence
 * id the next packet must carry. NEED_MORE when incomplete.
 */
PROTO_MUST_USE enum proto_status proto_frame_logical(const uint8_t *buf, size_t avail, uint8_t expected_seq,
						     uint64_t max_payload, size_t *wire_len, uint64_t *payload_len,
						     uint8_t *next_seq, struct proto_error *err);
/*
 * The same, resumable: call again with the same buffer grown (its start
 * unchanged) until PROTO_OK; then s->off is the wire length, s->payload_len
 * the payload size and s->seq the next sequence id. Each chunk header is
 * checked once, however many calls a large packet takes.
 */
void proto_frame_scan_init(struct proto_frame_scan *s, uint8_t expected_seq);
PROTO_MUST_USE enum proto_status proto_frame_scan(struct proto_frame_scan *s, const uint8_t *buf, size_t avail,
						  uint64_t max_payload, struct proto_error *err);
/* Renumber the chunks of the logical packet at buf (wire_len bytes, headers
 * included) from first_seq on, in place. */
void proto_frame_rewrite_seq(uint8_t *buf, size_t wire_len, uint8_t first_seq);
/* Copy the payload of a logical packet found by proto_frame_logical (headers
 * removed) into out, which must hold payload_len bytes. */
void proto_frame_gather(const uint8_t *buf, size_t wire_len, uint8_t *out);
/* Bytes needed to frame a payload of len bytes (headers included; a payload
 * that is a multiple of 0xFFFFFF gets a trailing empty chunk). */
size_t proto_frame_wire_size(size_t payload_len);
/* Frame payload into out (capacity out_cap) starting at first_seq, splitting
 * at 0xFFFFFF. Returns bytes written, 0 if out_cap is too small.
 * *next_seq receives the sequence id after the last chunk. */
size_t proto_frame_encode(const uint8_t *payload, size_t len, uint8_t first_seq, uint8_t *out, size_t out_cap,
			  uint8_t *next_seq);

/* ---- connection phase -------------------------------------------------- */

PROTO_MUST_USE enum proto_status proto_parse_handshake(const uint8_t *p, size_t len, struct proto_handshake *out,
						       struct proto_error *err);
bool proto_write_handshake(struct proto_writer *w, const struct proto_handshake *hs);
/* A greeting's nonce: scramble1, then the first 12 bytes of scramble2 (a
 * shorter scramble2 leaves the rest of out as it was). */
void proto_handshake_scramble(const struct proto_handshake *hs, uint8_t out[PROTO_SCRAMBLE_LEN]);

/* True when a client's first packet is an SSLRequest (32 bytes, CLIENT_SSL). */
bool proto_is_ssl_request(const uint8_t *p, size_t len);
PROTO_MUST_USE enum proto_status proto_parse_ssl_request(const uint8_t *p, size_t len, struct proto_ssl_request *out,
							 struct proto_error *err);
bool proto_write_ssl_request(struct proto_writer *w, const struct proto_ssl_request *req);

PROTO_MUST_USE enum proto_status proto_parse_handshake_response(const uint8_t *p, size_t len,
								struct proto_handshake_response *out,
								struct proto_error *err);
bool proto_write_handshake_response(struct proto_writer *w, const struct proto_handshake_response *resp);

/*
 * Rewrite, in place, the capability flags of a HandshakeResponse41 payload
 * (len bytes) to `caps`; without CLIENT_MYSQL in caps (a MariaDB login) the
 * MariaDB extended capabilities in the filler (bytes 28-31) are cleared
 * too, as the proxy offers none. A payload too short for either is left as
 * it is.
 */
void proto_handshake_response_set_caps(uint8_t *p, size_t len, uint32_t caps);
PROTO_MUST_USE enum proto_status proto_parse_auth_switch(const uint8_t *p, size_t len, struct proto_auth_switch *out,
							 struct proto_error *err);
bool proto_write_auth_switch(struct proto_writer *w, const struct proto_auth_switch *sw);
PROTO_MUST_USE enum proto_status proto_parse_auth_more_data(const uint8_t *p, size_t len,
							    struct proto_auth_more_data *out, struct proto_error *err);
bool proto_write_auth_more_data(struct proto_writer *w, const struct proto_auth_more_data *md);
/* caching_sha2_password's fast-auth result, read from a server's auth
 * packet: exactly 0x01 0x03 or 0x01 0x04; anything else is PROTO_SHA2_NONE. */
enum proto_sha2_state proto_sha2_auth_state(const uint8_t *p, size_t len);
/*
 * Whether a server's auth packet asks for the password itself, and how the
 * client will send it: caching_sha2_password's "perform full
 * authentication" (AuthMoreData 0x04, PROTO_PW_SHA2_FULL) and an AuthSwitch
 * to sha256_password are answered in clear over TLS and RSA-encrypted
 * otherwise; an AuthSwitch to mysql_clear_password always in clear.
 * Anything else, truncated packets included, is PROTO_PW_NONE.
 */
enum proto_password_request proto_auth_password_request(const uint8_t *p, size_t len);

/* ---- generic responses ------------------------------------------------- */

/* caps: the negotiated capabilities (CLIENT_PROTOCOL_41, CLIENT_SESSION_TRACK
 * change the layout). */
PROTO_MUST_USE enum proto_status proto_parse_ok(const uint8_t *p, size_t len, uint32_t caps, struct proto_ok *out,
						struct proto_error *err);
bool proto_write_ok(struct proto_writer *w, uint32_t caps, const struct proto_ok *ok);
/*
 * Find the last SESSION_TRACK_SCHEMA entry (the new default database) in an
 * OK packet's session-state block. PROTO_OK with *schema set when there is
 * one, PROTO_NEED_MORE (no such entry), PROTO_MALFORMED on a broken block.
 */
PROTO_MUST_USE enum proto_status proto_session_state_schema(struct proto_slice state, struct proto_slice *schema,
							    struct proto_error *err);
PROTO_MUST_USE enum proto_status proto_parse_err(const uint8_t *p, size_t len, struct proto_err *out,
						 struct proto_error *err);
bool proto_write_err(struct proto_writer *w, const struct proto_err *e);
/* Convenience: an ERR payload with "#" + sql_state and a message. */
bool proto_write_err_msg(struct proto_writer *w, uint16_t code, const char *sql_state, const char *msg);
PROTO_MUST_USE enum proto_status proto_parse_eof(const uint8_t *p, size_t len, struct proto_eof *out,
						 struct proto_error *err);
bool proto_write_eof(struct proto_writer *w, const struct proto_eof *eof);
/* An EOF packet is 0xFE with payload length < 9; an OK-as-EOF (DEPRECATE_EOF)
 * is 0xFE with payload length < 0xFFFFFF. */
bool proto_is_eof(const uint8_t *p, size_t len);

PROTO_MUST_USE enum proto_status proto_parse_stmt_prepare_ok(const uint8_t *p, size_t len,
							     struct proto_stmt_prepare_ok *out,
							     struct proto_error *err);
bool proto_write_stmt_prepare_ok(struct proto_writer *w, const struct proto_stmt_prepare_ok *ok);
PROTO_MUST_USE enum proto_status proto_parse_column_def(const uint8_t *p, size_t len, struct proto_column_def *out,
							struct proto_error *err);
bool proto_write_column_def(struct proto_writer *w, const struct proto_column_def *col);
/* Text-protocol row: calls each column value (is_null for 0xFB). Checks that
 * exactly ncols values fill the packet. */
PROTO_MUST_USE enum proto_status proto_parse_text_row(const uint8_t *p, size_t len, uint64_t ncols,
						      struct proto_slice *values, bool *nulls,
						      struct proto_error *err);

/* ---- commands ---------------------------------------------------------- */

/* Parse one client command payload. caps decides the COM_CHANGE_USER layout. */
PROTO_MUST_USE enum proto_status proto_parse_command(const uint8_t *p, size_t len, uint32_t caps,
						     struct proto_command *out, struct proto_error *err);
bool proto_write_command(struct proto_writer *w, uint32_t caps, const struct proto_command *cmd);
const char *proto_command_name(uint8_t code);

/* ---- response tracker -------------------------------------------------- */

/* Start following the response to `command` (the first payload byte the
 * client sent). For commands without a response (COM_QUIT, COM_STMT_CLOSE,
 * COM_STMT_SEND_LONG_DATA) returns false and stays TRK_IDLE. */
bool proto_tracker_begin(struct proto_tracker *t, uint8_t command, uint32_t caps);
/* Start following an authentication exchange (after HandshakeResponse41, or
 * COM_CHANGE_USER, which proto_tracker_begin routes here too): AuthSwitch
 * (0xFE) and AuthMoreData (0x01) are TRK_EV_CONTINUE, and the client may send
 * packets at any time until the server's OK or ERR (TRK_EV_DONE). */
void proto_tracker_begin_auth(struct proto_tracker *t, uint32_t caps);
/*
 * Feed the start of one logical server packet: `p` holds the first `avail`
 * bytes (avail >= min(payload_len, 64 KiB) is enough for every decision),
 * `payload_len` its full logical length. Updates t->last on OK/ERR/EOF.
 */
enum proto_tracker_event proto_tracker_feed(struct proto_tracker *t, const uint8_t *p, size_t avail,
					    uint64_t payload_len, struct proto_error *err);
/* The client finished its turn (LOCAL INFILE empty packet sent, by the
 * client or by the caller after TRK_EV_INFILE_REFUSED, or an auth reply
 * relayed): the tracker expects the server again. */
void proto_tracker_client_done(struct proto_tracker *t);
const char *proto_tracker_state_name(enum proto_tracker_state s);

#endif
