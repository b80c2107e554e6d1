/*
 * proto_types.h - types of the MySQL/MariaDB client/server protocol codec.
 *
 * The codec is pure: it reads and writes bytes in caller-owned memory and
 * includes neither libevent nor OpenSSL, so it can be unit-tested and fuzzed
 * alone. Every parse goes through the bounded reader (struct proto_reader);
 * no other code does pointer arithmetic on packet bytes.
 *
 * Wire framing (every packet, both directions):
 *
 *   +-------------------+--------+---------------------------+
 *   | payload_len (u24) | seq u8 | payload (payload_len)     |
 *   +-------------------+--------+---------------------------+
 *
 * A payload of exactly 0xFFFFFF bytes is continued by the next packet (seq+1);
 * the logical packet ends with the first chunk shorter than 0xFFFFFF (which may
 * be empty). Integers are little-endian.
 */
#ifndef ACCTGATE_PROTO_TYPES_H
#define ACCTGATE_PROTO_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_HEADER_LEN 4u
#define PROTO_MAX_CHUNK 0xFFFFFFu

/* Capability flags (lower 32 bits, as negotiated in the handshake). */
#define CLIENT_MYSQL (1u << 0) /* MariaDB: cleared by a MariaDB server => extended caps follow */
#define CLIENT_LONG_PASSWORD CLIENT_MYSQL
#define CLIENT_FOUND_ROWS (1u << 1)
#define CLIENT_LONG_FLAG (1u << 2)
#define CLIENT_CONNECT_WITH_DB (1u << 3)
#define CLIENT_NO_SCHEMA (1u << 4)
#define CLIENT_COMPRESS (1u << 5)
#define CLIENT_ODBC (1u << 6)
#define CLIENT_LOCAL_FILES (1u << 7)
#define CLIENT_IGNORE_SPACE (1u << 8)
#define CLIENT_PROTOCOL_41 (1u << 9)
#define CLIENT_INTERACTIVE (1u << 10)
#define CLIENT_SSL (1u << 11)
#define CLIENT_IGNORE_SIGPIPE (1u << 12)
#define CLIENT_TRANSACTIONS (1u << 13)
#define CLIENT_RESERVED (1u << 14)
#define CLIENT_SECURE_CONNECTION (1u << 15)
#define CLIENT_MULTI_STATEMENTS (1u << 16)
#define CLIENT_MULTI_RESULTS (1u << 17)
#define CLIENT_PS_MULTI_RESULTS (1u << 18)
#define CLIENT_PLUGIN_AUTH (1u << 19)
#define CLIENT_CONNECT_ATTRS (1u << 20)
#define CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA (1u << 21)
#define CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS (1u << 22)
#define CLIENT_SESSION_TRACK (1u << 23)
#define CLIENT_DEPRECATE_EOF (1u << 24)
#define CLIENT_OPTIONAL_RESULTSET_METADATA (1u << 25)
#define CLIENT_ZSTD_COMPRESSION (1u << 26)
#define CLIENT_QUERY_ATTRIBUTES (1u << 27)
#define CLIENT_SSL_VERIFY_SERVER_CERT (1u << 30)
#define CLIENT_REMEMBER_OPTIONS (1u << 31)

/* MariaDB extended capabilities: bits 32..63 of MariaDB's capability flags,
 * carried as the u32 in the handshake's last 4 reserved bytes (meaningful
 * only when CLIENT_MYSQL is clear) and in HandshakeResponse41 bytes 28..31. */
#define MARIADB_CAP_PROGRESS (1u << 0)            /* ERR 0xFFFF progress reports */
#define MARIADB_CAP_COM_MULTI (1u << 1)
#define MARIADB_CAP_STMT_BULK_OPERATIONS (1u << 2)
#define MARIADB_CAP_EXTENDED_METADATA (1u << 3)   /* column definitions gain a type-info block */
#define MARIADB_CAP_CACHE_METADATA (1u << 4)      /* column counts gain a "metadata follows" byte */

/* Server status flags (OK and EOF packets). */
#define SERVER_STATUS_IN_TRANS 0x0001u
#define SERVER_STATUS_AUTOCOMMIT 0x0002u
#define SERVER_MORE_RESULTS_EXISTS 0x0008u
#define SERVER_QUERY_NO_GOOD_INDEX_USED 0x0010u
#define SERVER_QUERY_NO_INDEX_USED 0x0020u
#define SERVER_STATUS_CURSOR_EXISTS 0x0040u
#define SERVER_STATUS_LAST_ROW_SENT 0x0080u
#define SERVER_STATUS_DB_DROPPED 0x0100u
#define SERVER_STATUS_NO_BACKSLASH_ESCAPES 0x0200u
#define SERVER_STATUS_METADATA_CHANGED 0x0400u
#define SERVER_QUERY_WAS_SLOW 0x0800u
#define SERVER_PS_OUT_PARAMS 0x1000u
#define SERVER_STATUS_IN_TRANS_READONLY 0x2000u
#define SERVER_SESSION_STATE_CHANGED 0x4000u

/* Command bytes (first payload byte of a client command). */
enum proto_command_code {
	COM_SLEEP = 0x00,
	COM_QUIT = 0x01,
	COM_INIT_DB = 0x02,
	COM_QUERY = 0x03,
	COM_FIELD_LIST = 0x04,
	COM_CREATE_DB = 0x05,
	COM_DROP_DB = 0x06,
	COM_REFRESH = 0x07,
	COM_SHUTDOWN = 0x08,
	COM_STATISTICS = 0x09,
	COM_PROCESS_INFO = 0x0a,
	COM_CONNECT = 0x0b,
	COM_PROCESS_KILL = 0x0c,
	COM_DEBUG = 0x0d,
	COM_PING = 0x0e,
	COM_TIME = 0x0f,
	COM_DELAYED_INSERT = 0x10,
	COM_CHANGE_USER = 0x11,
	COM_BINLOG_DUMP = 0x12,
	COM_TABLE_DUMP = 0x13,
	COM_CONNECT_OUT = 0x14,
	COM_REGISTER_SLAVE = 0x15,
	COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17,
	COM_STMT_SEND_LONG_DATA = 0x18,
	COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1a,
	COM_SET_OPTION = 0x1b,
	COM_STMT_FETCH = 0x1c,
	COM_DAEMON = 0x1d,
	COM_BINLOG_DUMP_GTID = 0x1e,
	COM_RESET_CONNECTION = 0x1f,
};

/* Result of a parse or framing step. NEED_MORE only comes from framing. */
enum proto_status {
	PROTO_MALFORMED = -1,
	PROTO_NEED_MORE = 0,
	PROTO_OK = 1,
};

/*
 * Why a parse failed: the field being read, the byte offset within the
 * payload, and expected-vs-actual where a size or value was checked.
 * `what` points to a static string. Filled only on PROTO_MALFORMED.
 */
/* What kind of failure, for callers that answer each differently. */
enum proto_error_kind {
	PROTO_ERR_FORMAT = 0,  /* a field does not read as the protocol says */
	PROTO_ERR_SEQUENCE,    /* a packet's sequence id is out of order */
	PROTO_ERR_TOO_LARGE,   /* a packet announces more than the caller's limit */
};

struct proto_error {
	const char *what;
	size_t offset;
	uint64_t expected;
	uint64_t actual;
	enum proto_error_kind kind;
};

/* A view into caller-owned bytes; never owns memory. */
struct proto_slice {
	const uint8_t *ptr;
	size_t len;
};

/* Bounded reader: every read checks the remaining length first. Once a read
 * fails, `failed` stays set and every later read fails too, so a parser can
 * read a whole structure and check once at the end (plus `err`). */
struct proto_reader {
	const uint8_t *data;
	size_t len;
	size_t pos;
	bool failed;
	struct proto_error err;
};

/* Bounded writer into a caller-provided buffer. On overflow nothing more is
 * written and `overflow` stays set; `len` is what was written before. */
struct proto_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

/* One physical packet header. */
struct proto_frame_header {
	uint32_t payload_len;
	uint8_t seq;
};

/* Where proto_frame_scan stands in one logical packet. */
struct proto_frame_scan {
	size_t off;           /* start of the next chunk header (the wire length once done) */
	size_t chunk_end;     /* end of the chunk whose header was checked, 0 when none */
	uint64_t payload_len; /* payload announced so far */
	uint8_t seq;          /* sequence id the next chunk must carry */
	bool more;            /* the last checked chunk was 0xFFFFFF long */
};

/* ---- connection phase ------------------------------------------------- */

/* The nonce every password plugin hashes or masks with: 20 bytes. */
#define PROTO_SCRAMBLE_LEN 20u

/* Initial handshake sent by the server (protocol version 10). The scramble
 * is kept as two raw parts so parse + write reproduces the original bytes. */
struct proto_handshake {
	uint8_t protocol_version;          /* always 10 */
	struct proto_slice server_version; /* without the NUL */
	uint32_t connection_id;
	uint8_t scramble1[8];
	uint8_t filler;                    /* 0x00 */
	uint32_t capabilities;             /* lower | upper << 16 */
	bool has_charset_and_status;       /* false only for pre-4.1 short greetings */
	uint8_t charset;
	uint16_t status_flags;
	uint8_t auth_data_len;             /* 0 when !CLIENT_PLUGIN_AUTH */
	uint8_t reserved[6];               /* filler */
	uint32_t mariadb_ext_caps;         /* the last 4 reserved bytes; MariaDB only */
	struct proto_slice scramble2;      /* raw, including its trailing NUL if present */
	struct proto_slice auth_plugin;    /* without the NUL */
	bool auth_plugin_nul;              /* the plugin name was NUL-terminated */
};

/* SSLRequest: the first 32 bytes of a HandshakeResponse41, CLIENT_SSL set. */
struct proto_ssl_request {
	uint32_t capabilities;
	uint32_t max_packet;
	uint8_t charset;
	uint32_t mariadb_ext_caps; /* bytes 28..31 of the payload (0 unless MariaDB) */
};

/* HandshakeResponse41. */
struct proto_handshake_response {
	uint32_t capabilities;
	uint32_t max_packet;
	uint8_t charset;
	uint32_t mariadb_ext_caps; /* last 4 of the 23 filler bytes */
	struct proto_slice username;
	struct proto_slice auth_response;
	bool has_database;
	struct proto_slice database;
	bool has_auth_plugin;
	struct proto_slice auth_plugin;
	bool has_attrs;
	struct proto_slice attrs; /* the key/value block after its lenenc length */
};

/* AuthSwitchRequest (0xFE during authentication). */
struct proto_auth_switch {
	struct proto_slice plugin; /* without the NUL */
	struct proto_slice data;   /* rest of the packet (scramble, often NUL-terminated) */
};

/* AuthMoreData (0x01 during authentication). */
struct proto_auth_more_data {
	struct proto_slice data;
};

/* caching_sha2_password's one-byte AuthMoreData states (proto_sha2_auth_state). */
enum proto_sha2_state {
	PROTO_SHA2_NONE,      /* not one of them (a public key, another packet, truncated) */
	PROTO_SHA2_FAST_OK,   /* 0x01 0x03: the scramble matched the server's cache; OK follows */
	PROTO_SHA2_FULL_AUTH, /* 0x01 0x04: perform full authentication (send the password) */
};

/* What a server's auth packet asks of the client (proto_auth_password_request).
 * The answer depends on the client's transport, and so does what the server
 * accepts: each looks at its own connection only. */
enum proto_password_request {
	PROTO_PW_NONE,        /* not a request for the password */
	PROTO_PW_CLEAR,       /* mysql_clear_password: in clear, whatever the transport */
	PROTO_PW_CLEAR_OR_RSA, /* sha256_password: in clear over TLS, RSA-encrypted otherwise; the
				* server takes the same per its own connection, reading whatever
				* arrives over TLS as the clear password */
	PROTO_PW_SHA2_FULL,    /* caching_sha2_password's full authentication: the same, the client
				* asking for the server's key with 0x02 before it encrypts */
};

/* ---- generic response packets ----------------------------------------- */

struct proto_ok {
	uint8_t header; /* 0x00, or 0xFE when an OK replaces an EOF */
	uint64_t affected_rows;
	uint64_t last_insert_id;
	uint16_t status_flags;
	uint16_t warnings;
	struct proto_slice info;
	struct proto_slice session_state; /* raw, only with CLIENT_SESSION_TRACK */
};

struct proto_err {
	uint16_t code;
	bool has_sql_state;
	char sql_state[6]; /* NUL-terminated, 5 chars */
	struct proto_slice message;
};

struct proto_eof {
	uint16_t warnings;
	uint16_t status_flags;
};

/* Prepare response header (COM_STMT_PREPARE OK). */
struct proto_stmt_prepare_ok {
	uint32_t statement_id;
	uint16_t num_columns;
	uint16_t num_params;
	uint16_t warnings;
};

/* Column definition (Protocol::ColumnDefinition41). */
struct proto_column_def {
	struct proto_slice catalog, schema, table, org_table, name, org_name;
	uint16_t charset;
	uint32_t column_length;
	uint8_t type;
	uint16_t flags;
	uint8_t decimals;
};

/* ---- client commands --------------------------------------------------- */

struct proto_command {
	uint8_t code; /* enum proto_command_code */
	union {
		struct { struct proto_slice sql; } query;            /* COM_QUERY, COM_STMT_PREPARE */
		struct { struct proto_slice schema; } init_db;       /* COM_INIT_DB */
		struct {
			struct proto_slice table;
			struct proto_slice wildcard;
		} field_list;
		struct {
			uint32_t statement_id;
			uint8_t flags;
			uint32_t iterations;
			struct proto_slice params; /* null bitmap, types, values: needs the prepare's param count */
		} stmt_execute;
		struct { uint32_t statement_id; } stmt;             /* CLOSE, RESET */
		struct {
			uint32_t statement_id;
			uint16_t param_id;
			struct proto_slice data;
		} long_data;
		struct { uint32_t statement_id; uint32_t num_rows; } fetch;
		struct {
			struct proto_slice username;
			struct proto_slice auth_response;
			struct proto_slice database;
			bool has_charset;
			uint16_t charset;
			bool has_auth_plugin;
			struct proto_slice auth_plugin;
			bool has_attrs;
			struct proto_slice attrs;
		} change_user;
		struct { uint32_t connection_id; } kill;
		struct { uint16_t option; } set_option;
		struct proto_slice raw; /* any other command: the bytes after the code */
	} u;
};

/* ---- response tracking ------------------------------------------------- */

/*
 * The response tracker follows the server's answer to one command, one
 * logical packet at a time, so the proxy knows where each result ends, sees
 * every OK/ERR/EOF with its status flags, and knows when the command is over.
 * It only needs the first bytes of each logical packet (never continuation
 * chunks), so results of any size stream through it.
 */
enum proto_tracker_state {
	TRK_IDLE,           /* no command in flight */
	TRK_FIRST,          /* waiting for the first packet of a result */
	TRK_COLUMNS,        /* reading column definitions */
	TRK_COLUMNS_EOF,    /* waiting for the EOF after column definitions */
	TRK_ROWS,           /* reading rows until EOF/OK or ERR */
	TRK_PREPARE_PARAMS, /* COM_STMT_PREPARE: parameter definitions */
	TRK_PREPARE_PARAMS_EOF,
	TRK_PREPARE_COLUMNS,
	TRK_PREPARE_COLUMNS_EOF,
	TRK_FIELD_LIST,     /* COM_FIELD_LIST: column definitions until EOF */
	TRK_AUTH,           /* COM_CHANGE_USER: auth exchange until OK/ERR */
	TRK_LOCAL_INFILE,   /* client is sending a file; server answers OK/ERR after it */
	TRK_SINGLE,         /* exactly one packet of any shape (COM_STATISTICS) */
};

/* What one fed packet meant. */
enum proto_tracker_event {
	TRK_EV_MALFORMED = -1,
	TRK_EV_CONTINUE = 0,    /* part of a result; more server packets follow */
	TRK_EV_RESULT_END,      /* a result ended (OK/ERR/EOF seen) and another follows */
	TRK_EV_DONE,            /* the response is complete; the next packet is the client's */
	TRK_EV_CLIENT_TURN,     /* LOCAL INFILE request: the client sends file data
	                           then an empty packet; see proto_tracker_client_done */
	TRK_EV_INFILE_REFUSED,  /* LOCAL INFILE request with t->refuse_local_infile set:
	                           it must not reach the client; the caller sends the
	                           server an empty packet (no file), then calls
	                           proto_tracker_client_done, and the server's OK or
	                           ERR ends the statement as usual */
};

/* The last OK, ERR or EOF seen, for hooks (status flags, insert id, errors). */
enum proto_end_kind { END_NONE, END_OK, END_ERR, END_EOF };
struct proto_result_end {
	enum proto_end_kind kind;
	uint16_t status_flags; /* OK and EOF; unchanged from the previous one on ERR */
	uint64_t affected_rows;
	uint64_t last_insert_id;
	uint16_t warnings;
	uint16_t err_code;
	char sql_state[6];
	bool result_set;       /* it ends the rows of a result set (not a bare OK or ERR) */
	uint64_t rows;         /* the rows that result set sent (also when an ERR broke it off);
	                          0 for a bare OK or ERR */
};

struct proto_tracker {
	enum proto_tracker_state state;
	uint8_t command;
	uint32_t caps;          /* negotiated capabilities */
	uint32_t mariadb_ext_caps; /* negotiated MariaDB extended capabilities: 0 unless
	                              the caller sets it after the handshake; the
	                              proto_tracker_begin functions leave it alone */
	bool refuse_local_infile; /* LOCAL INFILE is not allowed ([proxy] local_infile =
	                             off): a server's request for a file is
	                             TRK_EV_INFILE_REFUSED, not TRK_EV_CLIENT_TURN.
	                             Set by the caller; the begin functions leave it
	                             alone */
	bool binary_rows;       /* COM_STMT_EXECUTE / COM_STMT_FETCH */
	uint64_t columns_left;
	uint16_t prepare_columns; /* columns still to come after params (prepare) */
	uint64_t rows;          /* rows seen in the current result */
	struct proto_result_end last;
};

#endif
