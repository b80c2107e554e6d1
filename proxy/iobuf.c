/*
 * iobuf.c - see iobuf.h.
 */
#include "iobuf.h"

#include <stdlib.h>
#include <string.h>

void iobuf_consume(struct iobuf *b, size_t n)
{
	b->head += n;
	if (b->head < b->tail)
		return;
	b->head = b->tail = 0;
	if (b->cap > IOBUF_KEEP) {
		/* Shrinking never fails in practice; if it did, keeping the
		 * larger block is still correct. */
		uint8_t *p = realloc(b->data, IOBUF_INITIAL);
		if (p) {
			b->data = p;
			b->cap = IOBUF_INITIAL;
		}
	}
}

bool iobuf_reserve(struct iobuf *b, size_t n)
{
	if (iobuf_room(b) >= n)
		return true;
	size_t len = iobuf_len(b);
	/* Moving the unread bytes is worth it when it makes the room and they
	 * are few next to what was consumed; else growing is cheaper overall
	 * (doubling keeps a large command's framing linear). */
	if (b->cap - len >= n && len <= b->head) {
		memmove(b->data, b->data + b->head, len);
		b->head = 0;
		b->tail = len;
		return true;
	}
	if (n > SIZE_MAX / 2 - len)
		return false;
	size_t want = len + n, cap = b->cap ? b->cap : IOBUF_INITIAL;
	while (cap < want)
		cap *= 2;
	if (b->head > 0) {
		memmove(b->data, b->data + b->head, len);
		b->head = 0;
		b->tail = len;
	}
	if (cap == b->cap)
		return true;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return false;
	b->data = p;
	b->cap = cap;
	return true;
}

bool iobuf_append(struct iobuf *b, const void *p, size_t n)
{
	if (!iobuf_reserve(b, n))
		return false;
	if (n)
		memcpy(iobuf_space(b), p, n);
	b->tail += n;
	return true;
}

bool iobuf_move(struct iobuf *dst, struct iobuf *src, size_t n)
{
	if (iobuf_len(dst) == 0 && n == iobuf_len(src) && n > IOBUF_KEEP) {
		struct iobuf t = *dst;
		*dst = *src;
		*src = t;
		src->head = src->tail = 0;
		return true;
	}
	if (!iobuf_append(dst, iobuf_peek(src), n))
		return false;
	iobuf_consume(src, n);
	return true;
}

void iobuf_free(struct iobuf *b)
{
	free(b->data);
	*b = (struct iobuf){0};
}
