/*
 * writer.c - the bounded writer every packet writer goes through.
 *
 * Writes append to a caller-provided buffer. A write that does not fit
 * writes nothing, sets `overflow`, and every later write is refused too, so
 * a packet writer can emit a whole structure and check once: a payload is
 * either complete or reported as overflowed, never silently truncated.
 */
#include <string.h>

#include "proto.h"

void proto_writer_init(struct proto_writer *w, uint8_t *buf, size_t cap)
{
	*w = (struct proto_writer){.buf = buf, .cap = cap};
}

/* Room for n more bytes? Sets overflow when not. */
static bool room(struct proto_writer *w, size_t n)
{
	if (w->overflow)
		return false;
	if (w->cap - w->len < n) {
		w->overflow = true;
		return false;
	}
	return true;
}

static void put_le(struct proto_writer *w, uint64_t v, size_t n)
{
	if (!room(w, n))
		return;
	for (size_t i = 0; i < n; i++)
		w->buf[w->len + i] = (uint8_t)(v >> (8 * i));
	w->len += n;
}

void proto_write_u8(struct proto_writer *w, uint8_t v)
{
	put_le(w, v, 1);
}

void proto_write_u16(struct proto_writer *w, uint16_t v)
{
	put_le(w, v, 2);
}

void proto_write_u24(struct proto_writer *w, uint32_t v)
{
	put_le(w, v & 0xFFFFFFu, 3);
}

void proto_write_u32(struct proto_writer *w, uint32_t v)
{
	put_le(w, v, 4);
}

void proto_write_u64(struct proto_writer *w, uint64_t v)
{
	put_le(w, v, 8);
}

size_t proto_lenenc_size(uint64_t v)
{
	if (v < 0xFB)
		return 1;
	if (v <= 0xFFFF)
		return 3;
	if (v <= 0xFFFFFF)
		return 4;
	return 9;
}

/* Always the minimal form, as servers write it. */
void proto_write_lenenc(struct proto_writer *w, uint64_t v)
{
	size_t n = proto_lenenc_size(v);
	if (!room(w, n))
		return;
	switch (n) {
	case 1:
		put_le(w, v, 1);
		break;
	case 3:
		put_le(w, 0xFC, 1);
		put_le(w, v, 2);
		break;
	case 4:
		put_le(w, 0xFD, 1);
		put_le(w, v, 3);
		break;
	default:
		put_le(w, 0xFE, 1);
		put_le(w, v, 8);
		break;
	}
}

void proto_write_bytes(struct proto_writer *w, const void *p, size_t n)
{
	if (!room(w, n))
		return;
	if (n)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void proto_write_nulstr(struct proto_writer *w, const void *p, size_t n)
{
	if (n == SIZE_MAX) {
		w->overflow = true;
		return;
	}
	if (!room(w, n + 1))
		return;
	proto_write_bytes(w, p, n);
	proto_write_u8(w, 0);
}

void proto_write_lenenc_str(struct proto_writer *w, const void *p, size_t n)
{
	if (n > SIZE_MAX - 9) {
		w->overflow = true;
		return;
	}
	if (!room(w, proto_lenenc_size(n) + n))
		return;
	proto_write_lenenc(w, n);
	proto_write_bytes(w, p, n);
}
