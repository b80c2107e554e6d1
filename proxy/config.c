/*
 * config.c - the INI parser driven by one table of settings.
 *
 * File format:
 *   [section]
 *   key = value        ; or # starts a comment (at line start, or after
 *                      ; whitespace following the value)
 * Every key must be known; every value is checked against its type and
 * bounds; a key given twice is an error (a typo'd duplicate is more likely
 * than an intended override). Errors name the file, line, section and key.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/util.h>
#include <openssl/crypto.h>

#include "tls.h"

enum setting_type {
	T_INT,      /* bounded integer */
	T_SIZE,     /* integer with optional K/M/G suffix (powers of 1024) */
	T_BOOL,     /* on/off, true/false, yes/no, 1/0 */
	T_STRING,   /* free text */
	T_CIPHERS,  /* a TLS 1.2 cipher list OpenSSL accepts */
	T_CIPHERSUITES, /* TLS 1.3 suites OpenSSL accepts */
	T_PATH,     /* a file or directory path; existence is checked by the user of it */
	T_HOST,     /* a host name or address */
	T_ENUM,     /* one of `names` */
	T_ENDPOINT, /* host:port */
	T_SERVERS,  /* host:port[,host:port...] */
	T_LOGLEVEL,
	T_PIN,      /* SHA-256 of a SubjectPublicKeyInfo: 64 hex digits or base64 */
	T_PASSWORD_FILE, /* a file whose first line is read at load into the section's password */
	T_NAMESERVER, /* empty, or an IP address with an optional :port */
	T_DURATION, /* seconds, with an optional s/m/h/d suffix; stored as int64_t */
	T_IDENT,    /* empty, or an unquoted SQL identifier (letters, digits, _ and $) */
	T_SCHEDULE, /* off, "daily HH:MM" (UTC) or "every <duration>": struct config_schedule */
	T_KEEP,     /* all, a count, or an age (a duration with its suffix): struct config_keep */
};

struct setting {
	const char *section;
	const char *key;
	enum setting_type type;
	size_t offset;
	size_t size;        /* of the field, for strings and memcpy on reload */
	const char *deflt;  /* as it would be written in the file; NULL = empty */
	long long min, max; /* T_INT / T_SIZE bounds */
	const char *const *names; /* T_ENUM */
	bool reloadable;
	size_t secret;      /* T_PASSWORD_FILE: offset of the field its secret is read into */
};

/* Slurm's writes that contend (slurmdbd-on-the-wire notes). Heavy: the
 * association changes on the shared tables and their nested-set shifts,
 * which deadlock against each other across clusters, and the shared
 * txn_table's purge. Bulk: rollups and purge or archive batches, per
 * cluster tables, which load the server at the top of the hour. */
#define THROTTLE_HEAVY_DEFAULT                                                                                       \
	"INSERT INTO *acct_table * | INSERT INTO *user_table * | INSERT INTO *assoc_table * | UPDATE *acct_table * | "   \
	"UPDATE *user_table * | UPDATE *assoc_table * | SELECT * FROM *assoc_table * FOR UPDATE | INSERT INTO "          \
	"*qos_table * | UPDATE *qos_table * | DELETE FROM *txn_table * LIMIT ?"
#define THROTTLE_BULK_DEFAULT                                                                                        \
	"INSERT INTO *usage_* SELECT * | INSERT INTO *usage_* ON DUPLICATE KEY UPDATE * | DELETE FROM * LIMIT ? | "     \
	"UPDATE * LIMIT ?"

static const char *const off_on_names[] = {"off", "on", NULL};
static const char *const client_tls_names[] = {"disabled", "optional", "required", NULL};
/* In the order of enum admin_auth. */
static const char *const admin_auth_names[] = {"any", "native", "ed25519", NULL};
static const char *const upstream_tls_names[] = {"disabled", "preferred", "required", "verify_ca",
						 "verify_identity", NULL};
/* In the order of enum journal_fsync (journal.h) and enum journal_on_error. */
static const char *const journal_fsync_names[] = {"always", "everysec", "off", NULL};
static const char *const journal_on_error_names[] = {"refuse", "continue", NULL};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
/* Every secret field has the same size, so read_secret's bound is one. */
#define SECRET(f) offsetof(struct config, f)
_Static_assert(sizeof(((struct config *)0)->health_password) == sizeof(((struct config *)0)->snapshot_password) &&
		       sizeof(((struct config *)0)->health_password) == sizeof(((struct config *)0)->admin_password),
	       "secret fields differ in size");
#define SECRET_MAX sizeof(((struct config *)0)->health_password)

/* The single source of truth for every key. conf/acctgate.conf documents them
 * in the same order; tests/unit checks that the two agree. */
static const struct setting settings[] = {
	{"proxy", "listen", T_ENDPOINT, FIELD(listen), "127.0.0.1:6033", 0, 0, NULL, false, 0},
	{"proxy", "threads", T_INT, FIELD(threads), "2", 1, 256, NULL, false, 0},
	{"proxy", "max_connections", T_INT, FIELD(max_connections), "1024", 1, 1000000, NULL, true, 0},
	{"proxy", "client_tls", T_ENUM, FIELD(client_tls), "optional", 0, 0, client_tls_names, true, 0},
	{"proxy", "tls_cert", T_PATH, FIELD(tls_cert), NULL, 0, 0, NULL, true, 0},
	{"proxy", "tls_key", T_PATH, FIELD(tls_key), NULL, 0, 0, NULL, true, 0},
	{"proxy", "tls_client_ca", T_PATH, FIELD(tls_client_ca), NULL, 0, 0, NULL, true, 0},
	{"proxy", "tls_ciphers", T_CIPHERS, FIELD(tls_ciphers), NULL, 0, 0, NULL, true, 0},
	{"proxy", "tls_ciphersuites", T_CIPHERSUITES, FIELD(tls_ciphersuites), NULL, 0, 0, NULL, true, 0},
	{"proxy", "local_infile", T_BOOL, FIELD(local_infile), "off", 0, 0, NULL, true, 0},
	{"proxy", "max_command_size", T_SIZE, FIELD(max_command_size), "1G", 1024, 1LL << 30, NULL, true, 0},
	{"proxy", "keepalive_idle", T_INT, FIELD(keepalive_idle), "60", 0, 86400, NULL, true, 0},
	{"proxy", "keepalive_interval", T_INT, FIELD(keepalive_interval), "10", 1, 3600, NULL, true, 0},
	{"proxy", "drain_timeout", T_INT, FIELD(drain_timeout), "30", 0, 86400, NULL, true, 0},
	{"proxy", "login_timeout", T_INT, FIELD(login_timeout), "10", 1, 3600, NULL, true, 0},
	{"proxy", "log_level", T_LOGLEVEL, FIELD(log_level), "info", 0, 0, NULL, true, 0},

	{"upstream", "servers", T_SERVERS, FIELD(servers), "127.0.0.1:3306", 0, 0, NULL, true, 0},
	{"upstream", "connect_timeout", T_INT, FIELD(connect_timeout), "5", 1, 600, NULL, true, 0},
	{"upstream", "handshake_timeout", T_INT, FIELD(handshake_timeout), "10", 1, 600, NULL, true, 0},
	{"upstream", "resolver", T_NAMESERVER, FIELD(resolver), NULL, 0, 0, NULL, false, 0},
	{"upstream", "tls", T_ENUM, FIELD(upstream_tls), "verify_identity", 0, 0, upstream_tls_names, true, 0},
	{"upstream", "tls_ca", T_PATH, FIELD(upstream_tls_ca), NULL, 0, 0, NULL, true, 0},
	{"upstream", "tls_server_name", T_HOST, FIELD(upstream_tls_server_name), NULL, 0, 0, NULL, true, 0},
	{"upstream", "tls_cert", T_PATH, FIELD(upstream_tls_cert), NULL, 0, 0, NULL, true, 0},
	{"upstream", "tls_key", T_PATH, FIELD(upstream_tls_key), NULL, 0, 0, NULL, true, 0},
	{"upstream", "tls_pin_sha256", T_PIN, FIELD(upstream_tls_pin_sha256), NULL, 0, 0, NULL, true, 0},
	{"upstream", "health_backoff_max", T_INT, FIELD(health_backoff_max), "60", 1, 3600, NULL, true, 0},
	{"upstream", "health_user", T_STRING, FIELD(health_user), NULL, 0, 0, NULL, true, 0},
	{"upstream", "health_password_file", T_PASSWORD_FILE, FIELD(health_password_file), NULL, 0, 0, NULL, true,
	 SECRET(health_password)},
	{"upstream", "health_interval", T_INT, FIELD(health_interval), "10", 1, 3600, NULL, true, 0},

	{"journal", "dir", T_PATH, FIELD(journal_dir), NULL, 0, 0, NULL, false, 0},
	{"journal", "fsync", T_ENUM, FIELD(journal_fsync), "always", 0, 0, journal_fsync_names, false, 0},
	{"journal", "segment_size", T_SIZE, FIELD(journal_segment_size), "64M", 1LL << 20, 1LL << 30, NULL, false, 0},
	{"journal", "retention", T_DURATION, FIELD(journal_retention), "7d", 0, 10LL * 366 * 86400, NULL, false, 0},
	{"journal", "on_error", T_ENUM, FIELD(journal_on_error), "refuse", 0, 0, journal_on_error_names, false, 0},
	{"journal", "markers", T_IDENT, FIELD(journal_markers), NULL, 0, 0, NULL, false, 0},

	{"snapshot", "user", T_STRING, FIELD(snapshot_user), NULL, 0, 0, NULL, true, 0},
	{"snapshot", "password_file", T_PASSWORD_FILE, FIELD(snapshot_password_file), NULL, 0, 0, NULL, true,
	 SECRET(snapshot_password)},
	{"snapshot", "dir", T_PATH, FIELD(snapshot_dir), NULL, 0, 0, NULL, true, 0},
	{"snapshot", "threads", T_INT, FIELD(snapshot_threads), "2", 1, 16, NULL, true, 0},
	{"snapshot", "chunk_rows", T_INT, FIELD(snapshot_chunk_rows), "100000", 0, 1000000000, NULL, true, 0},
	{"snapshot", "databases", T_STRING, FIELD(snapshot_databases), NULL, 0, 0, NULL, true, 0},
	{"snapshot", "schedule", T_SCHEDULE, FIELD(snapshot_schedule), "off", 1, 366LL * 86400, NULL, true, 0},
	{"snapshot", "keep", T_KEEP, FIELD(snapshot_keep), "all", 1, 100000, NULL, true, 0},

	{"admin", "listen", T_ENDPOINT, FIELD(admin_listen), "127.0.0.1:6032", 0, 0, NULL, false, 0},
	{"admin", "user", T_STRING, FIELD(admin_user), NULL, 0, 0, NULL, true, 0},
	{"admin", "password_file", T_PASSWORD_FILE, FIELD(admin_password_file), NULL, 0, 0, NULL, true,
	 SECRET(admin_password)},
	{"admin", "auth", T_ENUM, FIELD(admin_auth), "any", 0, 0, admin_auth_names, true, 0},
	{"admin", "tls_cert", T_PATH, FIELD(admin_tls_cert), NULL, 0, 0, NULL, false, 0},
	{"admin", "tls_key", T_PATH, FIELD(admin_tls_key), NULL, 0, 0, NULL, false, 0},
	{"admin", "client_tls", T_ENUM, FIELD(admin_client_tls), "optional", 0, 0, client_tls_names, false, 0},

	{"digests", "max", T_INT, FIELD(digests_max), "5000", 0, 1000000, NULL, false, 0},

	{"throttle", "heavy_limit", T_INT, FIELD(throttle_heavy_limit), "1", 0, 64, NULL, false, 0},
	{"throttle", "heavy", T_STRING, FIELD(throttle_heavy), THROTTLE_HEAVY_DEFAULT, 0, 0, NULL, false, 0},
	{"throttle", "bulk_limit", T_INT, FIELD(throttle_bulk_limit), "2", 0, 64, NULL, false, 0},
	{"throttle", "bulk", T_STRING, FIELD(throttle_bulk), THROTTLE_BULK_DEFAULT, 0, 0, NULL, false, 0},
	{"throttle", "coordinate", T_ENUM, FIELD(throttle_coordinate), "on", 0, 0, off_on_names, false, 0},
	{"throttle", "queue_timeout", T_DURATION, FIELD(throttle_queue_timeout), "30s", 1, 3600, NULL, false, 0},
	{"throttle", "idle_release", T_DURATION, FIELD(throttle_idle_release), "5s", 0, 3600, NULL, false, 0},
	{"throttle", "promote_p95_ms", T_INT, FIELD(throttle_promote_p95_ms), "10000", 0, 3600000, NULL, false, 0},
	{"throttle", "cluster_rate", T_INT, FIELD(throttle_cluster_rate), "0", 0, 1000000, NULL, false, 0},
	{"throttle", "cluster_burst", T_INT, FIELD(throttle_cluster_burst), "0", 0, 1000000, NULL, false, 0},
	{"throttle", "replay_attempts", T_INT, FIELD(throttle_replay_attempts), "5", 0, 100, NULL, true, 0},
	{"throttle", "replay_max_bytes", T_SIZE, FIELD(throttle_replay_max_bytes), "1M", 0, 1LL << 30, NULL, true, 0},
};

#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* Sections are the table's: a section no key names is unknown. */
static bool section_known(const char *section)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strcmp(settings[i].section, section) == 0)
			return true;
	return false;
}

/* "[proxy], [upstream], ...", in the table's order. */
static void known_sections(char *out, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (i > 0 && strcmp(settings[i].section, settings[i - 1].section) == 0)
			continue;
		int n = snprintf(out + used, len - used, "%s[%s]", used ? ", " : "", settings[i].section);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/* Where a value came from, for cross-key checks that must name a line. */
struct origin {
	int line[NSETTINGS]; /* 0 = default */
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Room for file text quoted in an error message. */
#define SHOWN_MAX 320

/* File text as an error message quotes it: a reload's errors go to the log,
 * so control and non-ASCII bytes are written as \xNN (log_escape) and a
 * value cannot forge or hide log lines. */
static const char *show(const char *text, char *buf, size_t len)
{
	log_escape(text, strlen(text), buf, len);
	return buf;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Parse "host:port", "[v6]:port". Writes a reason into why on failure. */
static bool parse_endpoint(const char *text, struct config_endpoint *ep, const char **why)
{
	const char *colon;
	const char *host = text;
	size_t hostlen;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':') {
			*why = "expected [ipv6]:port";
			return false;
		}
		host = text + 1;
		hostlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon) {
			*why = "expected host:port";
			return false;
		}
		hostlen = (size_t)(colon - text);
	}
	if (hostlen == 0 || hostlen >= sizeof(ep->host)) {
		*why = "host is empty or too long";
		return false;
	}
	char *end;
	errno = 0;
	long port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 1 || port > 65535) {
		*why = "port must be a number from 1 to 65535";
		return false;
	}
	memcpy(ep->host, host, hostlen);
	ep->host[hostlen] = '\0';
	ep->port = (uint16_t)port;
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"on", "true", "yes", "1"};
	static const char *const no[] = {"off", "false", "no", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* "90", "90s", "15m", "12h", "7d": seconds. */
static bool parse_duration(const char *v, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || n < 0)
		return false;
	long long mult = 1;
	if (*end) {
		switch (*end) {
		case 's': mult = 1; break;
		case 'm': mult = 60; break;
		case 'h': mult = 3600; break;
		case 'd': mult = 86400; break;
		default: return false;
		}
		if (end[1])
			return false;
	}
	if (n > (1LL << 40) / mult)
		return false;
	*out = n * mult;
	return true;
}

/* "6h" for 21600: a duration in the largest unit that divides it. */
static void format_duration(int64_t sec, char *buf, size_t len)
{
	static const struct {
		char unit;
		int64_t mult;
	} units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (sec >= units[i].mult && sec % units[i].mult == 0) {
			snprintf(buf, len, "%lld%c", (long long)(sec / units[i].mult), units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%llds", (long long)sec);
}

/* A word, the whitespace after it, and what follows; NULL if v does not
 * start with the word and some whitespace. */
static const char *after_word(const char *v, const char *word)
{
	size_t n = strlen(word);
	if (strncmp(v, word, n) != 0 || !isspace((unsigned char)v[n]))
		return NULL;
	for (v += n; isspace((unsigned char)*v); v++)
		;
	return v;
}

/* "off", "daily HH:MM" (UTC) or "every <duration>" of `min` to `max`
 * seconds. */
static bool parse_schedule(const char *v, long long min, long long max, struct config_schedule *out)
{
	const char *t;
	if (strcmp(v, "off") == 0) {
		*out = (struct config_schedule){CONFIG_SCHEDULE_OFF, 0};
		return true;
	}
	if ((t = after_word(v, "daily")) != NULL) {
		/* H:MM or HH:MM, nothing after. */
		size_t hd = strspn(t, "0123456789");
		if (hd < 1 || hd > 2 || t[hd] != ':' || strspn(t + hd + 1, "0123456789") != 2 || t[hd + 3])
			return false;
		int h = atoi(t), m = atoi(t + hd + 1);
		if (h > 23 || m > 59)
			return false;
		*out = (struct config_schedule){CONFIG_SCHEDULE_DAILY, (int64_t)h * 3600 + m * 60};
		return true;
	}
	long long n;
	if ((t = after_word(v, "every")) != NULL && parse_duration(t, &n) && n >= min && n <= max) {
		*out = (struct config_schedule){CONFIG_SCHEDULE_EVERY, n};
		return true;
	}
	return false;
}

/* "all", a count of `min` to `max`, or an age: a duration written with
 * its suffix (a bare number is the count). */
static bool parse_keep(const char *v, long long min, long long max, struct config_keep *out)
{
	if (strcmp(v, "all") == 0) {
		*out = (struct config_keep){CONFIG_KEEP_ALL, 0};
		return true;
	}
	size_t digits = strspn(v, "0123456789");
	if (digits == 0 || digits > 12)
		return false;
	long long n = strtoll(v, NULL, 10);
	if (!v[digits]) {
		if (n < min || n > max)
			return false;
		*out = (struct config_keep){CONFIG_KEEP_COUNT, n};
		return true;
	}
	if (!parse_duration(v, &n) || n < 1)
		return false;
	*out = (struct config_keep){CONFIG_KEEP_AGE, n};
	return true;
}

static bool parse_size(const char *v, long long *out)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || n < 0)
		return false;
	long long mult = 1;
	if (*end) {
		switch (toupper((unsigned char)*end)) {
		case 'K': mult = 1LL << 10; break;
		case 'M': mult = 1LL << 20; break;
		case 'G': mult = 1LL << 30; break;
		default: return false;
		}
		end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return false;
	}
	if (n > (1LL << 40) / mult)
		return false;
	*out = n * mult;
	return true;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* 64 hex digits, or 44 characters of base64 (one '=' pad), optionally
 * prefixed "sha256//" as curl's --pinnedpubkey writes it. */
static bool parse_pin(const char *v, uint8_t out[32])
{
	if (strncmp(v, "sha256//", 8) == 0)
		v += 8;
	size_t n = strlen(v);
	if (n == 64) {
		for (size_t i = 0; i < 32; i++) {
			unsigned int byte;
			if (!isxdigit((unsigned char)v[2 * i]) || !isxdigit((unsigned char)v[2 * i + 1]) ||
			    sscanf(v + 2 * i, "%2x", &byte) != 1)
				return false;
			out[i] = (uint8_t)byte;
		}
		return true;
	}
	if (n != 44 || v[43] != '=')
		return false;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < 43; i++) {
		int d = b64_value(v[i]);
		if (d < 0)
			return false;
		acc = (acc << 6) | (uint32_t)d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o < 32)
				out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o == 32;
}

/* Read a secret file: its first line, without the newline. Unbuffered, so
 * that no stdio buffer, freed unwiped by fclose, holds a copy. */
static bool read_secret(const char *path, char *out, size_t outlen, char *why, size_t whylen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		set_err(why, whylen, "cannot read %s: %s", path, strerror(errno));
		return false;
	}
	setvbuf(f, NULL, _IONBF, 0);
	bool ok = fgets(out, (int)outlen, f) != NULL;
	fclose(f);
	if (!ok) {
		set_err(why, whylen, "%s is empty", path);
		return false;
	}
	out[strcspn(out, "\r\n")] = '\0';
	return true;
}

static int enum_index(const char *const *names, const char *v)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], v) == 0)
			return i;
	return -1;
}

static void enum_choices(const char *const *names, char *buf, size_t len)
{
	buf[0] = '\0';
	for (int i = 0; names[i]; i++) {
		strncat(buf, i ? " | " : "", len - strlen(buf) - 1);
		strncat(buf, names[i], len - strlen(buf) - 1);
	}
}

/* Store one value. On failure writes "why" (without the location prefix). */
/*
 * A cipher list is checked on its own, whether client TLS is on or not:
 * TLS 1.2 names in the 1.3 key, or the reverse, is the usual mistake, and
 * OpenSSL refuses a list with no name it knows for that version.
 */
static bool cipher_list_ok(const struct setting *s, const char *v, char *why, size_t whylen)
{
	bool tls13 = s->type == T_CIPHERSUITES;
	char reason[128], shown[SHOWN_MAX];
	if (tls_cipher_list_valid(v, tls13, reason, sizeof(reason)))
		return true;
	set_err(why, whylen, "%s (%s): %s, got '%s'",
		tls13 ? "expected TLS 1.3 suites such as TLS_AES_256_GCM_SHA384" : "expected an OpenSSL cipher list for TLS 1.2",
		tls13 ? "TLS 1.2 ciphers go in tls_ciphers" : "TLS 1.3 suites go in tls_ciphersuites", reason,
		show(v, shown, sizeof(shown)));
	return false;
}

static bool apply(const struct setting *s, struct config *cfg, const char *v, char *why, size_t whylen)
{
	void *field = (char *)cfg + s->offset;
	char shown[SHOWN_MAX];
	show(v, shown, sizeof(shown));
	switch (s->type) {
	case T_INT: {
		char *end;
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno || end == v || *end || n < s->min || n > s->max) {
			set_err(why, whylen, "expected an integer from %lld to %lld, got '%s'", s->min, s->max, shown);
			return false;
		}
		*(int *)field = (int)n;
		return true;
	}
	case T_SIZE: {
		long long n;
		if (!parse_size(v, &n) || n < s->min || n > s->max) {
			set_err(why, whylen, "expected a size from %lld to %lld bytes (K, M, G suffixes allowed), got '%s'",
				s->min, s->max, shown);
			return false;
		}
		*(uint64_t *)field = (uint64_t)n;
		return true;
	}
	case T_DURATION: {
		long long n;
		if (!parse_duration(v, &n) || n < s->min || n > s->max) {
			set_err(why, whylen, "expected a duration from %lld to %lld seconds (s, m, h, d suffixes allowed), "
					     "got '%s'",
				s->min, s->max, shown);
			return false;
		}
		*(int64_t *)field = n;
		return true;
	}
	case T_SCHEDULE:
		if (!parse_schedule(v, s->min, s->max, (struct config_schedule *)field)) {
			set_err(why, whylen,
				"expected off, 'daily HH:MM' (UTC) or 'every N' with an s, m, h or d suffix (1s to %lldd), "
				"got '%s'",
				s->max / 86400, shown);
			return false;
		}
		return true;
	case T_KEEP:
		if (!parse_keep(v, s->min, s->max, (struct config_keep *)field)) {
			set_err(why, whylen,
				"expected all, a count from %lld to %lld, or an age with an s, m, h or d suffix (14d), got "
				"'%s'",
				s->min, s->max, shown);
			return false;
		}
		return true;
	case T_BOOL:
		if (!parse_bool(v, (bool *)field)) {
			set_err(why, whylen, "expected on or off, got '%s'", shown);
			return false;
		}
		return true;
	case T_STRING:
	case T_PATH:
	case T_HOST:
	case T_CIPHERS:
	case T_CIPHERSUITES:
		if (strlen(v) >= s->size) {
			set_err(why, whylen, "value longer than %zu characters", s->size - 1);
			return false;
		}
		if ((s->type == T_CIPHERS || s->type == T_CIPHERSUITES) && !cipher_list_ok(s, v, why, whylen))
			return false;
		strcpy((char *)field, v);
		return true;
	case T_ENUM: {
		int i = enum_index(s->names, v);
		if (i < 0) {
			char choices[256];
			enum_choices(s->names, choices, sizeof(choices));
			set_err(why, whylen, "expected one of %s, got '%s'", choices, shown);
			return false;
		}
		*(int *)field = i;
		return true;
	}
	case T_ENDPOINT: {
		const char *reason;
		if (!parse_endpoint(v, (struct config_endpoint *)field, &reason)) {
			set_err(why, whylen, "%s, got '%s'", reason, shown);
			return false;
		}
		return true;
	}
	case T_SERVERS: {
		char copy[CONFIG_STR_MAX * 4];
		if (strlen(v) >= sizeof(copy)) {
			set_err(why, whylen, "server list too long");
			return false;
		}
		strcpy(copy, v);
		int n = 0;
		char *save = NULL;
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			const char *reason;
			tok = trim(tok);
			if (n == CONFIG_MAX_SERVERS) {
				set_err(why, whylen, "at most %d servers", CONFIG_MAX_SERVERS);
				return false;
			}
			if (!parse_endpoint(tok, &cfg->servers[n], &reason)) {
				set_err(why, whylen, "server %d: %s, got '%s'", n + 1, reason, show(tok, shown, sizeof(shown)));
				return false;
			}
			n++;
		}
		if (n == 0) {
			set_err(why, whylen, "at least one host:port is needed");
			return false;
		}
		cfg->nservers = n;
		return true;
	}
	case T_LOGLEVEL:
		if (!log_level_parse(v, (enum log_level *)field)) {
			set_err(why, whylen, "expected debug | info | notice | warning | error, got '%s'", shown);
			return false;
		}
		return true;
	case T_PASSWORD_FILE: {
		if (strlen(v) >= s->size) {
			set_err(why, whylen, "value longer than %zu characters", s->size - 1);
			return false;
		}
		strcpy((char *)field, v);
		char *secret = (char *)cfg + s->secret;
		OPENSSL_cleanse(secret, SECRET_MAX);
		return !*v || read_secret(v, secret, SECRET_MAX, why, whylen);
	}
	case T_IDENT:
		if (strlen(v) >= s->size || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$") !=
						    strlen(v) ||
		    (v[0] >= '0' && v[0] <= '9')) {
			set_err(why, whylen, "expected a database name of letters, digits, _ and $ (at most %zu), got '%s'",
				s->size - 1, shown);
			return false;
		}
		strcpy((char *)field, v);
		return true;
	case T_NAMESERVER: {
		struct sockaddr_storage ss;
		int sslen = sizeof(ss);
		if (*v && evutil_parse_sockaddr_port(v, (struct sockaddr *)&ss, &sslen) != 0) {
			set_err(why, whylen, "expected an IP address with an optional :port (IPv6 as [addr]:port), got '%s'", shown);
			return false;
		}
		if (strlen(v) >= s->size) {
			set_err(why, whylen, "value longer than %zu characters", s->size - 1);
			return false;
		}
		strcpy((char *)field, v);
		return true;
	}
	case T_PIN:
		if (!*v) {
			cfg->has_pin = false;
			return true;
		}
		if (!parse_pin(v, (uint8_t *)field)) {
			set_err(why, whylen, "expected the SHA-256 of the server's public key as 64 hex digits or base64, got '%s'", shown);
			return false;
		}
		cfg->has_pin = true;
		return true;
	}
	return false;
}

void config_defaults(struct config *out)
{
	memset(out, 0, sizeof(*out));
	char why[256];
	for (size_t i = 0; i < NSETTINGS; i++) {
		bool ok = apply(&settings[i], out, settings[i].deflt ? settings[i].deflt : "", why, sizeof(why));
		(void)ok; /* the table's defaults are valid; tests/unit checks it */
	}
}

void config_wipe_secrets(struct config *cfg)
{
	OPENSSL_cleanse(cfg->health_password, sizeof(cfg->health_password));
	OPENSSL_cleanse(cfg->snapshot_password, sizeof(cfg->snapshot_password));
	OPENSSL_cleanse(cfg->admin_password, sizeof(cfg->admin_password));
}

static const struct setting *find_setting(const char *section, const char *key, size_t *index)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		if (strcmp(settings[i].section, section) == 0 && strcmp(settings[i].key, key) == 0) {
			*index = i;
			return &settings[i];
		}
	}
	return NULL;
}

static int line_of(const struct origin *o, const char *section, const char *key)
{
	size_t i;
	return find_setting(section, key, &i) ? o->line[i] : 0;
}

/* Checks that involve several keys; each error names the key it blames. */
static bool cross_check(const struct config *cfg, const struct origin *o, char *err, size_t errlen)
{
	if (cfg->client_tls != CLIENT_TLS_DISABLED && (!cfg->tls_cert[0] || !cfg->tls_key[0])) {
		const char *missing = !cfg->tls_cert[0] ? "tls_cert" : "tls_key";
		set_err(err, errlen, "%s:%d: [proxy] %s: required because client_tls = %s (set client_tls = disabled for plaintext only)",
			cfg->path, line_of(o, "proxy", "client_tls"), missing, config_client_tls_name(cfg->client_tls));
		return false;
	}
	if (!!cfg->upstream_tls_cert[0] != !!cfg->upstream_tls_key[0]) {
		const char *missing = !cfg->upstream_tls_cert[0] ? "tls_cert" : "tls_key";
		const char *given = cfg->upstream_tls_cert[0] ? "tls_cert" : "tls_key";
		set_err(err, errlen, "%s:%d: [upstream] %s: required when %s is set", cfg->path,
			line_of(o, "upstream", given), missing, given);
		return false;
	}
	if (cfg->has_pin && cfg->upstream_tls == UPSTREAM_TLS_DISABLED) {
		set_err(err, errlen, "%s:%d: [upstream] tls_pin_sha256: cannot be checked with tls = disabled", cfg->path,
			line_of(o, "upstream", "tls_pin_sha256"));
		return false;
	}
	if (!!cfg->health_user[0] != !!cfg->health_password_file[0]) {
		const char *missing = !cfg->health_user[0] ? "health_user" : "health_password_file";
		const char *given = cfg->health_user[0] ? "health_user" : "health_password_file";
		set_err(err, errlen, "%s:%d: [upstream] %s: required when %s is set", cfg->path,
			line_of(o, "upstream", given), missing, given);
		return false;
	}
	if (!!cfg->snapshot_user[0] != !!cfg->snapshot_password_file[0]) {
		const char *missing = !cfg->snapshot_user[0] ? "user" : "password_file";
		const char *given = cfg->snapshot_user[0] ? "user" : "password_file";
		set_err(err, errlen, "%s:%d: [snapshot] %s: required when %s is set", cfg->path,
			line_of(o, "snapshot", given), missing, given);
		return false;
	}
	if (cfg->journal_markers[0] && (!cfg->journal_dir[0] || !cfg->snapshot_user[0])) {
		set_err(err, errlen,
			"%s:%d: [journal] markers: needs [journal] dir and [snapshot] user (the account that reads the "
			"markers back at start)",
			cfg->path, line_of(o, "journal", "markers"));
		return false;
	}
	if (!!cfg->admin_user[0] != !!cfg->admin_password_file[0]) {
		const char *missing = !cfg->admin_user[0] ? "user" : "password_file";
		const char *given = cfg->admin_user[0] ? "user" : "password_file";
		set_err(err, errlen, "%s:%d: [admin] %s: required when %s is set", cfg->path, line_of(o, "admin", given),
			missing, given);
		return false;
	}
	if (cfg->admin_password_file[0] && !cfg->admin_password[0]) {
		set_err(err, errlen, "%s:%d: [admin] password_file: %s holds an empty password (the admin port never "
				     "takes one)",
			cfg->path, line_of(o, "admin", "password_file"), cfg->admin_password_file);
		return false;
	}
	if (!!cfg->admin_tls_cert[0] != !!cfg->admin_tls_key[0]) {
		const char *missing = !cfg->admin_tls_cert[0] ? "tls_cert" : "tls_key";
		const char *given = cfg->admin_tls_cert[0] ? "tls_cert" : "tls_key";
		set_err(err, errlen, "%s:%d: [admin] %s: required when %s is set", cfg->path, line_of(o, "admin", given),
			missing, given);
		return false;
	}
	if (cfg->admin_client_tls == CLIENT_TLS_REQUIRED && !cfg->admin_tls_cert[0]) {
		set_err(err, errlen, "%s:%d: [admin] tls_cert: required because client_tls = required", cfg->path,
			line_of(o, "admin", "client_tls"));
		return false;
	}
	if (cfg->snapshot_schedule.kind != CONFIG_SCHEDULE_OFF &&
	    (!cfg->snapshot_dir[0] || !cfg->snapshot_user[0] || !cfg->journal_dir[0])) {
		set_err(err, errlen,
			"%s:%d: [snapshot] schedule: needs [snapshot] dir and user and [journal] dir (a scheduled snapshot "
			"is the admin port's SNAPSHOT, cut with the journal)",
			cfg->path, line_of(o, "snapshot", "schedule"));
		return false;
	}
	if (cfg->snapshot_keep.kind != CONFIG_KEEP_ALL && !cfg->snapshot_dir[0]) {
		set_err(err, errlen, "%s:%d: [snapshot] keep: needs [snapshot] dir", cfg->path,
			line_of(o, "snapshot", "keep"));
		return false;
	}
	if (cfg->tls_client_ca[0] && cfg->client_tls != CLIENT_TLS_REQUIRED) {
		set_err(err, errlen,
			"%s:%d: [proxy] tls_client_ca: client certificates can only be enforced with client_tls = required",
			cfg->path, line_of(o, "proxy", "tls_client_ca"));
		return false;
	}
	return true;
}

bool config_load(const char *path, struct config *out, char *err, size_t errlen)
{
	config_defaults(out);
	if (strlen(path) >= sizeof(out->path)) {
		set_err(err, errlen, "config file path too long");
		return false;
	}
	strcpy(out->path, path);

	FILE *f = fopen(path, "r");
	if (!f) {
		set_err(err, errlen, "cannot open config file %s: %s", path, strerror(errno));
		return false;
	}

	struct origin origin = {{0}};
	char section[64] = "";
	char buf[8192], shown[SHOWN_MAX];
	int lineno = 0;
	bool ok = true;
	while (ok && fgets(buf, sizeof(buf), f)) {
		lineno++;
		if (!strchr(buf, '\n') && !feof(f)) {
			set_err(err, errlen, "%s:%d: line longer than %zu characters", path, lineno, sizeof(buf) - 2);
			ok = false;
			break;
		}
		char *line = trim(buf);
		if (*line == '\0' || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			char *close = strchr(line, ']');
			if (!close || close[1] != '\0' || (size_t)(close - line - 1) >= sizeof(section)) {
				set_err(err, errlen, "%s:%d: malformed section header '%s'", path, lineno,
					show(line, shown, sizeof(shown)));
				ok = false;
				break;
			}
			*close = '\0';
			strcpy(section, trim(line + 1));
			if (!section_known(section)) {
				char known[128];
				known_sections(known, sizeof(known));
				set_err(err, errlen, "%s:%d: unknown section [%s] (known: %s)", path, lineno,
					show(section, shown, sizeof(shown)), known);
				ok = false;
			}
			continue;
		}
		char *eq = strchr(line, '=');
		if (!eq) {
			set_err(err, errlen, "%s:%d: expected 'key = value', got '%s'", path, lineno,
				show(line, shown, sizeof(shown)));
			ok = false;
			break;
		}
		*eq = '\0';
		char *key = trim(line);
		char *value = eq + 1;
		/* A comment after a value needs whitespace before it, so values
		 * may still contain ';' or '#' (cipher strings, paths). */
		for (char *c = value; *c; c++) {
			if ((*c == ';' || *c == '#') && c > value && isspace((unsigned char)c[-1])) {
				*c = '\0';
				break;
			}
		}
		value = trim(value);
		if (!section[0]) {
			set_err(err, errlen, "%s:%d: key '%s' before any [section]", path, lineno,
				show(key, shown, sizeof(shown)));
			ok = false;
			break;
		}
		size_t idx;
		const struct setting *s = find_setting(section, key, &idx);
		if (!s) {
			set_err(err, errlen, "%s:%d: [%s] %s: unknown key", path, lineno, section,
				show(key, shown, sizeof(shown)));
			ok = false;
			break;
		}
		if (origin.line[idx]) {
			set_err(err, errlen, "%s:%d: [%s] %s: already set on line %d", path, lineno, section, key,
				origin.line[idx]);
			ok = false;
			break;
		}
		char why[512];
		if (!apply(s, out, value, why, sizeof(why))) {
			set_err(err, errlen, "%s:%d: [%s] %s: %s", path, lineno, section, key, why);
			ok = false;
			break;
		}
		origin.line[idx] = lineno;
	}
	if (ok && ferror(f)) {
		set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
		ok = false;
	}
	fclose(f);
	return ok && cross_check(out, &origin, err, errlen);
}

void config_keep_restart_only(struct config *fresh, const struct config *running)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings[i];
		if (s->reloadable)
			continue;
		void *dst = (char *)fresh + s->offset;
		const void *src = (const char *)running + s->offset;
		if (memcmp(dst, src, s->size) != 0) {
			log_warning("reload: [%s] %s changed in %s but takes effect only after a restart; keeping the running value",
				    s->section, s->key, fresh->path);
			memcpy(dst, src, s->size);
		}
	}
}

bool config_key_at(size_t i, const char **section, const char **key)
{
	if (i >= NSETTINGS)
		return false;
	*section = settings[i].section;
	*key = settings[i].key;
	return true;
}

bool config_value_at(size_t i, const struct config *cfg, char *buf, size_t len, bool *reloadable)
{
	if (i >= NSETTINGS)
		return false;
	const struct setting *s = &settings[i];
	const void *field = (const char *)cfg + s->offset;
	*reloadable = s->reloadable;
	buf[0] = '\0';
	switch (s->type) {
	case T_INT:
		snprintf(buf, len, "%d", *(const int *)field);
		break;
	case T_SIZE:
		snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field);
		break;
	case T_DURATION:
		snprintf(buf, len, "%llds", (long long)*(const int64_t *)field);
		break;
	case T_BOOL:
		snprintf(buf, len, "%s", *(const bool *)field ? "on" : "off");
		break;
	case T_STRING:
	case T_PATH:
	case T_HOST:
	case T_CIPHERS:
	case T_CIPHERSUITES:
	case T_IDENT:
	case T_NAMESERVER:
		snprintf(buf, len, "%s", (const char *)field);
		break;
	case T_PASSWORD_FILE:
		snprintf(buf, len, "%s", ((const char *)cfg + s->secret)[0] ? "(set)" : "");
		break;
	case T_ENUM:
		snprintf(buf, len, "%s", s->names[*(const int *)field]);
		break;
	case T_ENDPOINT:
		config_endpoint_name(field, buf, len);
		break;
	case T_SERVERS: {
		size_t used = 0;
		for (int k = 0; k < cfg->nservers && used + 1 < len; k++) {
			char name[CONFIG_ENDPOINT_NAME_MAX];
			config_endpoint_name(&cfg->servers[k], name, sizeof(name));
			int n = snprintf(buf + used, len - used, "%s%s", k ? "," : "", name);
			if (n < 0)
				break;
			used += (size_t)n;
		}
		break;
	}
	case T_LOGLEVEL:
		snprintf(buf, len, "%s", log_level_name(*(const enum log_level *)field));
		break;
	case T_SCHEDULE:
		config_schedule_name(field, buf, len);
		break;
	case T_KEEP:
		config_keep_name(field, buf, len);
		break;
	case T_PIN:
		if (cfg->has_pin)
			for (size_t k = 0; k < 32 && 2 * k + 2 < len; k++)
				snprintf(buf + 2 * k, len - 2 * k, "%02x", ((const uint8_t *)field)[k]);
		break;
	}
	return true;
}

void config_endpoint_name(const struct config_endpoint *ep, char *buf, size_t len)
{
	snprintf(buf, len, strchr(ep->host, ':') ? "[%s]:%u" : "%s:%u", ep->host, (unsigned)ep->port);
}

void config_schedule_name(const struct config_schedule *s, char *buf, size_t len)
{
	char every[24];
	switch (s->kind) {
	case CONFIG_SCHEDULE_DAILY:
		snprintf(buf, len, "daily %02d:%02d", (int)(s->seconds / 3600), (int)(s->seconds % 3600 / 60));
		return;
	case CONFIG_SCHEDULE_EVERY:
		format_duration(s->seconds, every, sizeof(every));
		snprintf(buf, len, "every %s", every);
		return;
	case CONFIG_SCHEDULE_OFF:
		break;
	}
	snprintf(buf, len, "off");
}

void config_keep_name(const struct config_keep *k, char *buf, size_t len)
{
	switch (k->kind) {
	case CONFIG_KEEP_COUNT:
		snprintf(buf, len, "%lld", (long long)k->n);
		return;
	case CONFIG_KEEP_AGE:
		format_duration(k->n, buf, len);
		return;
	case CONFIG_KEEP_ALL:
		break;
	}
	snprintf(buf, len, "all");
}

int64_t config_schedule_period(const struct config_schedule *s)
{
	switch (s->kind) {
	case CONFIG_SCHEDULE_DAILY:
		return 86400;
	case CONFIG_SCHEDULE_EVERY:
		return s->seconds;
	case CONFIG_SCHEDULE_OFF:
		break;
	}
	return 0;
}

/* The epoch's days are UTC days (POSIX time has no leap seconds), so a
 * day's start is a multiple of 86400. */
int64_t config_schedule_next(const struct config_schedule *s, int64_t now)
{
	switch (s->kind) {
	case CONFIG_SCHEDULE_DAILY: {
		int64_t at = now - now % 86400 + s->seconds;
		return at > now ? at : at + 86400;
	}
	case CONFIG_SCHEDULE_EVERY:
		return (now / s->seconds + 1) * s->seconds;
	case CONFIG_SCHEDULE_OFF:
		break;
	}
	return 0;
}

const char *config_client_tls_name(enum client_tls_mode m) { return client_tls_names[m]; }

const char *config_upstream_tls_name(enum upstream_tls_mode m) { return upstream_tls_names[m]; }
