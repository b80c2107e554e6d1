/*
 * frame.c - physical packets and logical packets.
 *
 *   +-------------------+--------+---------------------------+
 *   | payload_len (u24) | seq u8 | payload (payload_len)     |
 *   +-------------------+--------+---------------------------+
 *
 * A logical packet is one or more chunks: every chunk of exactly 0xFFFFFF
 * bytes is continued by the next one (sequence id + 1, wrapping at 256), and
 * the first shorter chunk ends it. A payload that is a multiple of 0xFFFFFF
 * (including 0xFFFFFF itself) therefore ends with an empty chunk.
 */
#include <string.h>

#include "proto.h"

enum proto_status proto_frame_peek(const uint8_t *buf, size_t avail, struct proto_frame_header *out)
{
	if (avail < PROTO_HEADER_LEN)
		return PROTO_NEED_MORE;
	out->payload_len = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16;
	out->seq = buf[3];
	return PROTO_OK;
}

void proto_frame_write_header(uint8_t out[PROTO_HEADER_LEN], uint32_t payload_len, uint8_t seq)
{
	out[0] = (uint8_t)payload_len;
	out[1] = (uint8_t)(payload_len >> 8);
	out[2] = (uint8_t)(payload_len >> 16);
	out[3] = seq;
}

/*
 * Chunk by chunk: the sequence id and the running total are checked as soon
 * as each header is visible, before waiting for its body, so a peer cannot
 * make the caller buffer more than max_payload by announcing a huge packet.
 * Errors use the offset of the offending header field within buf.
 */
enum proto_status proto_frame_logical(const uint8_t *buf, size_t avail, uint8_t expected_seq, uint64_t max_payload,
				      size_t *wire_len, uint64_t *payload_len, uint8_t *next_seq,
				      struct proto_error *err)
{
	size_t off = 0;
	uint64_t total = 0;
	uint8_t seq = expected_seq;
	for (;;) {
		struct proto_frame_header h;
		if (proto_frame_peek(buf + off, avail - off, &h) != PROTO_OK)
			return PROTO_NEED_MORE;
		if (h.seq != seq) {
			if (err)
				*err = (struct proto_error){"packet sequence id", off + 3, seq, h.seq};
			return PROTO_MALFORMED;
		}
		total += h.payload_len;
		if (total > max_payload) {
			if (err)
				*err = (struct proto_error){"packet length", off, max_payload, total};
			return PROTO_MALFORMED;
		}
		if (avail - off - PROTO_HEADER_LEN < h.payload_len)
			return PROTO_NEED_MORE;
		off += PROTO_HEADER_LEN + h.payload_len;
		seq++;
		if (h.payload_len < PROTO_MAX_CHUNK)
			break;
	}
	*wire_len = off;
	*payload_len = total;
	*next_seq = seq;
	return PROTO_OK;
}

/* Walks the chunk headers again; bounded by wire_len in case the caller
 * passes a span that proto_frame_logical did not produce. */
void proto_frame_gather(const uint8_t *buf, size_t wire_len, uint8_t *out)
{
	size_t off = 0;
	while (wire_len - off >= PROTO_HEADER_LEN) {
		struct proto_frame_header h;
		(void)proto_frame_peek(buf + off, wire_len - off, &h);
		off += PROTO_HEADER_LEN;
		size_t n = h.payload_len <= wire_len - off ? h.payload_len : wire_len - off;
		memcpy(out, buf + off, n);
		out += n;
		off += n;
		if (h.payload_len < PROTO_MAX_CHUNK)
			break;
	}
}

size_t proto_frame_wire_size(size_t payload_len)
{
	return payload_len + PROTO_HEADER_LEN * (payload_len / PROTO_MAX_CHUNK + 1);
}

size_t proto_frame_encode(const uint8_t *payload, size_t len, uint8_t first_seq, uint8_t *out, size_t out_cap,
			  uint8_t *next_seq)
{
	size_t need = proto_frame_wire_size(len);
	if (need > out_cap)
		return 0;
	size_t off = 0;
	uint8_t seq = first_seq;
	size_t left = len;
	for (;;) {
		size_t n = left < PROTO_MAX_CHUNK ? left : PROTO_MAX_CHUNK;
		proto_frame_write_header(out + off, (uint32_t)n, seq++);
		off += PROTO_HEADER_LEN;
		if (n)
			memcpy(out + off, payload, n);
		off += n;
		payload += n;
		left -= n;
		if (n < PROTO_MAX_CHUNK)
			break;
	}
	*next_seq = seq;
	return off;
}
