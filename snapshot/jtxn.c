/*
 * jtxn.c - the transaction payload of journal records (layout in jtxn.h),
 * written with the protocol codec's bounded writer and read with its
 * bounded reader, so a malformed payload is an error, never a wild read.
 */
#include "jtxn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define JTXN_VERSION 1
/* Per statement, without its text: flags, unsafe, 5 x u64, u16, lenenc. */
#define STMT_FIXED (4 + 4 + 5 * 8 + 2 + 9)

const char *jrec_type_name(uint8_t type)
{
	switch (type) {
	case JREC_PREPARE: return "PREPARE";
	case JREC_COMMIT: return "COMMIT";
	case JREC_ABORT: return "ABORT";
	case JREC_CUT: return "CUT";
	default: return "unknown";
	}
}

/* The context's strings in their order on disk. */
static void context_strings(const struct jtxn_context *c, const char *out[8])
{
	out[0] = c->database;
	out[1] = c->user;
	out[2] = c->sql_mode;
	out[3] = c->time_zone;
	out[4] = c->character_set_client;
	out[5] = c->collation_connection;
	out[6] = c->collation_server;
	out[7] = c->lc_time_names;
}

size_t jstmt_context_set(const struct jstmt *st, bool *ts_fixed, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	if (st->timestamp_usec)
		n += (size_t)snprintf(out + n, cap - n, "SET timestamp=%llu.%06llu",
				      (unsigned long long)(st->timestamp_usec / 1000000u),
				      (unsigned long long)(st->timestamp_usec % 1000000u));
	else if (*ts_fixed)
		n += (size_t)snprintf(out + n, cap - n, "SET timestamp=DEFAULT");
	*ts_fixed = st->timestamp_usec != 0;
	if (st->flags & JSTMT_GENERATED_ID)
		n += (size_t)snprintf(out + n, cap - n, "%sinsert_id=%llu", n ? ", " : "SET ",
				      (unsigned long long)st->insert_id);
	if (st->flags & JSTMT_READS_LAST_INSERT_ID)
		n += (size_t)snprintf(out + n, cap - n, "%slast_insert_id=%llu", n ? ", " : "SET ",
				      (unsigned long long)st->last_insert_id_before);
	return n < cap ? n : cap - 1;
}

bool jtxn_encode(const struct jtxn *t, uint8_t **out, size_t *out_len)
{
	const char *strs[8];
	context_strings(&t->ctx, strs);
	size_t cap = 1 + 5 * 8 + 4 + 1 + 2 + 8 + 9;
	for (int i = 0; i < 8; i++)
		cap += 9 + strlen(strs[i]);
	for (size_t i = 0; i < t->nstmts; i++)
		cap += STMT_FIXED + t->stmts[i].len;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return false;
	struct proto_writer w;
	proto_writer_init(&w, buf, cap);
	proto_write_u8(&w, JTXN_VERSION);
	proto_write_u64(&w, t->run_id);
	proto_write_u64(&w, t->session_id);
	proto_write_u64(&w, t->txn_id);
	proto_write_u64(&w, t->prepare_seq);
	proto_write_u32(&w, t->flags);
	proto_write_u64(&w, t->clock);
	proto_write_u8(&w, t->ctx.known);
	for (int i = 0; i < 8; i++)
		proto_write_lenenc_str(&w, strs[i], strlen(strs[i]));
	proto_write_u8(&w, t->ctx.foreign_key_checks);
	proto_write_u8(&w, t->ctx.unique_checks);
	proto_write_u32(&w, t->ctx.auto_increment_increment);
	proto_write_u32(&w, t->ctx.auto_increment_offset);
	proto_write_lenenc(&w, t->nstmts);
	for (size_t i = 0; i < t->nstmts; i++) {
		const struct jstmt *st = &t->stmts[i];
		proto_write_u32(&w, st->flags);
		proto_write_u32(&w, st->unsafe);
		proto_write_u64(&w, st->timestamp_usec);
		proto_write_u64(&w, st->last_insert_id_before);
		proto_write_u64(&w, st->affected_rows);
		proto_write_u64(&w, st->insert_id);
		proto_write_u16(&w, st->warnings);
		proto_write_lenenc_str(&w, st->text, st->len);
	}
	if (w.overflow) { /* the size above is computed from the same fields */
		free(buf);
		return false;
	}
	*out = buf;
	*out_len = w.len;
	return true;
}

static void read_string(struct proto_reader *r, char *dst, size_t cap, const char *what)
{
	struct proto_slice sl = proto_read_lenenc_str(r, what);
	size_t n = sl.len < cap - 1 ? sl.len : cap - 1;
	if (n)
		memcpy(dst, sl.ptr, n);
	dst[n] = '\0';
}

bool jtxn_decode(const uint8_t *p, size_t len, struct jtxn *t, char *why, size_t why_len)
{
	memset(t, 0, sizeof(*t));
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	uint8_t version = proto_read_u8(&r, "version");
	if (!r.failed && version != JTXN_VERSION) {
		snprintf(why, why_len, "transaction payload version %u, expected %u", version, JTXN_VERSION);
		return false;
	}
	t->run_id = proto_read_u64(&r, "run id");
	t->session_id = proto_read_u64(&r, "session id");
	t->txn_id = proto_read_u64(&r, "transaction id");
	t->prepare_seq = proto_read_u64(&r, "prepare sequence");
	t->flags = proto_read_u32(&r, "transaction flags");
	t->clock = proto_read_u64(&r, "commit clock");
	t->ctx.known = proto_read_u8(&r, "context known") != 0;
	struct jtxn_context *c = &t->ctx;
	read_string(&r, c->database, sizeof(c->database), "database");
	read_string(&r, c->user, sizeof(c->user), "user");
	read_string(&r, c->sql_mode, sizeof(c->sql_mode), "sql_mode");
	read_string(&r, c->time_zone, sizeof(c->time_zone), "time_zone");
	read_string(&r, c->character_set_client, sizeof(c->character_set_client), "character_set_client");
	read_string(&r, c->collation_connection, sizeof(c->collation_connection), "collation_connection");
	read_string(&r, c->collation_server, sizeof(c->collation_server), "collation_server");
	read_string(&r, c->lc_time_names, sizeof(c->lc_time_names), "lc_time_names");
	c->foreign_key_checks = proto_read_u8(&r, "foreign_key_checks");
	c->unique_checks = proto_read_u8(&r, "unique_checks");
	c->auto_increment_increment = proto_read_u32(&r, "auto_increment_increment");
	c->auto_increment_offset = proto_read_u32(&r, "auto_increment_offset");
	uint64_t n = proto_read_lenenc(&r, NULL, "statement count");
	struct proto_error err;
	if (proto_reader_status(&r, &err) != PROTO_OK)
		goto malformed;
	/* Each statement takes at least its fixed fields: a count the rest
	 * cannot hold is malformed before anything is allocated for it. */
	if (n > proto_reader_remaining(&r) / (STMT_FIXED - 8)) {
		snprintf(why, why_len, "transaction payload: %llu statements cannot fit in %zu bytes",
			 (unsigned long long)n, proto_reader_remaining(&r));
		return false;
	}
	if (n) {
		t->stmts = calloc((size_t)n, sizeof(*t->stmts));
		if (!t->stmts) {
			snprintf(why, why_len, "out of memory");
			return false;
		}
	}
	t->nstmts = (size_t)n;
	for (size_t i = 0; i < t->nstmts; i++) {
		struct jstmt *st = &t->stmts[i];
		st->flags = proto_read_u32(&r, "statement flags");
		st->unsafe = proto_read_u32(&r, "statement unsafe");
		st->timestamp_usec = proto_read_u64(&r, "statement timestamp");
		st->last_insert_id_before = proto_read_u64(&r, "statement last insert id");
		st->affected_rows = proto_read_u64(&r, "statement affected rows");
		st->insert_id = proto_read_u64(&r, "statement insert id");
		st->warnings = proto_read_u16(&r, "statement warnings");
		struct proto_slice text = proto_read_lenenc_str(&r, "statement text");
		st->text = (const char *)text.ptr;
		st->len = text.len;
	}
	if (proto_reader_status(&r, &err) != PROTO_OK)
		goto malformed;
	if (proto_reader_remaining(&r) != 0) {
		snprintf(why, why_len, "transaction payload: %zu bytes after the last statement",
			 proto_reader_remaining(&r));
		jtxn_free_decoded(t);
		return false;
	}
	return true;
malformed:
	snprintf(why, why_len, "transaction payload: %s at byte %zu", err.what ? err.what : "?", err.offset);
	jtxn_free_decoded(t);
	return false;
}

void jtxn_free_decoded(struct jtxn *t)
{
	free(t->stmts);
	t->stmts = NULL;
	t->nstmts = 0;
}
