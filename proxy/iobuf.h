/*
 * iobuf.h - a flat byte buffer with a read cursor: what one leg of a
 * session reads is parsed in place from it, and what is queued toward a leg
 * is appended to one, so a whole batch leaves in one write.
 *
 *   data                head              tail                cap
 *    |  consumed         |  unread bytes    |  free             |
 *
 * Space is made by moving the unread bytes to the front (only when that
 * frees enough) or by growing; a buffer that empties after growing past
 * IOBUF_KEEP gives the memory back, so one large command or a backlog does
 * not pin its size for the rest of the session, while a result streaming
 * in reads of a few hundred KiB does not realloc on every one.
 */
#ifndef ACCTGATE_IOBUF_H
#define ACCTGATE_IOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A buffer's first allocation, and the most an emptied one keeps. */
#define IOBUF_INITIAL (16u << 10)
#define IOBUF_KEEP (1u << 20)

struct iobuf {
	uint8_t *data;
	size_t head; /* first unread byte */
	size_t tail; /* one past the last byte */
	size_t cap;
};

static inline size_t iobuf_len(const struct iobuf *b) { return b->tail - b->head; }
static inline uint8_t *iobuf_peek(const struct iobuf *b) { return b->data + b->head; }
static inline uint8_t *iobuf_space(const struct iobuf *b) { return b->data + b->tail; }
static inline size_t iobuf_room(const struct iobuf *b) { return b->cap - b->tail; }
/* Bytes written into iobuf_space() become unread bytes. */
static inline void iobuf_commit(struct iobuf *b, size_t n) { b->tail += n; }

/* Mark n unread bytes read (n <= iobuf_len). An emptied buffer restarts at
 * the front and shrinks back to IOBUF_INITIAL if it had grown past
 * IOBUF_KEEP. */
void iobuf_consume(struct iobuf *b, size_t n);

/* Make room for at least n more bytes at the tail. False when out of
 * memory (the buffer is unchanged). */
bool iobuf_reserve(struct iobuf *b, size_t n);

/* Append n bytes. False when out of memory. */
bool iobuf_append(struct iobuf *b, const void *p, size_t n);

/* Move the first n unread bytes of src to the end of dst. When they are
 * all src holds and dst is empty the two buffers trade places instead: a
 * 1 GiB command is handed on, not copied. False when out of memory
 * (nothing moved). */
bool iobuf_move(struct iobuf *dst, struct iobuf *src, size_t n);

void iobuf_free(struct iobuf *b);

#endif
