/*
 * conn.h - one leg of a session on its socket: the I/O engine under both
 * the client and the server side.
 *
 * Why not bufferevents: measured on this machine (README, design notes),
 * bufferevent_openssl encrypted every MySQL packet as a TLS record of its
 * own (18 records for one oltp_read_write answer), toggled write interest
 * with epoll_ctl four times per query and copied each byte evbuffer -> BIO
 * -> evbuffer -> writev. Here:
 *  - reads go into one flat buffer per leg (iobuf.h), in which the session
 *    frames and parses packets in place;
 *  - whatever the session queues toward a leg while it handles one read is
 *    written by one conn_flush(): with TLS, encrypted in records of up to
 *    16 KiB into a ciphertext buffer (a BIO of this file's own), which then
 *    leaves in one send();
 *  - EV_WRITE is armed only when the socket refuses bytes, and disarmed
 *    once they went.
 * With TLS the socket bytes pass through raw_in/raw_out: that also lets a
 * client's ClientHello arrive in the same segment as its SSLRequest, and
 * lets a leg's TLS output (handshake, alerts, key updates) be sent at once.
 *
 * Callbacks run from the event loop, never from inside a conn_* call, so
 * an owner may close itself in any of them. Each callback is the last
 * thing its event handler does: an owner may free the conn in it.
 */
#ifndef ACCTGATE_CONN_H
#define ACCTGATE_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "iobuf.h"

/* What one worker's legs did, for the shutdown log line and benchmarks
 * (a TLS record per SSL_write: at most 16 KiB each). Not shared between
 * threads: each event base has its own. */
struct conn_stats {
	uint64_t recvs, sends;           /* socket syscalls that moved bytes */
	uint64_t bytes_in, bytes_out;    /* on the socket, ciphertext included */
	uint64_t records_out;            /* TLS records written */
	uint64_t flushes;                /* conn_flush calls that had bytes to send */
};

enum conn_tls {
	CONN_TLS_NONE,      /* plaintext leg (so far) */
	CONN_TLS_HANDSHAKE, /* conn_start_tls called; on_tls_done comes */
	CONN_TLS_UP,        /* clear text in `in`/`out` is encrypted on the wire */
	CONN_TLS_FAILED,    /* the handshake failed: conn_tls_error() says why */
};

struct conn_handler {
	/* New bytes in conn->in, or the stream ended (conn->eof / conn->failed):
	 * called once more after the last bytes, then no more. */
	void (*on_read)(void *owner);
	/* Output that the socket had refused went out: pending is now 0. */
	void (*on_drained)(void *owner);
	/* The TLS handshake finished (tls == CONN_TLS_UP) or failed. */
	void (*on_tls_done)(void *owner);
};

struct conn {
	int fd;
	struct event_base *base;
	struct event *rev, *wev;
	SSL *ssl;                   /* NULL until conn_start_tls */
	enum conn_tls tls;
	struct iobuf in;            /* clear bytes read, not yet consumed */
	struct iobuf out;           /* clear bytes queued for conn_flush */
	struct iobuf raw_in;        /* TLS: ciphertext read, not yet decrypted */
	struct iobuf raw_out;       /* TLS: ciphertext not yet sent */
	size_t in_limit;            /* `in` is not filled beyond this */
	bool reading;               /* the owner wants bytes */
	bool sock_eof;              /* the peer closed its side of the socket */
	bool eof;                   /* no more clear bytes will come */
	bool failed;                /* a socket or TLS error: why[] says what */
	bool end_reported;          /* on_read saw eof/failed */
	bool write_blocked;         /* EV_WRITE armed */
	bool rev_added;
	bool close_notify_wanted, close_notify_sent; /* after the bytes queued before it */
	unsigned long tls_error;    /* first OpenSSL library error of a failure */
	char why[200];
	const struct conn_handler *h;
	void *owner;
	struct conn_stats *stats;
};

/* Take over a connected, nonblocking socket (closed by conn_free). NULL
 * when out of memory (fd is not closed then). Not reading until
 * conn_set_reading. */
struct conn *conn_new(struct event_base *base, int fd, struct conn_stats *stats, size_t in_limit);
void conn_set_handler(struct conn *c, const struct conn_handler *h, void *owner);
void conn_free(struct conn *c);

/* Start or stop wanting bytes. Starting looks at once at what is already
 * buffered (a TLS leg may hold undecrypted records). */
void conn_set_reading(struct conn *c, bool on);

/* Mark n bytes of c->in consumed; reading resumes if a full buffer had
 * stopped it. */
void conn_consume(struct conn *c, size_t n);

/* Queue the first n bytes of src's input on dst's output (as
 * iobuf_move: a large command changes hands without a copy). */
bool conn_move_to(struct conn *dst, struct conn *src, size_t n);

/* Write out what is queued in c->out (encrypting it first on a TLS leg).
 * What the socket does not take now goes when it is writable. After a
 * failure the conn stays failed and on_read reports it. */
void conn_flush(struct conn *c);

/* Bytes queued and not yet on the socket (clear and cipher). */
size_t conn_pending(const struct conn *c);

/* Start TLS on this leg, as server (accepting) or client. Unread bytes in
 * c->in are taken as the first TLS bytes. The conn owns ssl from here on
 * (also on failure). on_tls_done follows. */
void conn_start_tls(struct conn *c, SSL *ssl, bool accepting);

/* Send TLS's close_notify after what is queued (once, only on a leg whose
 * handshake is done). */
void conn_close_notify(struct conn *c);

/* The first OpenSSL library error of a failed handshake (0 if none). */
unsigned long conn_tls_error(const struct conn *c);

#endif
