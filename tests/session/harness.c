/*
 * harness.c - see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "session.h"
#include "upstream.h"
#include "worker.h"

/* The longest one pass of the event loop may block: a wait checks its
 * condition and deadline at least this often. */
#define TICK_MS 10
/* How much of a peer's socket one read callback drains. */
#define READ_CHUNK (256u << 10)

/* Fail the test at the caller's file and line. */
static void fail_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail_at(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("%s:%d: %s\n", file, line, msg);
	_fail(file, line);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------
 * Packet buffers
 * ------------------------------------------------------------------------ */

void harness_buf_init(struct harness_buf *b, uint8_t first_seq)
{
	*b = (struct harness_buf){.seq = first_seq};
}

void harness_buf_free(struct harness_buf *b)
{
	free(b->data);
	*b = (struct harness_buf){0};
}

static void buf_reserve(struct harness_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	assert_non_null(p);
	b->data = p;
	b->cap = cap;
}

void harness_buf_raw(struct harness_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void harness_buf_packet(struct harness_buf *b, const void *payload, size_t n)
{
	size_t wire = proto_frame_wire_size(n);
	buf_reserve(b, wire);
	uint8_t next;
	size_t done = proto_frame_encode(payload, n, b->seq, b->data + b->len, wire, &next);
	assert_int_equal(done, wire);
	b->len += wire;
	b->seq = next;
}

/* Build a payload with a proto_writer into a stack buffer and append it. */
#define SMALL_PACKET_MAX 4096

void harness_buf_ok(struct harness_buf *b, uint32_t caps, uint8_t header, uint16_t status, uint64_t affected,
		    const char *info)
{
	uint8_t p[SMALL_PACKET_MAX];
	struct proto_writer w;
	proto_writer_init(&w, p, sizeof(p));
	struct proto_ok ok = {.header = header, .affected_rows = affected, .status_flags = status};
	if (info)
		ok.info = (struct proto_slice){(const uint8_t *)info, strlen(info)};
	assert_true(proto_write_ok(&w, caps, &ok));
	harness_buf_packet(b, p, w.len);
}

void harness_buf_eof(struct harness_buf *b, uint16_t status)
{
	uint8_t p[16];
	struct proto_writer w;
	proto_writer_init(&w, p, sizeof(p));
	assert_true(proto_write_eof(&w, &(struct proto_eof){.status_flags = status}));
	harness_buf_packet(b, p, w.len);
}

void harness_buf_err(struct harness_buf *b, uint16_t code, const char *sql_state, const char *msg)
{
	uint8_t p[SMALL_PACKET_MAX];
	struct proto_writer w;
	proto_writer_init(&w, p, sizeof(p));
	assert_true(proto_write_err_msg(&w, code, sql_state, msg));
	harness_buf_packet(b, p, w.len);
}

void harness_buf_column_count(struct harness_buf *b, uint64_t n)
{
	uint8_t p[16];
	struct proto_writer w;
	proto_writer_init(&w, p, sizeof(p));
	proto_write_lenenc(&w, n);
	assert_false(w.overflow);
	harness_buf_packet(b, p, w.len);
}

static struct proto_slice slice_of(const char *s) { return (struct proto_slice){(const uint8_t *)s, strlen(s)}; }

void harness_buf_column_def(struct harness_buf *b, const char *name)
{
	uint8_t p[SMALL_PACKET_MAX];
	struct proto_writer w;
	proto_writer_init(&w, p, sizeof(p));
	struct proto_column_def col = {
		.catalog = slice_of("def"),
		.schema = slice_of("slurm_acct_db"),
		.table = slice_of("job_table"),
		.org_table = slice_of("job_table"),
		.name = slice_of(name),
		.org_name = slice_of(name),
		.charset = HARNESS_SERVER_CHARSET,
		.column_length = 1024,
		.type = 0xfd, /* MYSQL_TYPE_VAR_STRING */
	};
	assert_true(proto_write_column_def(&w, &col));
	harness_buf_packet(b, p, w.len);
}

void harness_buf_text_row(struct harness_buf *b, size_t n, const char *const *values)
{
	struct harness_buf row;
	harness_buf_init(&row, 0);
	for (size_t i = 0; i < n; i++) {
		if (!values[i]) {
			harness_buf_raw(&row, "\xfb", 1);
			continue;
		}
		size_t len = strlen(values[i]);
		uint8_t lenenc[9];
		struct proto_writer w;
		proto_writer_init(&w, lenenc, sizeof(lenenc));
		proto_write_lenenc(&w, len);
		harness_buf_raw(&row, lenenc, w.len);
		harness_buf_raw(&row, values[i], len);
	}
	harness_buf_packet(b, row.data, row.len);
	harness_buf_free(&row);
}

void harness_buf_result_end(struct harness_buf *b, uint32_t caps, uint16_t status)
{
	if (caps & CLIENT_DEPRECATE_EOF)
		harness_buf_ok(b, caps, 0xFE, status, 0, NULL);
	else
		harness_buf_eof(b, status);
}

void harness_buf_result_set(struct harness_buf *b, uint32_t caps, size_t ncols, const char *const *names,
			    size_t nrows, const char *const *values, uint16_t status)
{
	harness_buf_column_count(b, ncols);
	for (size_t i = 0; i < ncols; i++)
		harness_buf_column_def(b, names[i]);
	if (!(caps & CLIENT_DEPRECATE_EOF))
		harness_buf_eof(b, status); /* servers set MORE_RESULTS here too */
	for (size_t r = 0; r < nrows; r++)
		harness_buf_text_row(b, ncols, values + r * ncols);
	harness_buf_result_end(b, caps, status);
}

/* ------------------------------------------------------------------------
 * Test-side sockets
 *
 * Registered on the worker's base, so one EVLOOP_ONCE serves the proxy and
 * the test alike: whatever the proxy writes is read here as soon as it is
 * written, and queued test bytes go out as soon as the socket takes them.
 * ------------------------------------------------------------------------ */

static void peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct harness_peer *p = arg;
	for (;;) {
		buf_reserve(&p->in, READ_CHUNK);
		ssize_t n = recv(fd, p->in.data + p->in.len, READ_CHUNK, MSG_DONTWAIT);
		if (n > 0) {
			p->in.len += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		/* 0: the other end closed; an error (ECONNRESET) closes too. */
		if (n < 0)
			p->error = errno;
		p->eof = true;
		event_del(p->rd);
		return;
	}
}

static void peer_flush(struct harness_peer *p)
{
	while (p->fd >= 0 && p->out_pos < p->out.len) {
		ssize_t n = send(p->fd, p->out.data + p->out_pos, p->out.len - p->out_pos, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p->out_pos += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			event_add(p->wr, NULL);
			return;
		}
		p->error = errno; /* EPIPE: the proxy closed; what is queued is lost */
		p->out_pos = p->out.len;
	}
	if (p->out_pos == p->out.len) {
		p->out.len = p->out_pos = 0;
		if (p->wr)
			event_del(p->wr);
	}
}

static void peer_write_cb(evutil_socket_t fd, short what, void *arg) { peer_flush(arg); }

static void peer_open(struct harness *h, struct harness_peer *p, int fd)
{
	p->fd = fd;
	p->rd = event_new(h->worker->base, fd, EV_READ | EV_PERSIST, peer_read_cb, p);
	p->wr = event_new(h->worker->base, fd, EV_WRITE | EV_PERSIST, peer_write_cb, p);
	assert_non_null(p->rd);
	assert_non_null(p->wr);
	assert_int_equal(event_add(p->rd, NULL), 0);
	peer_flush(p);
}

/* The peer's events carry its address: after a move, make them anew. */
static void peer_rebind(struct harness *h, struct harness_peer *p)
{
	if (p->rd)
		event_free(p->rd);
	if (p->wr)
		event_free(p->wr);
	p->rd = p->wr = NULL;
	if (p->fd < 0)
		return;
	p->rd = event_new(h->worker->base, p->fd, EV_READ | EV_PERSIST, peer_read_cb, p);
	p->wr = event_new(h->worker->base, p->fd, EV_WRITE | EV_PERSIST, peer_write_cb, p);
	assert_non_null(p->rd);
	assert_non_null(p->wr);
	if (!p->eof)
		assert_int_equal(event_add(p->rd, NULL), 0);
	peer_flush(p);
}

static void peer_swap(struct harness *h, struct harness_peer *a, struct harness_peer *b)
{
	struct harness_peer t = *a;
	*a = *b;
	*b = t;
	peer_rebind(h, a);
	peer_rebind(h, b);
}

void harness_swap_peers(struct harness *h, struct harness_peer *client, struct harness_peer *server)
{
	peer_swap(h, &h->client, client);
	peer_swap(h, &h->server, server);
}

void harness_close(struct harness_peer *p)
{
	if (p->rd)
		event_free(p->rd);
	if (p->wr)
		event_free(p->wr);
	p->rd = p->wr = NULL;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

static void peer_free(struct harness_peer *p)
{
	harness_close(p);
	harness_buf_free(&p->in);
	harness_buf_free(&p->out);
	harness_buf_free(&p->packet);
}

void harness_peer_free(struct harness_peer *p) { peer_free(p); }

void harness_send(struct harness_peer *p, const void *bytes, size_t n)
{
	harness_buf_raw(&p->out, bytes, n);
	peer_flush(p);
}

void harness_send_packet(struct harness_peer *p, uint8_t seq, const void *payload, size_t n)
{
	struct harness_buf b;
	harness_buf_init(&b, seq);
	harness_buf_packet(&b, payload, n);
	harness_send(p, b.data, b.len);
	harness_buf_free(&b);
}

size_t harness_unsent(const struct harness_peer *p) { return p->out.len - p->out_pos; }

static size_t peer_unread(const struct harness_peer *p) { return p->in.len - p->in_pos; }

static void peer_consume(struct harness_peer *p, size_t n)
{
	p->in_pos += n;
	if (p->in_pos == p->in.len)
		p->in.len = p->in_pos = 0;
}

/* ------------------------------------------------------------------------
 * The event loop
 * ------------------------------------------------------------------------ */

static void tick_cb(evutil_socket_t fd, short what, void *arg) {}

bool harness_run_until(struct harness *h, bool (*cond)(struct harness *, void *), void *arg, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	while (!cond(h, arg)) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return false;
		struct timeval tv = {0, (left < TICK_MS ? left : TICK_MS) * 1000};
		evtimer_add(h->tick, &tv);
		event_base_loop(h->worker->base, EVLOOP_ONCE);
	}
	return true;
}

int harness_nsessions(const struct harness *h) { return h->worker->nsessions; }

/* ------------------------------------------------------------------------
 * Set-up and tear-down
 * ------------------------------------------------------------------------ */

static void listen_cb(evutil_socket_t fd, short what, void *arg)
{
	struct harness *h = arg;
	int c;
	while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		/* One server connection at a time is served (a second session's
		 * after harness_swap_peers); more are counted, not served. */
		if (++h->accepted > 1 && h->server.fd >= 0) {
			close(c);
			continue;
		}
		peer_open(h, &h->server, c);
	}
}

void harness_close_listener(struct harness *h)
{
	if (h->listen_ev)
		event_free(h->listen_ev);
	h->listen_ev = NULL;
	if (h->listen_fd >= 0)
		close(h->listen_fd);
	h->listen_fd = -1;
}

static int open_listener(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 8), 0);
	socklen_t alen = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void write_config(struct harness *h, const char *proxy_lines)
{
	const char *env = getenv("ACCTGATE_TEST_LOG");
	char level[64] = "";
	if (!proxy_lines || !strstr(proxy_lines, "log_level"))
		snprintf(level, sizeof(level), "log_level = %s\n", env && *env ? env : "warning");
	char text[4096];
	int n = snprintf(text, sizeof(text),
			 "[proxy]\n"
			 "client_tls = disabled\n"
			 "%s%s\n"
			 "[upstream]\n"
			 "servers = 127.0.0.1:%u\n"
			 "tls = disabled\n"
			 "connect_timeout = 2\n",
			 level, proxy_lines ? proxy_lines : "", (unsigned)h->port);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	strcpy(h->conf_path, "/tmp/acctgate-session-XXXXXX");
	int fd = mkstemp(h->conf_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, (size_t)n), n);
	close(fd);
}

struct harness *harness_new(const char *proxy_lines)
{
	/* A peer that closed must not kill the test (gate_run does the same). */
	signal(SIGPIPE, SIG_IGN);
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->client = (struct harness_peer){.name = "client", .fd = -1};
	h->server = (struct harness_peer){.name = "server", .fd = -1};
	h->listen_fd = open_listener(&h->port);
	write_config(h, proxy_lines);

	char err[1024];
	if (!config_load(h->conf_path, &h->cfg, err, sizeof(err)))
		fail_msg("config: %s", err);
	log_set_level(h->cfg.log_level);

	/* The part of gate_run a session relies on; no listener, no signals,
	 * no health check, no worker thread. */
	pthread_mutex_init(&h->gate.settings_lock, NULL);
	upstream_pool_init(&h->gate.pool);
	upstream_pool_configure(&h->gate.pool, &h->cfg);
	atomic_init(&h->gate.connections, 0);
	atomic_init(&h->gate.next_session_id, 0);
	h->gate.config_path = h->conf_path;
	h->gate.settings = settings_build(&h->cfg, err, sizeof(err));
	if (!h->gate.settings)
		fail_msg("settings_build: %s", err);
	h->worker = worker_new(&h->gate, 0, &h->cfg, err, sizeof(err));
	if (!h->worker)
		fail_msg("worker_new: %s", err);

	h->tick = evtimer_new(h->worker->base, tick_cb, h);
	h->listen_ev = event_new(h->worker->base, h->listen_fd, EV_READ | EV_PERSIST, listen_cb, h);
	assert_non_null(h->tick);
	assert_non_null(h->listen_ev);
	assert_int_equal(event_add(h->listen_ev, NULL), 0);
	return h;
}

static bool no_session(struct harness *h, void *arg) { return h->worker->nsessions == 0; }

bool harness_free(struct harness *h)
{
	if (!h)
		return true;
	bool ok = true;
	harness_close(&h->client);
	harness_close(&h->server);
	if (h->worker && !harness_run_until(h, no_session, NULL, HARNESS_TIMEOUT_MS)) {
		print_error("harness: %d session(s) still alive %d ms after both peers closed (leaked)\n",
			    h->worker->nsessions, HARNESS_TIMEOUT_MS);
		ok = false;
	}
	peer_free(&h->client);
	peer_free(&h->server);
	if (h->tick)
		event_free(h->tick);
	harness_close_listener(h);
	if (h->worker)
		worker_join_and_free(h->worker, NULL);
	settings_release(h->gate.settings);
	upstream_pool_destroy(&h->gate.pool);
	pthread_mutex_destroy(&h->gate.settings_lock);
	if (h->conf_path[0])
		unlink(h->conf_path);
	free(h);
	return ok;
}

void harness_start_session(struct harness *h)
{
	int fds[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
	/* What the listener's accept would have reported. */
	struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	/* on_accept counts the connection before the hand-over; the session
	 * gives it back when freed. */
	atomic_fetch_add(&h->gate.connections, 1);
	peer_open(h, &h->client, fds[1]);
	session_start(h->worker, fds[0], (struct sockaddr *)&peer, sizeof(peer));
}

/* ------------------------------------------------------------------------
 * Expectations
 * ------------------------------------------------------------------------ */

struct want_bytes {
	struct harness_peer *p;
	size_t n;
};

static bool has_bytes(struct harness *h, void *arg)
{
	struct want_bytes *w = arg;
	return peer_unread(w->p) >= w->n || w->p->eof;
}

/* Wait for n unread bytes; fail if the peer closes or time runs out first. */
static void wait_bytes(struct harness *h, struct harness_peer *p, size_t n, const char *what, const char *file,
		       int line)
{
	struct want_bytes w = {p, n};
	bool ok = harness_run_until(h, has_bytes, &w, HARNESS_TIMEOUT_MS);
	if (peer_unread(p) >= n)
		return;
	fail_at(file, line, "%s: waiting for %s (%zu bytes): %s after %zu bytes", p->name, what, n,
		ok ? "connection closed" : "timed out", peer_unread(p));
}

static void compare(const struct harness_peer *p, const uint8_t *got, const uint8_t *want, size_t n, const char *what,
		    const char *file, int line)
{
	for (size_t i = 0; i < n; i++) {
		if (got[i] == want[i])
			continue;
		char g[3 * 16 + 1] = "", e[3 * 16 + 1] = "";
		for (size_t j = i; j < n && j < i + 16; j++) {
			snprintf(g + 3 * (j - i), 4, "%02x ", got[j]);
			snprintf(e + 3 * (j - i), 4, "%02x ", want[j]);
		}
		fail_at(file, line, "%s: %s differs at byte %zu of %zu:\n  expected %s\n  got      %s", p->name, what, i, n,
			e, g);
	}
}

void harness_expect_bytes_at(struct harness *h, struct harness_peer *p, const void *bytes, size_t n,
			     const char *file, int line)
{
	wait_bytes(h, p, n, "expected bytes", file, line);
	compare(p, p->in.data + p->in_pos, bytes, n, "received bytes", file, line);
	peer_consume(p, n);
}

/* Wait for one whole logical packet at the front of p->in: its wire
 * length, first sequence id and payload length. */
static void wait_packet(struct harness *h, struct harness_peer *p, size_t *wire, uint8_t *seq, uint64_t *plen,
			const char *file, int line)
{
	wait_bytes(h, p, PROTO_HEADER_LEN, "a packet header", file, line);
	*seq = p->in.data[p->in_pos + 3];
	for (;;) {
		uint8_t next;
		struct proto_error perr = {0};
		enum proto_status st = proto_frame_logical(p->in.data + p->in_pos, peer_unread(p), *seq, UINT64_MAX, wire,
							   plen, &next, &perr);
		if (st == PROTO_OK)
			return;
		if (st == PROTO_MALFORMED)
			fail_at(file, line, "%s: bad framing: %s at byte %zu (expected %llu, got %llu)", p->name, perr.what,
				perr.offset, (unsigned long long)perr.expected, (unsigned long long)perr.actual);
		wait_bytes(h, p, peer_unread(p) + 1, "the rest of a packet", file, line);
	}
}

/* Read the next logical packet's payload into dst (replacing its bytes). */
static void read_packet(struct harness *h, struct harness_peer *p, uint8_t *seq, struct harness_buf *dst,
			const char *file, int line)
{
	size_t wire;
	uint64_t plen;
	wait_packet(h, p, &wire, seq, &plen, file, line);
	dst->len = 0;
	buf_reserve(dst, (size_t)plen + 1);
	proto_frame_gather(p->in.data + p->in_pos, wire, dst->data);
	dst->len = (size_t)plen;
	peer_consume(p, wire);
}

uint8_t *harness_read_packet_at(struct harness *h, struct harness_peer *p, uint8_t *seq, size_t *len,
				const char *file, int line)
{
	read_packet(h, p, seq, &p->packet, file, line);
	uint8_t *copy = malloc(p->packet.len + 1);
	assert_non_null(copy);
	memcpy(copy, p->packet.data, p->packet.len);
	*len = p->packet.len;
	return copy;
}

void harness_expect_packet_at(struct harness *h, struct harness_peer *p, uint8_t seq, const void *payload, size_t n,
			      const char *file, int line)
{
	uint8_t got_seq;
	read_packet(h, p, &got_seq, &p->packet, file, line);
	const struct harness_buf *got = &p->packet;
	if (got_seq != seq || got->len != n)
		fail_at(file, line, "%s: expected a packet of seq %u and %zu bytes, got seq %u and %zu bytes (first 0x%02x)",
			p->name, seq, n, got_seq, got->len, got->len ? got->data[0] : 0);
	compare(p, got->data, payload, n, "packet payload", file, line);
}

void harness_expect_err_at(struct harness *h, struct harness_peer *p, uint8_t seq, uint16_t code, char *msg,
			   size_t msglen, const char *file, int line)
{
	uint8_t got_seq;
	read_packet(h, p, &got_seq, &p->packet, file, line);
	const uint8_t *got = p->packet.data;
	size_t len = p->packet.len;
	struct proto_err e = {0};
	bool is_err = len > 0 && got[0] == 0xFF && proto_parse_err(got, len, &e, NULL) == PROTO_OK;
	if (!is_err)
		fail_at(file, line, "%s: expected ERR %u (seq %u), got a packet of %zu bytes starting 0x%02x (seq %u)",
			p->name, code, seq, len, len ? got[0] : 0, got_seq);
	char text[512];
	snprintf(text, sizeof(text), "%.*s", (int)e.message.len, (const char *)e.message.ptr);
	if (e.code != code || got_seq != seq)
		fail_at(file, line, "%s: expected ERR %u with seq %u, got ERR %u with seq %u: %s", p->name, code, seq,
			e.code, got_seq, text);
	if (msg)
		snprintf(msg, msglen, "%s", text);
}

static bool is_closed(struct harness *h, void *arg) { return ((struct harness_peer *)arg)->eof; }

void harness_expect_close_at(struct harness *h, struct harness_peer *p, const char *file, int line)
{
	if (!harness_run_until(h, is_closed, p, HARNESS_TIMEOUT_MS))
		fail_at(file, line, "%s: the proxy did not close the connection within %d ms (%zu unread bytes)", p->name,
			HARNESS_TIMEOUT_MS, peer_unread(p));
	if (peer_unread(p) > 0)
		fail_at(file, line, "%s: %zu unexpected bytes before the close (first 0x%02x)", p->name, peer_unread(p),
			p->in.data[p->in_pos]);
}

static bool is_accepted(struct harness *h, void *arg) { return h->server.fd >= 0; }

void harness_server_accept_at(struct harness *h, const char *file, int line)
{
	if (!harness_run_until(h, is_accepted, NULL, HARNESS_TIMEOUT_MS))
		fail_at(file, line, "server: the proxy did not connect within %d ms", HARNESS_TIMEOUT_MS);
}

static bool never(struct harness *h, void *arg) { return false; }

void harness_expect_quiet_at(struct harness *h, int ms, const char *file, int line)
{
	size_t c = peer_unread(&h->client), s = peer_unread(&h->server);
	bool ce = h->client.eof, se = h->server.eof;
	harness_run_until(h, never, NULL, ms);
	if (peer_unread(&h->client) != c || h->client.eof != ce)
		fail_at(file, line, "client: expected nothing, got %zu bytes%s", peer_unread(&h->client) - c,
			h->client.eof != ce ? " and a close" : "");
	if (peer_unread(&h->server) != s || h->server.eof != se)
		fail_at(file, line, "server: expected nothing, got %zu bytes%s", peer_unread(&h->server) - s,
			h->server.eof != se ? " and a close" : "");
}

void harness_expect_no_session_at(struct harness *h, const char *file, int line)
{
	if (!harness_run_until(h, no_session, NULL, HARNESS_TIMEOUT_MS))
		fail_at(file, line, "the session was not freed within %d ms (%d alive)", HARNESS_TIMEOUT_MS,
			h->worker->nsessions);
}

/* ------------------------------------------------------------------------
 * Login
 * ------------------------------------------------------------------------ */

/* A fixed nonce: 8 bytes in the greeting's first part, 12 in the second. */
static const uint8_t greeting_scramble[PROTO_SCRAMBLE_LEN] = "ScRaMbLe-0123456789!";

void harness_server_greet(struct harness *h)
{
	uint8_t scramble2[13];
	memcpy(scramble2, greeting_scramble + 8, 12);
	scramble2[12] = 0;
	struct proto_handshake hs = {
		.protocol_version = 10,
		.server_version = slice_of(HARNESS_SERVER_VERSION),
		.connection_id = HARNESS_CONNECTION_ID,
		.capabilities = HARNESS_SERVER_CAPS,
		.has_charset_and_status = true,
		.charset = HARNESS_SERVER_CHARSET,
		.status_flags = SERVER_STATUS_AUTOCOMMIT,
		.auth_data_len = PROTO_SCRAMBLE_LEN + 1,
		.scramble2 = {scramble2, sizeof(scramble2)},
		.auth_plugin = slice_of("mysql_native_password"),
		.auth_plugin_nul = true,
	};
	memcpy(hs.scramble1, greeting_scramble, 8);
	uint8_t p[SMALL_PACKET_MAX];
	struct proto_writer w;
	proto_writer_init(&w, p, sizeof(p));
	assert_true(proto_write_handshake(&w, &hs));
	harness_server_send_packet(h, 0, p, w.len);
	memcpy(h->scramble, greeting_scramble, sizeof(h->scramble));
}

void harness_handshake_response(struct harness *h, uint32_t caps, struct harness_buf *payload)
{
	/* 20 bytes standing for SHA1(password) XOR ...: the proxy never looks. */
	static const uint8_t auth[PROTO_SCRAMBLE_LEN] = "auth-response-bytes!";
	struct proto_handshake_response resp = {
		.capabilities = caps,
		.max_packet = 1u << 30,
		.charset = HARNESS_SERVER_CHARSET,
		.username = slice_of("slurm"),
		.auth_response = {auth, sizeof(auth)},
		.has_database = true,
		.database = slice_of("slurm_acct_db"),
		.has_auth_plugin = true,
		.auth_plugin = slice_of("mysql_native_password"),
	};
	uint8_t p[SMALL_PACKET_MAX];
	struct proto_writer w;
	proto_writer_init(&w, p, sizeof(p));
	assert_true(proto_write_handshake_response(&w, &resp));
	harness_buf_raw(payload, p, w.len);
}

void harness_login_at(struct harness *h, uint32_t caps, const char *file, int line)
{
	harness_start_session(h);
	harness_server_accept_at(h, file, line);
	harness_server_greet(h);

	uint8_t seq;
	read_packet(h, &h->client, &seq, &h->client.packet, file, line);
	struct proto_handshake hs = {0};
	struct proto_error perr = {0};
	bool parsed = proto_parse_handshake(h->client.packet.data, h->client.packet.len, &hs, &perr) == PROTO_OK;
	char version[64] = "";
	uint8_t nonce[PROTO_SCRAMBLE_LEN] = {0};
	if (parsed) {
		snprintf(version, sizeof(version), "%.*s", (int)hs.server_version.len, (const char *)hs.server_version.ptr);
		proto_handshake_scramble(&hs, nonce);
	}
	if (seq != 0 || !parsed)
		fail_at(file, line, "client: greeting unreadable (seq %u): %s at byte %zu", seq,
			parsed ? "-" : perr.what, perr.offset);
	if (strcmp(version, HARNESS_SERVER_VERSION) != 0 || hs.connection_id != HARNESS_CONNECTION_ID ||
	    memcmp(nonce, h->scramble, sizeof(nonce)) != 0)
		fail_at(file, line, "client: greeting not relayed: version '%s', connection id 0x%08x, nonce %s", version,
			hs.connection_id, memcmp(nonce, h->scramble, sizeof(nonce)) ? "changed" : "kept");
	if (hs.capabilities != HARNESS_ADVERTISED_CAPS)
		fail_at(file, line, "client: greeting offers capabilities 0x%08x, expected 0x%08x (differing 0x%08x)",
			hs.capabilities, HARNESS_ADVERTISED_CAPS, hs.capabilities ^ HARNESS_ADVERTISED_CAPS);

	h->caps = caps & hs.capabilities;
	struct harness_buf resp;
	harness_buf_init(&resp, 0);
	harness_handshake_response(h, h->caps, &resp);
	harness_client_send_packet(h, 1, resp.data, resp.len);
	harness_expect_packet_at(h, &h->server, 1, resp.data, resp.len, file, line);
	harness_buf_free(&resp);

	struct harness_buf ok;
	harness_buf_init(&ok, 2);
	harness_buf_ok(&ok, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, ok.data, ok.len);
	harness_expect_bytes_at(h, &h->client, ok.data, ok.len, file, line);
	harness_buf_free(&ok);
}

void harness_ping_at(struct harness *h, const char *file, int line)
{
	static const uint8_t ping[] = {COM_PING};
	harness_client_send_packet(h, 0, ping, sizeof(ping));
	harness_expect_packet_at(h, &h->server, 0, ping, sizeof(ping), file, line);
	struct harness_buf ok;
	harness_buf_init(&ok, 1);
	harness_buf_ok(&ok, h->caps, 0x00, SERVER_STATUS_AUTOCOMMIT, 0, NULL);
	harness_server_send(h, ok.data, ok.len);
	harness_expect_bytes_at(h, &h->client, ok.data, ok.len, file, line);
	harness_buf_free(&ok);
}

void harness_query_at(struct harness *h, const char *sql, const char *file, int line)
{
	struct harness_buf cmd;
	harness_buf_init(&cmd, 0);
	harness_buf_raw(&cmd, "\x03", 1);
	harness_buf_raw(&cmd, sql, strlen(sql));
	harness_send_packet(&h->client, 0, cmd.data, cmd.len);
	harness_expect_packet_at(h, &h->server, 0, cmd.data, cmd.len, file, line);
	harness_buf_free(&cmd);
}
