/*
 * config.h - acctgate's configuration: one INI file, described by one
 * declarative table (config.c) that serves the parser, `--check` and the
 * documentation in conf/acctgate.conf.
 *
 * A struct config is plain data (fixed-size strings, no pointers), so a
 * reload can copy the settings that need a restart from the running config
 * into the new one with memcpy.
 */
#ifndef ACCTGATE_CONFIG_H
#define ACCTGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define CONFIG_STR_MAX 512
#define CONFIG_HOST_MAX 256
#define CONFIG_MAX_SERVERS 16

enum client_tls_mode { CLIENT_TLS_DISABLED, CLIENT_TLS_OPTIONAL, CLIENT_TLS_REQUIRED };

/* The admin port's login plugins (proxy/admin.c). */
enum admin_auth {
	ADMIN_AUTH_ANY,     /* mysql_native_password, or client_ed25519 when the client asks for it */
	ADMIN_AUTH_NATIVE,  /* mysql_native_password only */
	ADMIN_AUTH_ED25519, /* client_ed25519 only: every login is switched to it */
};

/* Ordered weakest to strongest: code compares with >=. */
enum upstream_tls_mode {
	UPSTREAM_TLS_DISABLED,
	UPSTREAM_TLS_PREFERRED,
	UPSTREAM_TLS_REQUIRED,
	UPSTREAM_TLS_VERIFY_CA,
	UPSTREAM_TLS_VERIFY_IDENTITY,
};

struct config_endpoint {
	char host[CONFIG_HOST_MAX];
	uint16_t port;
};

/* Room for config_endpoint_name: "[", host, "]:", 5 digits, NUL. */
#define CONFIG_ENDPOINT_NAME_MAX (CONFIG_HOST_MAX + 8)

/* [snapshot] schedule: when acctgate takes a snapshot by itself. */
enum config_schedule_kind {
	CONFIG_SCHEDULE_OFF,   /* never: only the admin port's SNAPSHOT */
	CONFIG_SCHEDULE_DAILY, /* once a day, `seconds` after 00:00 UTC */
	CONFIG_SCHEDULE_EVERY, /* at every multiple of `seconds` since the epoch */
};
struct config_schedule {
	enum config_schedule_kind kind;
	int64_t seconds;
};

/* [snapshot] keep: the snapshots that stay after each new one. */
enum config_keep_kind {
	CONFIG_KEEP_ALL,   /* every one (DROP SNAPSHOT removes them) */
	CONFIG_KEEP_COUNT, /* the newest `n` */
	CONFIG_KEEP_AGE,   /* those taken within the last `n` seconds, and the newest */
};
struct config_keep {
	enum config_keep_kind kind;
	int64_t n;
};

/* The longest name config_schedule_name and config_keep_name write. */
#define CONFIG_SCHEDULE_NAME_MAX 32

struct config {
	char path[CONFIG_STR_MAX];

	/* [proxy] */
	struct config_endpoint listen;
	int threads;
	int max_connections;
	enum client_tls_mode client_tls;
	char tls_cert[CONFIG_STR_MAX];
	char tls_key[CONFIG_STR_MAX];
	char tls_client_ca[CONFIG_STR_MAX];
	char tls_ciphers[CONFIG_STR_MAX];
	char tls_ciphersuites[CONFIG_STR_MAX];
	bool local_infile;
	uint64_t max_command_size;
	int keepalive_idle;
	int keepalive_interval;
	int drain_timeout;
	int login_timeout;          /* accept to the end of the client's login */
	enum log_level log_level;

	/* [upstream] */
	struct config_endpoint servers[CONFIG_MAX_SERVERS];
	int nservers;
	int connect_timeout;
	int handshake_timeout;      /* TCP connected to greeting read and TLS verified */
	char resolver[64];         /* "" = /etc/resolv.conf */
	enum upstream_tls_mode upstream_tls;
	char upstream_tls_ca[CONFIG_STR_MAX];
	char upstream_tls_server_name[CONFIG_HOST_MAX];
	char upstream_tls_cert[CONFIG_STR_MAX];
	char upstream_tls_key[CONFIG_STR_MAX];
	bool has_pin;
	uint8_t upstream_tls_pin_sha256[32];
	int health_backoff_max;
	char health_user[128];
	char health_password_file[CONFIG_STR_MAX];
	char health_password[256]; /* read from health_password_file at load; never logged */
	int health_interval;

	/* [journal] */
	char journal_dir[CONFIG_STR_MAX]; /* "" = no journal */
	int journal_fsync;          /* enum journal_fsync (snapshot/journal.h) */
	uint64_t journal_segment_size;
	int64_t journal_retention;  /* seconds; 0 = keep every segment */
	int journal_on_error;       /* enum journal_on_error */
	char journal_markers[65];   /* schema of the commit markers table; "" = none */

	/* [snapshot]: acctgate's own account on the database */
	char snapshot_user[128];
	char snapshot_password_file[CONFIG_STR_MAX];
	char snapshot_password[256]; /* read from snapshot_password_file at load; never logged */
	char snapshot_dir[CONFIG_STR_MAX];  /* where SNAPSHOT writes; "" = no snapshots */
	int snapshot_threads;
	int snapshot_chunk_rows; /* a table with more rows is dumped in chunks of its key; 0 = never */
	char snapshot_databases[CONFIG_STR_MAX]; /* comma-separated; "" = every non-system database */
	struct config_schedule snapshot_schedule;
	struct config_keep snapshot_keep;

	/* [admin]: the admin port (proxy/admin.h) */
	struct config_endpoint admin_listen;
	char admin_user[128];
	char admin_password_file[CONFIG_STR_MAX];
	char admin_password[256];    /* read from admin_password_file at load; never logged */
	enum admin_auth admin_auth;
	char admin_tls_cert[CONFIG_STR_MAX];
	char admin_tls_key[CONFIG_STR_MAX];
	enum client_tls_mode admin_client_tls; /* optional without a certificate = plaintext only */

	/* [digests]: per-digest statement statistics (proxy/digests.h) */
	int digests_max;            /* distinct digests per worker; 0 = not kept */

	/* [throttle]: admission of heavy transactions (proxy/throttle.h) */
	int throttle_heavy_limit;           /* heavy transactions at once; 0 = not throttled */
	char throttle_heavy[CONFIG_STR_MAX]; /* digest patterns, '|'-separated */
	int throttle_bulk_limit;            /* bulk transactions at once; 0 = not throttled */
	char throttle_bulk[CONFIG_STR_MAX];
	int throttle_coordinate;            /* 1: slots shared with other acctgates through the server's named locks */
	int64_t throttle_queue_timeout;     /* seconds a heavy transaction waits for a slot */
	int64_t throttle_idle_release;      /* seconds idle in a transaction before its slot goes; 0 = never */
	int throttle_promote_p95_ms;        /* a digest this slow (p95) is bulk; 0 = never */
	int throttle_cluster_rate;          /* transactions a second each cluster may start; 0 = no limit */
	int throttle_cluster_burst;         /* of those, at once after a quiet spell; 0 = cluster_rate */
	int throttle_replay_attempts;       /* runs of a transaction again after 1213/1205 (redo.c); 0 = none */
	uint64_t throttle_replay_max_bytes; /* a transaction's statements kept for that, at most */
};

/* What a COMMIT meets when its record cannot be written. */
enum journal_on_error {
	JOURNAL_ON_ERROR_REFUSE,   /* ERR to the client, the transaction rolled back */
	JOURNAL_ON_ERROR_CONTINUE, /* commit anyway; the gap is logged and counted */
};

/*
 * Load and validate `path`. On failure returns false and writes one line
 * naming the file, line, section and key into err ("FILE:LINE: [sec] key:
 * why"); the caller refuses to start (or, on reload, keeps the old config).
 */
bool config_load(const char *path, struct config *out, char *err, size_t errlen);

/* The defaults, as if from an empty file (used by tests and docs). */
void config_defaults(struct config *out);

/*
 * Wipe the secrets a config holds (the health, snapshot and admin passwords) with OPENSSL_cleanse,
 * which the compiler cannot drop as a dead store. Every struct config is a
 * copy of the password (main's, a reload's, each settings generation's):
 * call this on each one before its memory is freed.
 */
void config_wipe_secrets(struct config *cfg);

/*
 * For a reload: copy every setting that cannot change at run time from
 * `running` into `fresh`, logging a warning for each one that differed.
 */
void config_keep_restart_only(struct config *fresh, const struct config *running);

/* The i-th known key (for docs checks and listings); false past the end. */
bool config_key_at(size_t i, const char **section, const char **key);

/*
 * The i-th key's value in cfg as the file would write it (the admin port's
 * SHOW CONFIG), and whether a reload changes it. A password file's value is
 * "(set)" when a secret was read, "" otherwise: the path is not shown, and
 * the secret never is. False past the end.
 */
bool config_value_at(size_t i, const struct config *cfg, char *buf, size_t len, bool *reloadable);

/* "host:port", or "[v6]:port" for an IPv6 address, as [upstream] servers
 * writes it: the name in logs and the key of a server across reloads. */
void config_endpoint_name(const struct config_endpoint *ep, char *buf, size_t len);

/* The schedule and keep as the file writes them ("daily 03:00", "every 6h",
 * "7", "14d", "off", "all"). */
void config_schedule_name(const struct config_schedule *s, char *buf, size_t len);
void config_keep_name(const struct config_keep *k, char *buf, size_t len);
/* Seconds between two scheduled snapshots; 0 when off. */
int64_t config_schedule_period(const struct config_schedule *s);
/* The first scheduled time strictly after `now` (seconds since the epoch,
 * UTC); 0 when off. */
int64_t config_schedule_next(const struct config_schedule *s, int64_t now);

const char *config_client_tls_name(enum client_tls_mode m);
const char *config_upstream_tls_name(enum upstream_tls_mode m);

#endif
