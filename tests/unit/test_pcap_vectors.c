/*
 * test_pcap_vectors.c - the codec over a whole real session: every TCP
 * connection of a capture of slurmdbd talking to MariaDB 10.11 is
 * reassembled, and every packet goes through the codec the way the proxy
 * uses it: the greeting and login parse and write back byte for byte, every
 * command parses and writes back byte for byte, every server packet feeds the
 * response tracker (never MALFORMED, every command ends DONE), and the OK,
 * ERR, EOF, column definitions and text rows met on the way are checked by
 * their own parsers.
 *
 * Usage: test_pcap_vectors [capture.pcap] [--dump DIR]
 * The capture defaults to $ACCTGATE_PCAP. Without one nothing is checked,
 * and that must not read as a pass: the program exits 77, which ctest
 * reports as skipped (SKIP_RETURN_CODE) and scripts/test.sh as a failure.
 * --dump DIR also writes seed inputs for the fuzz targets (DIR/<target>/).
 */
#include <errno.h>
#include <sys/stat.h>

#include "pcap_session.h"
#include "test_util.h"

#define TRACKER_PEEK (64u << 10)
#define SEED_PREFIX 4096u
#define SEEDS_PER_KIND 300u
#define EXIT_SKIPPED 77

static const char *pcap_path;
static const char *dump_dir;

struct counts {
	size_t connections, commands, server_packets, client_packets;
	size_t oks, errs, eofs, columns, rows, results, local_infile;
	size_t by_code[256];
	size_t seeds[6];
};
static struct counts counts;

/* ---- fuzz seeds ---------------------------------------------------------- */

enum seed_kind { SEED_FRAME, SEED_HANDSHAKE, SEED_RESPONSE, SEED_COMMAND, SEED_TRACKER, SEED_SQL };
static const char *const seed_dirs[] = {"fuzz_frame",	"fuzz_handshake", "fuzz_response",
					"fuzz_command", "fuzz_tracker",	  "fuzz_sqltext"};

static void dump_seed(enum seed_kind kind, const uint8_t *head, size_t head_len, const uint8_t *p, size_t len)
{
	if (!dump_dir || counts.seeds[kind] >= SEEDS_PER_KIND)
		return;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dump_dir, seed_dirs[kind]);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		fail_msg("cannot create %s", path);
	snprintf(path, sizeof(path), "%s/%s/pcap-%04zu", dump_dir, seed_dirs[kind], counts.seeds[kind]++);
	FILE *f = fopen(path, "wb");
	if (!f)
		fail_msg("cannot write %s", path);
	fwrite(head, 1, head_len, f);
	fwrite(p, 1, len, f);
	fclose(f);
}

static void put_u32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* A tracker seed: command code, caps, MariaDB extended caps, then (u24
 * length, up to 4 KiB of the payload) per server packet, as fuzz_tracker
 * reads it. */
struct tracker_seed {
	uint8_t buf[64 << 10];
	size_t len;
};

static void tracker_seed_start(struct tracker_seed *s, uint8_t code, const struct proto_tracker *t)
{
	s->buf[0] = code;
	put_u32(s->buf + 1, t->caps);
	put_u32(s->buf + 5, t->mariadb_ext_caps);
	s->len = 9;
}

static void tracker_seed_add(struct tracker_seed *s, const uint8_t *p, size_t len)
{
	size_t take = len < SEED_PREFIX ? len : SEED_PREFIX;
	if (sizeof(s->buf) - s->len < 3 + take)
		return;
	s->buf[s->len++] = (uint8_t)len;
	s->buf[s->len++] = (uint8_t)(len >> 8);
	s->buf[s->len++] = (uint8_t)(len >> 16);
	memcpy(s->buf + s->len, p, take);
	s->len += take;
}

/* ---- reading logical packets from a reassembled stream ------------------- */

struct cursor {
	const uint8_t *data;
	size_t len, pos;
	const char *name;
};

struct packet {
	uint8_t *payload; /* gathered copy, exactly len bytes */
	size_t len;
};

/* The next logical packet, which must carry sequence id *seq (advanced
 * past it). False when the stream has ended (cleanly, between packets). */
static bool next_packet(struct cursor *c, uint8_t *seq, struct packet *out)
{
	if (c->pos == c->len)
		return false;
	size_t wire;
	uint64_t plen;
	uint8_t next;
	struct proto_error err = {0};
	enum proto_status st =
		proto_frame_logical(c->data + c->pos, c->len - c->pos, *seq, 1u << 30, &wire, &plen, &next, &err);
	if (st == PROTO_NEED_MORE)
		fail_msg("%s: packet cut short at byte %zu", c->name, c->pos);
	if (st != PROTO_OK)
		fail_msg("%s: %s at byte %zu: expected %llu, got %llu", c->name, err.what, c->pos + err.offset,
			 (unsigned long long)err.expected, (unsigned long long)err.actual);
	out->len = (size_t)plen;
	out->payload = malloc(out->len ? out->len : 1);
	assert_non_null(out->payload);
	proto_frame_gather(c->data + c->pos, wire, out->payload);
	c->pos += wire;
	*seq = next;
	return true;
}

/* The sequence id of the next packet, or -1 at the end of the stream. */
static int peek_seq(const struct cursor *c)
{
	struct proto_frame_header h;
	if (proto_frame_peek(c->data + c->pos, c->len - c->pos, &h) != PROTO_OK)
		return -1;
	return h.seq;
}

/* ---- per-packet checks ------------------------------------------------------ */

static void check_ok(const struct packet *p, uint32_t caps)
{
	struct proto_ok ok;
	struct proto_error err = {0};
	if (proto_parse_ok(p->payload, p->len, caps, &ok, &err) != PROTO_OK)
		fail_msg("OK packet: %s at %zu", err.what, err.offset);
	uint8_t out[1024];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_ok(&w, caps, &ok));
	assert_int_equal(w.len, p->len);
	assert_memory_equal(out, p->payload, p->len);
	counts.oks++;
}

static void check_err(const struct packet *p)
{
	struct proto_err e;
	assert_int_equal(proto_parse_err(p->payload, p->len, &e, NULL), PROTO_OK);
	uint8_t out[1024];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_err(&w, &e));
	assert_int_equal(w.len, p->len);
	assert_memory_equal(out, p->payload, p->len);
	printf("    ERR %u #%s %.*s\n", e.code, e.sql_state, (int)e.message.len, (const char *)e.message.ptr);
	counts.errs++;
}

static void check_eof(const struct packet *p)
{
	struct proto_eof eof;
	assert_int_equal(proto_parse_eof(p->payload, p->len, &eof, NULL), PROTO_OK);
	uint8_t out[8];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_eof(&w, &eof));
	assert_memory_equal(out, p->payload, p->len);
	counts.eofs++;
}

/* With MariaDB's extended metadata the definition holds a lenenc block
 * after org_name, which proto_parse_column_def does not take: check the
 * block's bounds here, and the rest with the codec's parser. */
static void check_column(const struct packet *p, bool ext_metadata)
{
	uint8_t plain[4096];
	const uint8_t *q = p->payload;
	size_t len = p->len;
	if (ext_metadata) {
		struct proto_reader r;
		proto_reader_init(&r, p->payload, p->len);
		for (int i = 0; i < 6; i++)
			(void)proto_read_lenenc_str(&r, "column string");
		size_t names_end = r.pos;
		(void)proto_read_lenenc_str(&r, "extended metadata");
		assert_int_equal(proto_reader_status(&r, NULL), PROTO_OK);
		assert_true(p->len - (r.pos - names_end) <= sizeof(plain));
		memcpy(plain, p->payload, names_end);
		memcpy(plain + names_end, p->payload + r.pos, p->len - r.pos);
		q = plain;
		len = p->len - (r.pos - names_end);
	}
	struct proto_column_def col;
	struct proto_error err = {0};
	if (proto_parse_column_def(q, len, &col, &err) != PROTO_OK)
		fail_msg("column definition: %s at %zu (expected %llu, got %llu)", err.what, err.offset,
			 (unsigned long long)err.expected, (unsigned long long)err.actual);
	uint8_t out[4096];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_column_def(&w, &col));
	assert_int_equal(w.len, len);
	assert_memory_equal(out, q, len);
	counts.columns++;
}

static void check_text_row(const struct packet *p, uint64_t ncols)
{
	struct proto_error err = {0};
	if (proto_parse_text_row(p->payload, p->len, ncols, NULL, NULL, &err) != PROTO_OK)
		fail_msg("text row of %llu columns: %s at %zu", (unsigned long long)ncols, err.what, err.offset);
	counts.rows++;
}

/* Feed one server packet to the tracker as the proxy does (at most 64 KiB
 * of it), then check the packet with the parser for what it was. */
static enum proto_tracker_event feed(struct proto_tracker *t, const struct packet *p, bool ext_metadata,
				     uint64_t *ncols, struct tracker_seed *seed)
{
	enum proto_tracker_state before = t->state;
	size_t avail = p->len < TRACKER_PEEK ? p->len : TRACKER_PEEK;
	struct proto_error err = {0};
	enum proto_tracker_event ev = proto_tracker_feed(t, p->payload, avail, p->len, &err);
	if (ev == TRK_EV_MALFORMED)
		fail_msg("%s: tracker in %s: %s at %zu (expected %llu, got %llu)", proto_command_name(t->command),
			 proto_tracker_state_name(before), err.what, err.offset, (unsigned long long)err.expected,
			 (unsigned long long)err.actual);
	counts.server_packets++;
	tracker_seed_add(seed, p->payload, p->len);
	uint8_t head[5];
	put_u32(head, t->caps);
	head[4] = (uint8_t)*ncols;
	dump_seed(SEED_RESPONSE, head, sizeof(head), p->payload, p->len < SEED_PREFIX ? p->len : SEED_PREFIX);

	uint8_t first = p->len ? p->payload[0] : 0;
	if (before == TRK_SINGLE)
		return ev;
	if (first == 0xFF && !(p->len >= 3 && p->payload[1] == 0xFF && p->payload[2] == 0xFF)) {
		check_err(p);
		return ev;
	}
	switch (before) {
	case TRK_FIRST:
	case TRK_AUTH:
		if (first == 0x00 && t->command != COM_STMT_PREPARE)
			check_ok(p, t->caps);
		else if (first == 0xFE && !(t->caps & CLIENT_DEPRECATE_EOF) && before == TRK_FIRST)
			check_eof(p);
		if (t->state == TRK_COLUMNS) {
			*ncols = t->columns_left;
			counts.results++;
		}
		if (ev == TRK_EV_CLIENT_TURN && before == TRK_FIRST)
			counts.local_infile++;
		break;
	case TRK_COLUMNS:
	case TRK_PREPARE_PARAMS:
	case TRK_PREPARE_COLUMNS:
		check_column(p, ext_metadata);
		break;
	case TRK_COLUMNS_EOF:
	case TRK_PREPARE_PARAMS_EOF:
	case TRK_PREPARE_COLUMNS_EOF:
		check_eof(p);
		break;
	case TRK_ROWS:
		if (first == 0xFE && p->len < PROTO_MAX_CHUNK) {
			if (t->caps & CLIENT_DEPRECATE_EOF)
				check_ok(p, t->caps);
			else
				check_eof(p);
		} else if (!t->binary_rows) {
			check_text_row(p, *ncols);
		}
		break;
	default:
		break;
	}
	return ev;
}

/* ---- one connection --------------------------------------------------------- */

static void drive_connection(const struct pcap_conn *conn, size_t index)
{
	struct cursor cli = {conn->to_server.data, conn->to_server.len, 0, "client"};
	struct cursor srv = {conn->to_client.data, conn->to_client.len, 0, "server"};
	assert_false(conn->to_server.gap);
	assert_false(conn->to_client.gap);
	dump_seed(SEED_FRAME, NULL, 0, cli.data, cli.len < SEED_PREFIX ? cli.len : SEED_PREFIX);
	dump_seed(SEED_FRAME, NULL, 0, srv.data, srv.len < SEED_PREFIX ? srv.len : SEED_PREFIX);
	counts.connections++;

	/* Greeting: parse, then write back byte for byte. */
	uint8_t seq = 0;
	struct packet p;
	assert_true(next_packet(&srv, &seq, &p));
	struct proto_handshake hs;
	struct proto_error err = {0};
	if (proto_parse_handshake(p.payload, p.len, &hs, &err) != PROTO_OK)
		fail_msg("greeting: %s at %zu", err.what, err.offset);
	uint8_t out[4096];
	struct proto_writer w;
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_handshake(&w, &hs));
	assert_int_equal(w.len, p.len);
	assert_memory_equal(out, p.payload, p.len);
	dump_seed(SEED_HANDSHAKE, NULL, 0, p.payload, p.len);
	printf("  connection %zu: port %u, server %.*s, connection id %u\n", index, conn->client_port,
	       (int)hs.server_version.len, (const char *)hs.server_version.ptr, hs.connection_id);
	free(p.payload);

	/* Login. */
	assert_true(next_packet(&cli, &seq, &p));
	assert_false(proto_is_ssl_request(p.payload, p.len));
	struct proto_handshake_response resp;
	if (proto_parse_handshake_response(p.payload, p.len, &resp, &err) != PROTO_OK)
		fail_msg("login: %s at %zu", err.what, err.offset);
	proto_writer_init(&w, out, sizeof(out));
	assert_true(proto_write_handshake_response(&w, &resp));
	assert_int_equal(w.len, p.len);
	assert_memory_equal(out, p.payload, p.len);
	dump_seed(SEED_HANDSHAKE, NULL, 0, p.payload, p.len);
	uint32_t caps = resp.capabilities;
	bool mariadb = !(hs.capabilities & CLIENT_MYSQL);
	uint32_t ext_caps = mariadb ? resp.mariadb_ext_caps & hs.mariadb_ext_caps : 0;
	bool ext_metadata = (ext_caps & MARIADB_CAP_EXTENDED_METADATA) != 0;
	free(p.payload);
	counts.client_packets += 2;
	counts.server_packets++;

	/* Authentication: the server's packets until OK or ERR; the client
	 * answers an AuthSwitch or AuthMoreData when the next packet is its. */
	struct proto_tracker t;
	memset(&t, 0, sizeof(t));
	proto_tracker_begin_auth(&t, caps);
	t.mariadb_ext_caps = ext_caps;
	uint64_t ncols = 0;
	struct tracker_seed *seed = malloc(sizeof(*seed));
	assert_non_null(seed);
	tracker_seed_start(seed, COM_CHANGE_USER, &t);
	for (;;) {
		assert_true(next_packet(&srv, &seq, &p));
		enum proto_tracker_event ev = feed(&t, &p, ext_metadata, &ncols, seed);
		free(p.payload);
		if (ev == TRK_EV_DONE)
			break;
		if (peek_seq(&srv) != seq) {
			assert_true(next_packet(&cli, &seq, &p));
			free(p.payload);
			counts.client_packets++;
			proto_tracker_client_done(&t);
		}
	}
	dump_seed(SEED_TRACKER, NULL, 0, seed->buf, seed->len);
	if (t.last.kind == END_ERR) {
		printf("    login refused (%u)\n", t.last.err_code);
		free(seed);
		assert_int_equal(srv.pos, srv.len);
		return;
	}

	/* Commands. */
	for (;;) {
		seq = 0;
		if (!next_packet(&cli, &seq, &p))
			break;
		struct proto_command cmd;
		if (proto_parse_command(p.payload, p.len, caps, &cmd, &err) != PROTO_OK)
			fail_msg("command 0x%02x: %s at %zu", p.len ? p.payload[0] : 0, err.what, err.offset);
		uint8_t *cmd_out = malloc(p.len + 16);
		assert_non_null(cmd_out);
		proto_writer_init(&w, cmd_out, p.len + 16);
		assert_true(proto_write_command(&w, caps, &cmd));
		assert_int_equal(w.len, p.len);
		assert_memory_equal(cmd_out, p.payload, p.len);
		free(cmd_out);
		uint8_t head[4];
		put_u32(head, caps);
		dump_seed(SEED_COMMAND, head, sizeof(head), p.payload, p.len < SEED_PREFIX ? p.len : SEED_PREFIX);
		/* slurmdbd's SQL, whole: the lexer's seeds. */
		if (cmd.code == COM_QUERY)
			dump_seed(SEED_SQL, NULL, 0, cmd.u.query.sql.ptr, cmd.u.query.sql.len);
		counts.commands++;
		counts.client_packets++;
		counts.by_code[cmd.code]++;
		free(p.payload);

		if (!proto_tracker_begin(&t, cmd.code, caps)) {
			if (cmd.code == COM_QUIT)
				assert_int_equal(cli.pos, cli.len);
			continue;
		}
		tracker_seed_start(seed, cmd.code, &t);
		ncols = 0;
		for (;;) {
			assert_true(next_packet(&srv, &seq, &p));
			enum proto_tracker_event ev = feed(&t, &p, ext_metadata, &ncols, seed);
			free(p.payload);
			if (ev == TRK_EV_DONE)
				break;
			if (ev == TRK_EV_CLIENT_TURN) {
				/* LOAD DATA LOCAL: file data, then an empty packet. */
				do {
					assert_true(next_packet(&cli, &seq, &p));
					free(p.payload);
					counts.client_packets++;
				} while (p.len != 0);
				proto_tracker_client_done(&t);
			}
		}
		assert_int_equal(t.state, TRK_IDLE);
		dump_seed(SEED_TRACKER, NULL, 0, seed->buf, seed->len);
	}
	free(seed);
	/* Every byte both ways was a packet the codec accounted for. */
	assert_int_equal(cli.pos, cli.len);
	assert_int_equal(srv.pos, srv.len);
}

static void test_real_session(void **state)
{
	struct pcap_capture cap;
	if (!pcap_load(pcap_path, &cap)) {
		pcap_free(&cap);
		fail_msg("%s", cap.error);
	}
	printf("%s: link type %u, %zu frames, %zu TCP segments, %zu connections\n", pcap_path, cap.linktype,
	       cap.frames, cap.tcp_segments, cap.nconns);
	assert_int_equal(cap.untracked, 0);
	assert_true(cap.nconns > 0);
	for (size_t i = 0; i < cap.nconns; i++)
		drive_connection(&cap.conns[i], i);
	pcap_free(&cap);

	printf("checked %zu connections: %zu commands (%zu COM_QUERY, %zu COM_PING, %zu COM_QUIT), "
	       "%zu client packets, %zu server packets\n",
	       counts.connections, counts.commands, counts.by_code[COM_QUERY], counts.by_code[COM_PING],
	       counts.by_code[COM_QUIT], counts.client_packets, counts.server_packets);
	printf("  %zu result sets, %zu column definitions, %zu text rows, %zu OK, %zu ERR, %zu EOF, "
	       "%zu LOCAL INFILE\n",
	       counts.results, counts.columns, counts.rows, counts.oks, counts.errs, counts.eofs, counts.local_infile);
	assert_true(counts.commands > 0);
}

int main(int argc, char **argv)
{
	pcap_path = getenv("ACCTGATE_PCAP");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
			dump_dir = argv[++i];
			if (mkdir(dump_dir, 0755) != 0 && errno != EEXIST) {
				fprintf(stderr, "cannot create %s\n", dump_dir);
				return 2;
			}
		} else {
			pcap_path = argv[i];
		}
	}
	if (!pcap_path || !*pcap_path) {
		printf("SKIP: no capture given (argument or $ACCTGATE_PCAP)\n");
		return EXIT_SKIPPED;
	}
	FILE *probe = fopen(pcap_path, "rb");
	if (!probe) {
		printf("SKIP: cannot open the capture %s: %s\n", pcap_path, strerror(errno));
		return EXIT_SKIPPED;
	}
	fclose(probe);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_session),
	};
	return cmocka_run_group_tests_name("pcap_vectors", tests, NULL, NULL);
}
