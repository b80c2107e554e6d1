/*
 * packet_io.c - see packet_io.h.
 */
#include "packet_io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

bool pio_peek_header(struct evbuffer *buf, size_t offset, struct proto_frame_header *out)
{
	uint8_t hdr[PROTO_HEADER_LEN];
	struct evbuffer_ptr pos;
	if (evbuffer_get_length(buf) < offset + PROTO_HEADER_LEN)
		return false;
	if (evbuffer_ptr_set(buf, &pos, offset, EVBUFFER_PTR_SET) != 0)
		return false;
	if (evbuffer_copyout_from(buf, &pos, hdr, sizeof(hdr)) != (ev_ssize_t)sizeof(hdr))
		return false;
	return proto_frame_peek(hdr, sizeof(hdr), out) == PROTO_OK;
}

enum proto_status pio_logical(struct evbuffer *buf, uint8_t expected_seq, uint64_t max_payload, size_t *wire_len,
			      uint64_t *payload_len, uint8_t *next_seq, struct proto_error *err)
{
	size_t offset = 0;
	uint64_t total = 0;
	uint8_t seq = expected_seq;
	size_t avail = evbuffer_get_length(buf);
	for (;;) {
		struct proto_frame_header h;
		if (!pio_peek_header(buf, offset, &h))
			return PROTO_NEED_MORE;
		if (h.seq != seq) {
			*err = (struct proto_error){"packet sequence id", offset + 3, seq, h.seq};
			return PROTO_MALFORMED;
		}
		total += h.payload_len;
		if (total > max_payload) {
			*err = (struct proto_error){"packet length", offset, max_payload, total};
			return PROTO_MALFORMED;
		}
		offset += PROTO_HEADER_LEN + h.payload_len;
		seq++;
		if (offset > avail)
			return PROTO_NEED_MORE;
		if (h.payload_len < PROTO_MAX_CHUNK)
			break;
	}
	*wire_len = offset;
	*payload_len = total;
	*next_seq = seq;
	return PROTO_OK;
}

uint8_t *pio_take_payload(struct evbuffer *buf, size_t payload_len)
{
	uint8_t *p = malloc(payload_len ? payload_len : 1);
	if (!p)
		return NULL;
	evbuffer_drain(buf, PROTO_HEADER_LEN);
	evbuffer_remove(buf, p, payload_len);
	return p;
}

void pio_rewrite_seq(struct evbuffer *buf, size_t wire_len, uint8_t first_seq)
{
	size_t offset = 0;
	uint8_t seq = first_seq;
	while (offset < wire_len) {
		struct proto_frame_header h;
		if (!pio_peek_header(buf, offset, &h))
			return;
		/* evbuffer_peek hands out a pointer into the chain that holds
		 * the byte, so the id is rewritten in place without copying. */
		struct evbuffer_ptr pos;
		evbuffer_ptr_set(buf, &pos, offset + 3, EVBUFFER_PTR_SET);
		struct evbuffer_iovec vec;
		if (evbuffer_peek(buf, 1, &pos, &vec, 1) >= 1 && vec.iov_len >= 1)
			((uint8_t *)vec.iov_base)[0] = seq;
		offset += PROTO_HEADER_LEN + h.payload_len;
		seq++;
	}
}

void pio_write_packet(struct evbuffer *out, uint8_t seq, const uint8_t *payload, size_t len)
{
	uint8_t hdr[PROTO_HEADER_LEN];
	proto_frame_write_header(hdr, (uint32_t)len, seq);
	evbuffer_add(out, hdr, sizeof(hdr));
	evbuffer_add(out, payload, len);
}

void pio_write_err(struct evbuffer *out, uint8_t seq, uint16_t code, const char *sql_state, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint8_t payload[600];
	struct proto_writer w;
	proto_writer_init(&w, payload, sizeof(payload));
	if (proto_write_err_msg(&w, code, sql_state, msg))
		pio_write_packet(out, seq, payload, w.len);
}
