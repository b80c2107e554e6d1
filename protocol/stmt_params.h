/*
 * stmt_params.h - a prepared statement's execution as the text a statement
 * log can replay: COM_STMT_EXECUTE's binary parameters decoded (MySQL
 * binary protocol value encoding) and written as SQL literals in place of
 * the prepared text's '?' placeholders, as a statement-based binlog logs an
 * executed prepared statement.
 *
 * Pure functions over bytes, bounded by their inputs, no allocation.
 */
#ifndef ACCTGATE_STMT_PARAMS_H
#define ACCTGATE_STMT_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Column types the binary protocol sends parameters as (MYSQL_TYPE_*). */
enum proto_param_type {
	PT_DECIMAL = 0x00, PT_TINY = 0x01, PT_SHORT = 0x02, PT_LONG = 0x03, PT_FLOAT = 0x04, PT_DOUBLE = 0x05,
	PT_NULL = 0x06, PT_TIMESTAMP = 0x07, PT_LONGLONG = 0x08, PT_INT24 = 0x09, PT_DATE = 0x0a, PT_TIME = 0x0b,
	PT_DATETIME = 0x0c, PT_YEAR = 0x0d, PT_VARCHAR = 0x0f, PT_BIT = 0x10, PT_JSON = 0xf5,
	PT_NEWDECIMAL = 0xf6, PT_ENUM = 0xf7, PT_SET = 0xf8, PT_TINY_BLOB = 0xf9, PT_MEDIUM_BLOB = 0xfa,
	PT_LONG_BLOB = 0xfb, PT_BLOB = 0xfc, PT_VAR_STRING = 0xfd, PT_STRING = 0xfe, PT_GEOMETRY = 0xff,
};
#define PT_UNSIGNED_FLAG 0x80 /* in the type's second byte */

/* The most parameters one statement may have (the protocol's u16). */
#define PROTO_PARAMS_MAX 65535

/* COM_STMT_EXECUTE's fixed part; `params` is what follows the iteration
 * count (null bitmap, bound flag, types, values), nparams long. */
struct proto_stmt_execute {
	uint32_t stmt_id;
	uint8_t flags;
	const uint8_t *params;
	size_t params_len;
};

/* The payload after the command byte. */
PROTO_MUST_USE enum proto_status proto_parse_stmt_execute(const uint8_t *p, size_t len,
								  struct proto_stmt_execute *out, struct proto_error *err);

/* The statement id a COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE or
 * COM_STMT_RESET names (payload after the command byte), and for long data
 * the parameter index and its chunk. */
PROTO_MUST_USE enum proto_status proto_parse_stmt_long_data(const uint8_t *p, size_t len, uint32_t *stmt_id,
								    uint16_t *param, struct proto_slice *data,
								    struct proto_error *err);

/*
 * Write the prepared text with each '?' placeholder (outside quotes and
 * comments) replaced by the parameter's value as an SQL literal:
 *   ex          the parsed execute, nparams its statement's parameter count
 *   types       in/out, 2 * nparams bytes: the types an execute with the
 *               new-params-bound flag sent, kept for the ones that follow
 *   *types_known in/out: whether `types` holds them
 *   long_data   for parameter i, long_len[i] > 0 (or long_sent[i]) means
 *               COM_STMT_SEND_LONG_DATA sent its value (long_data[i], not
 *               in the execute packet)
 *   backslash_escapes  whether the session's sql_mode lacks
 *               NO_BACKSLASH_ESCAPES (how quotes inside strings are escaped)
 * The result is NUL-terminated in out (cap bytes); *out_len its length.
 * PROTO_MALFORMED on a packet that does not match nparams and the types,
 * or when out is too small (err->kind PROTO_ERR_TOO_LARGE).
 */
struct proto_long_data {
	bool sent;
	const uint8_t *data;
	size_t len;
};
PROTO_MUST_USE enum proto_status
proto_stmt_execute_to_sql(const char *text, size_t text_len, const struct proto_stmt_execute *ex, uint16_t nparams,
			  uint8_t *types, bool *types_known, const struct proto_long_data *long_data,
			  bool backslash_escapes, char *out, size_t cap, size_t *out_len, struct proto_error *err);

/* How many '?' placeholders the text has (outside quotes and comments). */
size_t proto_sql_count_placeholders(const char *text, size_t len);

#endif
