/*
 * packet_io.c - see packet_io.h.
 */
#include "packet_io.h"

#include <stdarg.h>
#include <stdio.h>

bool pio_write_packet(struct iobuf *out, uint8_t seq, const void *payload, size_t len)
{
	if (!iobuf_reserve(out, PROTO_HEADER_LEN + len))
		return false;
	uint8_t hdr[PROTO_HEADER_LEN];
	proto_frame_write_header(hdr, (uint32_t)len, seq);
	return iobuf_append(out, hdr, sizeof(hdr)) && iobuf_append(out, payload, len);
}

bool pio_write_err(struct iobuf *out, uint8_t seq, uint16_t code, const char *sql_state, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	uint8_t payload[600];
	struct proto_writer w;
	proto_writer_init(&w, payload, sizeof(payload));
	return proto_write_err_msg(&w, code, sql_state, msg) && pio_write_packet(out, seq, payload, w.len);
}
