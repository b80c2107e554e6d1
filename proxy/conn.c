/*
 * conn.c - see conn.h.
 *
 * A TLS leg:
 *
 *   socket --recv--> raw_in --BIO--> SSL_read --> in      (session parses)
 *   socket <--send-- raw_out <--BIO-- SSL_write <-- out   (session queues)
 *
 * The BIO between OpenSSL and the raw buffers never blocks: reading an
 * empty raw_in asks for a retry, writing always appends to raw_out. So
 * SSL_write never returns WANT_WRITE (no "retry with the same arguments"
 * to honour) and everything a flush encrypts leaves in one send().
 */
#include "conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>

/* One recv() asks for at most this much: a few TLS records, and a bound on
 * how much one leg reads before the loop serves the others. */
#define READ_CHUNK (256u << 10)
/* Ciphertext read ahead of decryption (raw_in) is capped at this. */
#define RAW_IN_LIMIT (512u << 10)
/* The largest TLS record payload. */
#define TLS_RECORD_MAX 16384
/* Ciphertext encrypted ahead of the socket: more waits in clear in `out`,
 * so a 1 GiB command is not held twice, clear and encrypted. */
#define RAW_OUT_HIGH (1u << 20)

static void read_cb(evutil_socket_t fd, short what, void *arg);
static void write_cb(evutil_socket_t fd, short what, void *arg);

/* ---- the BIO between OpenSSL and raw_in/raw_out ------------------------- */

static int bio_raw_write(BIO *b, const char *p, int n)
{
	struct conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (n <= 0)
		return 0;
	if (!iobuf_append(&c->raw_out, p, (size_t)n))
		return -1; /* out of memory: the TLS write fails */
	return n;
}

static int bio_raw_read(BIO *b, char *p, int n)
{
	struct conn *c = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	size_t avail = iobuf_len(&c->raw_in);
	if (avail == 0) {
		if (c->sock_eof)
			return 0;
		BIO_set_retry_read(b);
		return -1;
	}
	size_t k = avail < (size_t)n ? avail : (size_t)n;
	memcpy(p, iobuf_peek(&c->raw_in), k);
	iobuf_consume(&c->raw_in, k);
	return (int)k;
}

static long bio_raw_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)num;
	(void)ptr;
	struct conn *c = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return (long)iobuf_len(&c->raw_in);
	case BIO_CTRL_WPENDING:
		return (long)iobuf_len(&c->raw_out);
	case BIO_CTRL_EOF:
		return c->sock_eof && iobuf_len(&c->raw_in) == 0;
	default:
		return 0;
	}
}

static BIO_METHOD *raw_method;
static pthread_once_t raw_method_once = PTHREAD_ONCE_INIT;

static void raw_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "acctgate conn");
	if (m && BIO_meth_set_write(m, bio_raw_write) && BIO_meth_set_read(m, bio_raw_read) &&
	    BIO_meth_set_ctrl(m, bio_raw_ctrl))
		raw_method = m;
	else if (m)
		BIO_meth_free(m);
}

/* ---- life cycle ------------------------------------------------------------ */

struct conn *conn_new(struct event_base *base, int fd, struct conn_stats *stats, size_t in_limit)
{
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->base = base;
	c->stats = stats;
	c->in_limit = in_limit;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
	if (!c->rev || !c->wev) {
		if (c->rev)
			event_free(c->rev);
		if (c->wev)
			event_free(c->wev);
		free(c);
		return NULL;
	}
	return c;
}

void conn_set_handler(struct conn *c, const struct conn_handler *h, void *owner)
{
	c->h = h;
	c->owner = owner;
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	event_free(c->rev);
	event_free(c->wev);
	if (c->ssl)
		SSL_free(c->ssl); /* frees the BIO */
	close(c->fd);
	iobuf_free(&c->in);
	iobuf_free(&c->out);
	iobuf_free(&c->raw_in);
	iobuf_free(&c->raw_out);
	free(c);
}

static void fail(struct conn *c, const char *what)
{
	if (c->failed)
		return;
	c->failed = true;
	snprintf(c->why, sizeof(c->why), "%s", what);
}

/* ---- read interest ----------------------------------------------------------- */

/* Where socket bytes go, and how many may wait there. */
static struct iobuf *landing(struct conn *c, size_t *limit)
{
	if (c->ssl) {
		*limit = RAW_IN_LIMIT;
		return &c->raw_in;
	}
	*limit = c->in_limit;
	return &c->in;
}

/* EV_READ is registered exactly while bytes are wanted and have room:
 * level-triggered epoll would otherwise wake the loop for bytes nobody
 * takes. */
static void update_read_interest(struct conn *c)
{
	size_t limit;
	struct iobuf *dst = landing(c, &limit);
	bool want = !c->sock_eof && !c->failed && iobuf_len(dst) < limit &&
		    (c->reading || c->tls == CONN_TLS_HANDSHAKE);
	if (want && !c->rev_added) {
		if (event_add(c->rev, NULL) == 0)
			c->rev_added = true;
		else
			fail(c, "cannot watch the socket");
	} else if (!want && c->rev_added) {
		event_del(c->rev);
		c->rev_added = false;
	}
}

/* Ciphertext not yet decrypted: in raw_in, or inside OpenSSL, which keeps
 * the rest of a record that did not fit the last SSL_read (the socket
 * will not signal those bytes again). */
static bool has_tls_bytes(const struct conn *c)
{
	return iobuf_len(&c->raw_in) > 0 || (c->ssl && c->tls == CONN_TLS_UP && SSL_has_pending(c->ssl));
}

void conn_set_reading(struct conn *c, bool on)
{
	c->reading = on;
	update_read_interest(c);
	/* Bytes already here produce no socket event: look at them from the
	 * loop (never from inside this call, which may be a callback of the
	 * owner's). */
	if (on && (iobuf_len(&c->in) > 0 || has_tls_bytes(c) || c->sock_eof || c->failed))
		event_active(c->rev, EV_READ, 0);
}

/* Reading stopped because `in` or the landing buffer filled up. */
static bool stalled_full(struct conn *c)
{
	size_t limit;
	struct iobuf *dst = landing(c, &limit);
	return iobuf_len(&c->in) >= c->in_limit || iobuf_len(dst) >= limit;
}

void conn_consume(struct conn *c, size_t n)
{
	bool was_full = stalled_full(c);
	iobuf_consume(&c->in, n);
	if (was_full && c->reading)
		conn_set_reading(c, true);
}

bool conn_move_to(struct conn *dst, struct conn *src, size_t n)
{
	bool was_full = stalled_full(src);
	if (!iobuf_move(&dst->out, &src->in, n))
		return false;
	if (was_full && src->reading)
		conn_set_reading(src, true);
	return true;
}

/* recv() into the landing buffer until the socket is empty or it is full. */
static void pull_socket(struct conn *c)
{
	size_t limit;
	struct iobuf *dst = landing(c, &limit);
	while (!c->sock_eof && !c->failed && iobuf_len(dst) < limit) {
		size_t want = limit - iobuf_len(dst);
		if (want > READ_CHUNK)
			want = READ_CHUNK;
		if (!iobuf_reserve(dst, want)) {
			fail(c, "out of memory");
			return;
		}
		ssize_t n = recv(c->fd, iobuf_space(dst), want, 0);
		if (n > 0) {
			iobuf_commit(dst, (size_t)n);
			c->stats->recvs++;
			c->stats->bytes_in += (uint64_t)n;
			if ((size_t)n < want)
				return; /* the socket is empty: spare the EAGAIN */
			continue;
		}
		if (n == 0) {
			c->sock_eof = true;
			if (!c->ssl)
				c->eof = true;
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			fail(c, strerror(errno));
		return;
	}
}

/* The first library error in the thread's queue, which is emptied: every
 * session of the worker shares it. SSL_get_error's own codes carry no
 * library and are passed over. */
static unsigned long take_tls_error(void)
{
	unsigned long e, first = 0;
	while ((e = ERR_get_error()) != 0)
		if (!first && ERR_GET_LIB(e) != 0)
			first = e;
	return first;
}

/* Fail with OpenSSL's reason for the error just seen, or `fallback`. */
static void fail_tls(struct conn *c, const char *fallback)
{
	unsigned long e = take_tls_error();
	char reason[160];
	snprintf(reason, sizeof(reason), "%s", fallback);
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	fail(c, reason);
}

/* SSL_read into `in` until OpenSSL wants more ciphertext or `in` is full. */
static void decrypt(struct conn *c)
{
	while (!c->eof && !c->failed && iobuf_len(&c->in) < c->in_limit) {
		size_t want = c->in_limit - iobuf_len(&c->in);
		if (want > READ_CHUNK)
			want = READ_CHUNK;
		if (!iobuf_reserve(&c->in, want)) {
			fail(c, "out of memory");
			return;
		}
		int n = SSL_read(c->ssl, iobuf_space(&c->in), (int)want);
		if (n > 0) {
			iobuf_commit(&c->in, (size_t)n);
			/* Nothing left to decrypt: spare the call that would only
			 * say WANT_READ (OpenSSL 3's per-call cost is measurable
			 * at one query per event). */
			if (!has_tls_bytes(c) && !c->sock_eof)
				return;
			continue;
		}
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ:
			return;
		case SSL_ERROR_ZERO_RETURN: /* close_notify */
			c->eof = true;
			return;
		case SSL_ERROR_SYSCALL:
			/* The socket ended without close_notify: peers often
			 * close that way, and MySQL framing has its own end. */
			take_tls_error();
			c->eof = true;
			return;
		default:
			fail_tls(c, "TLS error");
			return;
		}
	}
}

/* ---- writing -------------------------------------------------------------------- */

static void arm_write(struct conn *c, bool on)
{
	if (on == c->write_blocked)
		return;
	if (on && event_add(c->wev, NULL) != 0) {
		fail(c, "cannot watch the socket");
		return;
	}
	if (!on)
		event_del(c->wev);
	c->write_blocked = on;
}

/* send() what is ready for the socket; arm EV_WRITE only if it refuses. */
static void push_socket(struct conn *c)
{
	struct iobuf *src = c->ssl ? &c->raw_out : &c->out;
	while (!c->failed && iobuf_len(src) > 0) {
		ssize_t n = send(c->fd, iobuf_peek(src), iobuf_len(src), MSG_NOSIGNAL);
		if (n > 0) {
			c->stats->sends++;
			c->stats->bytes_out += (uint64_t)n;
			bool partial = (size_t)n < iobuf_len(src);
			iobuf_consume(src, (size_t)n);
			if (partial)
				break; /* the socket buffer is full */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		fail(c, n < 0 ? strerror(errno) : "send failed");
		/* Reported through on_read, from the loop. */
		event_active(c->rev, EV_READ, 0);
		return;
	}
	arm_write(c, iobuf_len(src) > 0);
}

/* Encrypt `out` into raw_out, one record per 16 KiB, up to RAW_OUT_HIGH
 * of ciphertext. */
static void encrypt(struct conn *c)
{
	while (!c->failed && iobuf_len(&c->out) > 0 && iobuf_len(&c->raw_out) < RAW_OUT_HIGH) {
		size_t n = iobuf_len(&c->out);
		if (n > TLS_RECORD_MAX)
			n = TLS_RECORD_MAX;
		int w = SSL_write(c->ssl, iobuf_peek(&c->out), (int)n);
		if (w <= 0) {
			fail_tls(c, "TLS write failed");
			event_active(c->rev, EV_READ, 0);
			return;
		}
		c->stats->records_out++;
		iobuf_consume(&c->out, (size_t)w);
	}
	/* close_notify goes after the last byte queued before it. */
	if (c->close_notify_wanted && !c->close_notify_sent && !c->failed && iobuf_len(&c->out) == 0) {
		c->close_notify_sent = true;
		SSL_shutdown(c->ssl);
		take_tls_error();
	}
}

/* Encrypt and send until everything is out or the socket refuses. */
static void push_all(struct conn *c)
{
	push_socket(c);
	while (c->ssl && !c->failed && !c->write_blocked &&
	       (iobuf_len(&c->out) > 0 || (c->close_notify_wanted && !c->close_notify_sent))) {
		encrypt(c);
		push_socket(c);
	}
}

void conn_flush(struct conn *c)
{
	if (c->failed || conn_pending(c) == 0)
		return;
	if (c->ssl) {
		if (c->tls != CONN_TLS_UP)
			return; /* clear bytes wait for the handshake */
		if (c->write_blocked)
			return; /* write_cb goes on from where the socket stopped */
		encrypt(c);
	}
	if (!c->write_blocked) {
		c->stats->flushes++;
		push_all(c);
	}
}

size_t conn_pending(const struct conn *c) { return iobuf_len(&c->out) + iobuf_len(&c->raw_out); }

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	c->write_blocked = false; /* push_socket re-arms as needed */
	event_del(c->wev);
	if (c->ssl && c->tls != CONN_TLS_UP)
		push_socket(c); /* handshake bytes only */
	else
		push_all(c);
	if (c->failed)
		return;
	if (conn_pending(c) == 0 && c->h && c->h->on_drained)
		c->h->on_drained(c->owner);
}

/* ---- TLS ----------------------------------------------------------------------- */

void conn_start_tls(struct conn *c, SSL *ssl, bool accepting)
{
	c->ssl = ssl;
	c->tls = CONN_TLS_HANDSHAKE;
	pthread_once(&raw_method_once, raw_method_init);
	BIO *bio = raw_method ? BIO_new(raw_method) : NULL;
	if (!bio) {
		c->tls = CONN_TLS_FAILED;
		fail(c, "cannot create a TLS session");
		event_active(c->rev, EV_READ, 0);
		return;
	}
	BIO_set_data(bio, c);
	BIO_set_init(bio, 1);
	SSL_set_bio(ssl, bio, bio);
	if (accepting)
		SSL_set_accept_state(ssl);
	else
		SSL_set_connect_state(ssl);
	/* What the peer sent after its SSLRequest is already TLS. */
	if (iobuf_len(&c->in) > 0) {
		if (!iobuf_append(&c->raw_in, iobuf_peek(&c->in), iobuf_len(&c->in)))
			fail(c, "out of memory");
		iobuf_consume(&c->in, iobuf_len(&c->in));
	}
	update_read_interest(c);
	/* The client side speaks first: step from the loop. */
	event_active(c->rev, EV_READ, 0);
}

/* One step of the handshake with what raw_in holds. */
static void step_handshake(struct conn *c)
{
	int r = c->failed ? -1 : SSL_do_handshake(c->ssl);
	push_socket(c); /* ClientHello, ServerHello..., or an alert */
	if (r == 1) {
		c->tls = CONN_TLS_UP;
		update_read_interest(c);
		/* The peer's first records may have come with its last
		 * handshake message: decrypt them from the loop. */
		if (iobuf_len(&c->raw_in) > 0)
			event_active(c->rev, EV_READ, 0);
		c->h->on_tls_done(c->owner);
		return;
	}
	if (!c->failed) {
		int err = SSL_get_error(c->ssl, r);
		if (err == SSL_ERROR_WANT_READ && !c->sock_eof) {
			update_read_interest(c);
			return;
		}
		c->tls_error = take_tls_error();
		fail(c, c->sock_eof ? "connection closed during the TLS handshake" : "TLS handshake failed");
	} else {
		take_tls_error();
	}
	c->tls = CONN_TLS_FAILED;
	update_read_interest(c);
	c->h->on_tls_done(c->owner);
}

void conn_close_notify(struct conn *c)
{
	if (!c->ssl || c->tls != CONN_TLS_UP || c->close_notify_wanted || c->failed)
		return;
	c->close_notify_wanted = true;
	if (!c->write_blocked) {
		encrypt(c);
		push_all(c);
	}
}

unsigned long conn_tls_error(const struct conn *c) { return c->tls_error; }

/* ---- the read event ---------------------------------------------------------------- */

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	(void)fd;
	(void)what;
	if (c->rev_added || c->tls == CONN_TLS_HANDSHAKE)
		pull_socket(c);
	if (c->tls == CONN_TLS_HANDSHAKE) {
		step_handshake(c);
		return;
	}
	if (c->tls == CONN_TLS_FAILED)
		return;
	if (c->ssl && c->reading) {
		decrypt(c);
		/* Reading may answer the peer (key update, alert). */
		if (iobuf_len(&c->raw_out) > 0 && !c->write_blocked)
			push_socket(c);
	}
	update_read_interest(c);
	if (c->end_reported || !c->h)
		return;
	if (c->failed || c->eof)
		c->end_reported = true;
	if (c->reading || c->end_reported)
		c->h->on_read(c->owner);
}
