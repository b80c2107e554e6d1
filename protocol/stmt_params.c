/*
 * stmt_params.c - COM_STMT_EXECUTE's parameters as SQL literals
 * (stmt_params.h).
 *
 * The parameter block of an execute (after stmt id, flags, iterations):
 *
 *   null bitmap        (nparams + 7) / 8 bytes, bit i = parameter i is NULL
 *   new-params-bound   1 byte; 1: the types follow
 *   types              2 bytes per parameter: type, 0x80 = unsigned
 *   values             in parameter order, each in its type's encoding;
 *                      none for NULLs and for parameters whose value came
 *                      through COM_STMT_SEND_LONG_DATA
 *
 * Numbers are written so that the server reads back the same value:
 * integers in decimal, doubles with 17 significant digits, decimals as they
 * were sent (unquoted when they look like a number). Strings are quoted
 * with the session's escaping; binary types get the _binary introducer so
 * the character set conversion a text parameter gets does not happen to
 * them.
 */
#include "stmt_params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto_internal.h"

enum proto_status proto_parse_stmt_execute(const uint8_t *p, size_t len, struct proto_stmt_execute *out,
					   struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	out->stmt_id = proto_read_u32(&r, "execute statement id");
	out->flags = proto_read_u8(&r, "execute flags");
	proto_skip(&r, 4, "execute iteration count");
	struct proto_slice rest = proto_read_rest(&r);
	out->params = rest.ptr;
	out->params_len = rest.len;
	return proto_reader_status(&r, err);
}

enum proto_status proto_parse_stmt_long_data(const uint8_t *p, size_t len, uint32_t *stmt_id, uint16_t *param,
					     struct proto_slice *data, struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, p, len);
	*stmt_id = proto_read_u32(&r, "statement id");
	*param = proto_read_u16(&r, "long data parameter");
	*data = proto_read_rest(&r);
	return proto_reader_status(&r, err);
}

/* The next '?' outside quotes and comments from *pos on; false at the end. */
static bool next_placeholder(const char *t, size_t len, size_t *pos, bool *in_exec_comment)
{
	size_t i = *pos;
	while (i < len) {
		char c = t[i];
		if (c == '\'' || c == '"' || c == '`') {
			/* Quoted: a doubled quote stays inside, as does a
			 * backslash-escaped one (not in backticks). */
			for (i++; i < len; i++) {
				if (t[i] == '\\' && c != '`') {
					i++;
				} else if (t[i] == c) {
					if (i + 1 < len && t[i + 1] == c)
						i++;
					else
						break;
				}
			}
			i++;
		} else if (c == '#' || (c == '-' && i + 2 < len && t[i + 1] == '-' && (t[i + 2] == ' ' || t[i + 2] == '\t' ||
									     t[i + 2] == '\n' || t[i + 2] == '\r'))) {
			while (i < len && t[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < len && t[i + 1] == '*') {
			if (i + 2 < len && (t[i + 2] == '!' || (t[i + 2] == 'M' && i + 3 < len && t[i + 3] == '!'))) {
				/* Executable comment: its content is code. */
				i += t[i + 2] == '!' ? 3 : 4;
				*in_exec_comment = true;
				continue;
			}
			const char *end = NULL;
			for (size_t j = i + 2; j + 1 < len; j++)
				if (t[j] == '*' && t[j + 1] == '/') {
					end = t + j;
					break;
				}
			i = end ? (size_t)(end - t) + 2 : len;
		} else if (c == '*' && *in_exec_comment && i + 1 < len && t[i + 1] == '/') {
			*in_exec_comment = false;
			i += 2;
		} else if (c == '?') {
			*pos = i;
			return true;
		} else {
			i++;
		}
	}
	*pos = len;
	return false;
}

size_t proto_sql_count_placeholders(const char *text, size_t len)
{
	size_t n = 0, pos = 0;
	bool exec = false;
	while (next_placeholder(text, len, &pos, &exec)) {
		n++;
		pos++;
	}
	return n;
}

/* Bounded output: every append checks the room left. */
struct out {
	char *buf;
	size_t cap, len;
	bool full;
};

static void put(struct out *o, const void *p, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[96];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		o->full = true;
		return;
	}
	put(o, tmp, (size_t)n);
}

static void put_quoted(struct out *o, const uint8_t *p, size_t n, bool binary, bool backslash_escapes)
{
	if (binary)
		put(o, "_binary", 7);
	put(o, "'", 1);
	size_t from = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\'' || (backslash_escapes && p[i] == '\\')) {
			put(o, p + from, i - from);
			put(o, p[i] == '\'' ? "''" : "\\\\", 2);
			from = i + 1;
		}
	}
	put(o, p + from, n - from);
	put(o, "'", 1);
}

/* A decimal sent as text: unquoted only if it is one. */
static bool looks_numeric(const uint8_t *p, size_t n)
{
	size_t i = 0, digits = 0;
	bool dot = false;
	if (i < n && (p[i] == '-' || p[i] == '+'))
		i++;
	for (; i < n; i++) {
		if (p[i] >= '0' && p[i] <= '9')
			digits++;
		else if (p[i] == '.' && !dot)
			dot = true;
		else
			return false;
	}
	return digits > 0;
}

static bool is_binary_type(uint8_t type)
{
	return type == PT_TINY_BLOB || type == PT_MEDIUM_BLOB || type == PT_LONG_BLOB || type == PT_BLOB ||
	       type == PT_GEOMETRY || type == PT_BIT;
}

/* One value of `type` from the reader, written as a literal. */
static void put_value(struct out *o, struct proto_reader *r, uint8_t type, bool is_unsigned, bool backslash_escapes)
{
	switch (type) {
	case PT_TINY: {
		uint8_t v = proto_read_u8(r, "tiny parameter");
		is_unsigned ? putf(o, "%u", v) : putf(o, "%d", (int8_t)v);
		return;
	}
	case PT_SHORT:
	case PT_YEAR: {
		uint16_t v = proto_read_u16(r, "short parameter");
		is_unsigned ? putf(o, "%u", v) : putf(o, "%d", (int16_t)v);
		return;
	}
	case PT_LONG:
	case PT_INT24: {
		uint32_t v = proto_read_u32(r, "long parameter");
		is_unsigned ? putf(o, "%u", v) : putf(o, "%d", (int32_t)v);
		return;
	}
	case PT_LONGLONG: {
		uint64_t v = proto_read_u64(r, "longlong parameter");
		is_unsigned ? putf(o, "%llu", (unsigned long long)v) : putf(o, "%lld", (long long)(int64_t)v);
		return;
	}
	case PT_FLOAT:
	case PT_DOUBLE: {
		double d;
		if (type == PT_FLOAT) {
			uint32_t bits = proto_read_u32(r, "float parameter");
			float f;
			memcpy(&f, &bits, sizeof(f));
			d = f;
		} else {
			uint64_t bits = proto_read_u64(r, "double parameter");
			memcpy(&d, &bits, sizeof(d));
		}
		if (!isfinite(d)) {
			proto_reader_fail(r, "a non-finite floating-point parameter has no SQL literal", 0, 0);
			return;
		}
		/* The 'e' keeps it a double when it reads back (1 is an INT, 1e0 a DOUBLE). */
		putf(o, "%.17e", d);
		return;
	}
	case PT_DATE:
	case PT_DATETIME:
	case PT_TIMESTAMP: {
		uint8_t n = proto_read_u8(r, "datetime length");
		if (n != 0 && n != 4 && n != 7 && n != 11) {
			proto_reader_fail(r, "datetime length", 11, n);
			return;
		}
		unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, us = 0;
		if (n >= 4) {
			y = proto_read_u16(r, "year");
			mo = proto_read_u8(r, "month");
			d = proto_read_u8(r, "day");
		}
		if (n >= 7) {
			h = proto_read_u8(r, "hour");
			mi = proto_read_u8(r, "minute");
			s = proto_read_u8(r, "second");
		}
		if (n == 11)
			us = proto_read_u32(r, "microsecond");
		if (type == PT_DATE)
			putf(o, "'%04u-%02u-%02u'", y, mo, d);
		else if (us)
			putf(o, "'%04u-%02u-%02u %02u:%02u:%02u.%06u'", y, mo, d, h, mi, s, us);
		else
			putf(o, "'%04u-%02u-%02u %02u:%02u:%02u'", y, mo, d, h, mi, s);
		return;
	}
	case PT_TIME: {
		uint8_t n = proto_read_u8(r, "time length");
		if (n != 0 && n != 8 && n != 12) {
			proto_reader_fail(r, "time length", 12, n);
			return;
		}
		unsigned neg = 0, days = 0, h = 0, mi = 0, s = 0, us = 0;
		if (n >= 8) {
			neg = proto_read_u8(r, "time sign");
			days = proto_read_u32(r, "days");
			h = proto_read_u8(r, "hour");
			mi = proto_read_u8(r, "minute");
			s = proto_read_u8(r, "second");
		}
		if (n == 12)
			us = proto_read_u32(r, "microsecond");
		putf(o, "'%s%u %02u:%02u:%02u.%06u'", neg ? "-" : "", days, h, mi, s, us);
		return;
	}
	case PT_NULL:
		put(o, "NULL", 4);
		return;
	default: {
		/* Strings, decimals, blobs, JSON, ENUM/SET, BIT, GEOMETRY. */
		struct proto_slice v = proto_read_lenenc_str(r, "string parameter");
		if (r->failed)
			return;
		if ((type == PT_DECIMAL || type == PT_NEWDECIMAL) && looks_numeric(v.ptr, v.len))
			put(o, v.ptr, v.len);
		else
			put_quoted(o, v.ptr, v.len, is_binary_type(type), backslash_escapes);
		return;
	}
	}
}

enum proto_status proto_stmt_execute_to_sql(const char *text, size_t text_len, const struct proto_stmt_execute *ex,
					    uint16_t nparams, uint8_t *types, bool *types_known,
					    const struct proto_long_data *long_data, bool backslash_escapes, char *out,
					    size_t cap, size_t *out_len, struct proto_error *err)
{
	struct proto_reader r;
	proto_reader_init(&r, ex->params, ex->params_len);
	const uint8_t *nulls = NULL;
	if (nparams) {
		struct proto_slice bitmap = proto_read_bytes(&r, ((size_t)nparams + 7) / 8, "null bitmap");
		nulls = bitmap.ptr;
		uint8_t bound = proto_read_u8(&r, "new params bound flag");
		if (bound == 1) {
			struct proto_slice t = proto_read_bytes(&r, (size_t)nparams * 2, "parameter types");
			if (!r.failed) {
				memcpy(types, t.ptr, t.len);
				*types_known = true;
			}
		} else if (!r.failed && !*types_known) {
			proto_reader_fail(&r, "parameter types never bound", 1, bound);
		}
	}
	if (proto_reader_status(&r, err) != PROTO_OK)
		return PROTO_MALFORMED;
	struct out o = {.buf = out, .cap = cap};
	size_t pos = 0, from = 0;
	bool exec = false;
	uint16_t i = 0;
	while (next_placeholder(text, text_len, &pos, &exec)) {
		if (i >= nparams) {
			proto_reader_fail(&r, "more placeholders than parameters", nparams, (uint64_t)i + 1);
			break;
		}
		put(&o, text + from, pos - from);
		uint8_t type = types[2 * i];
		bool is_unsigned = (types[2 * i + 1] & PT_UNSIGNED_FLAG) != 0;
		/* Long data first: the server takes it whatever the null bit says
		 * (clients leave the bit set when the bound buffer is NULL). */
		if (long_data && long_data[i].sent) {
			put_quoted(&o, long_data[i].data, long_data[i].len, is_binary_type(type), backslash_escapes);
		} else if (nulls[i / 8] & (1u << (i % 8))) {
			put(&o, "NULL", 4);
		} else {
			put_value(&o, &r, type, is_unsigned, backslash_escapes);
		}
		if (r.failed)
			break;
		i++;
		pos++;
		from = pos;
	}
	if (!r.failed && i != nparams)
		proto_reader_fail(&r, "placeholders in the prepared text", nparams, i);
	if (proto_reader_status(&r, err) != PROTO_OK)
		return PROTO_MALFORMED;
	put(&o, text + from, text_len - from);
	if (o.full || o.len >= cap) {
		if (err)
			*err = (struct proto_error){.what = "statement text with parameters", .expected = cap,
						    .actual = o.len, .kind = PROTO_ERR_TOO_LARGE};
		return PROTO_MALFORMED;
	}
	out[o.len] = '\0';
	*out_len = o.len;
	return PROTO_OK;
}
