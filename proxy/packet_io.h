/*
 * packet_io.h - MySQL packets in libevent buffers: find packet boundaries
 * without copying, move packets between buffers, and write packets the proxy
 * makes itself (greetings, ERR). The byte-level rules live in protocol/;
 * this file only adapts them to evbuffers, whose bytes are not contiguous.
 */
#ifndef ACCTGATE_PACKET_IO_H
#define ACCTGATE_PACKET_IO_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>

#include "proto.h"

/* Header of the physical packet starting `offset` bytes into `buf`. */
bool pio_peek_header(struct evbuffer *buf, size_t offset, struct proto_frame_header *out);

/*
 * Locate one complete logical packet at the front of `buf` (chunks of
 * 0xFFFFFF continue it). Checks sequence ids from expected_seq on and that
 * the payload stays within max_payload before waiting for more bytes, so an
 * oversized packet is refused as soon as its header arrives.
 * Returns PROTO_OK (*wire_len, *payload_len, *next_seq set), PROTO_NEED_MORE
 * or PROTO_MALFORMED (*err says why).
 */
enum proto_status pio_logical(struct evbuffer *buf, uint8_t expected_seq, uint64_t max_payload, size_t *wire_len,
			      uint64_t *payload_len, uint8_t *next_seq, struct proto_error *err);

/* Copy a single-chunk logical packet's payload out of `buf` into a new
 * malloc'd block and drain it. NULL on allocation failure. */
uint8_t *pio_take_payload(struct evbuffer *buf, size_t payload_len);

/* Rewrite the sequence id of every chunk of the logical packet at the front
 * of `buf` (spanning wire_len bytes), starting at first_seq. */
void pio_rewrite_seq(struct evbuffer *buf, size_t wire_len, uint8_t first_seq);

/* Append one packet (payload < 16 MiB) to `out`. */
void pio_write_packet(struct evbuffer *out, uint8_t seq, const uint8_t *payload, size_t len);

/* Append an ERR packet: code, "#" + sql_state, message (printf format). */
void pio_write_err(struct evbuffer *out, uint8_t seq, uint16_t code, const char *sql_state, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
