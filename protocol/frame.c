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
 * The scan resumes where the previous call stopped (a chunk whose body is
 * still arriving is not looked at again), so framing a 1 GiB command costs
 * one look per chunk header, not one rescan per read. Errors use the offset
 * of the offending header field within buf.
 */
void proto_frame_scan_init(struct proto_frame_scan *s, uint8_t expected_seq)
{
	*s = (struct proto_frame_scan){.seq = expected_seq};
}

enum proto_status proto_frame_scan(struct proto_frame_scan *s, const uint8_t *buf, size_t avail, uint64_t max_payload,
				   struct proto_error *err)
{
	for (;;) {
		if (s->chunk_end) {
			/* A chunk's header was checked; wait for its body. */
			if (avail < s->chunk_end)
				return PROTO_NEED_MORE;
			s->off = s->chunk_end;
			s->chunk_end = 0;
			if (!s->more)
				return PROTO_OK;
		}
		struct proto_frame_header h;
		if (avail < s->off || proto_frame_peek(buf + s->off, avail - s->off, &h) != PROTO_OK)
			return PROTO_NEED_MORE;
		if (h.seq != s->seq) {
			if (err)
				*err = (struct proto_error){"packet sequence id", s->off + 3, s->seq, h.seq,
							    PROTO_ERR_SEQUENCE};
			return PROTO_MALFORMED;
		}
		s->payload_len += h.payload_len;
		if (s->payload_len > max_payload) {
			if (err)
				*err = (struct proto_error){"packet length", s->off, max_payload, s->payload_len,
							    PROTO_ERR_TOO_LARGE};
			return PROTO_MALFORMED;
		}
		s->seq++;
		s->more = h.payload_len == PROTO_MAX_CHUNK;
		s->chunk_end = s->off + PROTO_HEADER_LEN + h.payload_len;
	}
}

enum proto_status proto_frame_logical(const uint8_t *buf, size_t avail, uint8_t expected_seq, uint64_t max_payload,
				      size_t *wire_len, uint64_t *payload_len, uint8_t *next_seq,
				      struct proto_error *err)
{
	struct proto_frame_scan s;
	proto_frame_scan_init(&s, expected_seq);
	enum proto_status st = proto_frame_scan(&s, buf, avail, max_payload, err);
	if (st != PROTO_OK)
		return st;
	*wire_len = s.off;
	*payload_len = s.payload_len;
	*next_seq = s.seq;
	return PROTO_OK;
}

void proto_frame_rewrite_seq(uint8_t *buf, size_t wire_len, uint8_t first_seq)
{
	size_t off = 0;
	uint8_t seq = first_seq;
	while (wire_len - off >= PROTO_HEADER_LEN) {
		struct proto_frame_header h;
		(void)proto_frame_peek(buf + off, wire_len - off, &h);
		buf[off + 3] = seq++;
		off += PROTO_HEADER_LEN;
		if (h.payload_len > wire_len - off)
			break;
		off += h.payload_len;
	}
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
