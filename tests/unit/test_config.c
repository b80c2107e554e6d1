/*
 * test_config.c - the configuration parser: every bad input is refused with
 * the file, line, section and key named; the shipped conf/acctgate.conf
 * documents every key and parses to the defaults.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "snapshot.h"

static char tmp_path[64];

/* Write `text` to a temporary file and load it. */
static bool load_text(const char *text, struct config *cfg, char *err, size_t errlen)
{
	strcpy(tmp_path, "/tmp/acctgate-test-XXXXXX");
	int fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	bool ok = config_load(tmp_path, cfg, err, errlen);
	unlink(tmp_path);
	return ok;
}

/* Expect a refusal whose message, after the file name, is exactly `want`. */
static void expect_error(const char *text, const char *want)
{
	struct config cfg;
	char err[1024] = "";
	assert_false(load_text(text, &cfg, err, sizeof(err)));
	size_t n = strlen(tmp_path);
	assert_memory_equal(err, tmp_path, n);
	assert_string_equal(err + n, want);
}

#define PLAIN "[proxy]\nclient_tls = disabled\n"

static void test_unknown_key(void **state)
{
	expect_error(PLAIN "lisen = 127.0.0.1:1\n", ":3: [proxy] lisen: unknown key");
}

static void test_unknown_section(void **state)
{
	expect_error("[proxi]\n", ":1: unknown section [proxi] (known: [proxy], [upstream], [journal], [snapshot], [admin], [digests], [throttle])");
}

static void test_key_before_section(void **state)
{
	expect_error("threads = 2\n", ":1: key 'threads' before any [section]");
}

static void test_bad_int(void **state)
{
	expect_error(PLAIN "threads = many\n", ":3: [proxy] threads: expected an integer from 1 to 256, got 'many'");
	expect_error(PLAIN "threads = 0\n", ":3: [proxy] threads: expected an integer from 1 to 256, got '0'");
}

static void test_bad_enum(void **state)
{
	expect_error(PLAIN "[upstream]\ntls = maybe\n",
		     ":4: [upstream] tls: expected one of disabled | preferred | required | verify_ca | verify_identity, got 'maybe'");
	expect_error(PLAIN "[admin]\nauth = sha1\n", ":4: [admin] auth: expected one of any | native | ed25519, got 'sha1'");
}

static void test_duplicate_key(void **state)
{
	expect_error(PLAIN "threads = 2\nthreads = 3\n", ":4: [proxy] threads: already set on line 3");
}

static void test_bad_endpoint(void **state)
{
	expect_error(PLAIN "listen = localhost\n", ":3: [proxy] listen: expected host:port, got 'localhost'");
	expect_error(PLAIN "[upstream]\nservers = db1:3306, db2:99999\n",
		     ":4: [upstream] servers: server 2: port must be a number from 1 to 65535, got 'db2:99999'");
}

static void test_not_key_value(void **state)
{
	expect_error(PLAIN "threads\n", ":3: expected 'key = value', got 'threads'");
}

static void test_tls_needs_cert(void **state)
{
	expect_error("[proxy]\nclient_tls = required\n",
		     ":2: [proxy] tls_cert: required because client_tls = required (set client_tls = disabled for plaintext only)");
}

/* Settings that only make sense together: each half alone is refused at
 * the line of the half that was given. */
static void test_pairs(void **state)
{
	expect_error(PLAIN "[upstream]\ntls_cert = /etc/acctgate/client.pem\n",
		     ":4: [upstream] tls_key: required when tls_cert is set");
	expect_error(PLAIN "[upstream]\ntls_key = /etc/acctgate/client.key\n",
		     ":4: [upstream] tls_cert: required when tls_key is set");
	expect_error(PLAIN "[upstream]\nhealth_user = probe\n",
		     ":4: [upstream] health_password_file: required when health_user is set");
	expect_error(PLAIN "[upstream]\ntls = disabled\ntls_pin_sha256 = "
			   "0000000000000000000000000000000000000000000000000000000000000000\n",
		     ":5: [upstream] tls_pin_sha256: cannot be checked with tls = disabled");
	expect_error("[proxy]\nclient_tls = optional\ntls_cert = /c.pem\ntls_key = /k.pem\ntls_client_ca = /ca.pem\n",
		     ":5: [proxy] tls_client_ca: client certificates can only be enforced with client_tls = required");
	expect_error(PLAIN "[admin]\nuser = admin\n", ":4: [admin] password_file: required when user is set");
	expect_error(PLAIN "[admin]\npassword_file = /nonexistent\n",
		     ":4: [admin] password_file: cannot read /nonexistent: No such file or directory");
	expect_error(PLAIN "[admin]\ntls_cert = /c.pem\n", ":4: [admin] tls_key: required when tls_cert is set");
	expect_error(PLAIN "[admin]\nclient_tls = required\n",
		     ":4: [admin] tls_cert: required because client_tls = required");
}

static void test_bad_pin(void **state)
{
	expect_error(PLAIN "[upstream]\ntls_pin_sha256 = abc\n",
		     ":4: [upstream] tls_pin_sha256: expected the SHA-256 of the server's public key as 64 hex digits or base64, got 'abc'");
}

/* Checked where the file is parsed, so the line is named, and whether
 * client TLS is on or not; the other version's names are the usual mistake. */
static void test_bad_cipher_lists(void **state)
{
	expect_error(PLAIN "tls_ciphers = BOGUS\n",
		     ":3: [proxy] tls_ciphers: expected an OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites go in tls_ciphersuites): no cipher match, got 'BOGUS'");
	expect_error(PLAIN "tls_ciphers = TLS_AES_256_GCM_SHA384\n",
		     ":3: [proxy] tls_ciphers: expected an OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites go in tls_ciphersuites): no cipher match, got 'TLS_AES_256_GCM_SHA384'");
	expect_error(PLAIN "tls_ciphersuites = BOGUS\n",
		     ":3: [proxy] tls_ciphersuites: expected TLS 1.3 suites such as TLS_AES_256_GCM_SHA384 (TLS 1.2 ciphers go in tls_ciphers): no cipher match, got 'BOGUS'");
	expect_error(PLAIN "tls_ciphersuites = ECDHE-RSA-AES256-GCM-SHA384\n",
		     ":3: [proxy] tls_ciphersuites: expected TLS 1.3 suites such as TLS_AES_256_GCM_SHA384 (TLS 1.2 ciphers go in tls_ciphers): no cipher match, got 'ECDHE-RSA-AES256-GCM-SHA384'");
}

static void test_bad_size(void **state)
{
	expect_error(PLAIN "max_command_size = 2T\n",
		     ":3: [proxy] max_command_size: expected a size from 1024 to 1073741824 bytes (K, M, G suffixes allowed), got '2T'");
}

/* [snapshot] chunk_rows: its default (the offline tool's too), 0 = never
 * chunk, and its bounds. */
static void test_snapshot_chunk_rows(void **state)
{
	struct config cfg;
	char err[1024] = "";
	assert_true(load_text(PLAIN, &cfg, err, sizeof(err)));
	assert_int_equal(cfg.snapshot_chunk_rows, SNAPSHOT_CHUNK_ROWS);
	assert_true(load_text(PLAIN "[snapshot]\nchunk_rows = 0\n", &cfg, err, sizeof(err)));
	assert_int_equal(cfg.snapshot_chunk_rows, 0);
	assert_true(load_text(PLAIN "[snapshot]\nchunk_rows = 500\n", &cfg, err, sizeof(err)));
	assert_int_equal(cfg.snapshot_chunk_rows, 500);
	expect_error(PLAIN "[snapshot]\nchunk_rows = -1\n",
		     ":4: [snapshot] chunk_rows: expected an integer from 0 to 1000000000, got '-1'");
	expect_error(PLAIN "[snapshot]\nchunk_rows = 2000000000\n",
		     ":4: [snapshot] chunk_rows: expected an integer from 0 to 1000000000, got '2000000000'");
}

/* [journal]: durations with their suffixes, the enums, and what a bad
 * duration is told. */
static void test_journal_keys(void **state)
{
	struct config cfg;
	char err[1024] = "";
	assert_true(load_text(PLAIN "[journal]\ndir = /var/lib/acctgate/journal\nfsync = everysec\nretention = 12h\n"
				    "on_error = continue\nsegment_size = 8M\n",
			      &cfg, err, sizeof(err)));
	assert_string_equal(cfg.journal_dir, "/var/lib/acctgate/journal");
	assert_int_equal(cfg.journal_fsync, 1);
	assert_int_equal(cfg.journal_retention, 12 * 3600);
	assert_int_equal(cfg.journal_on_error, JOURNAL_ON_ERROR_CONTINUE);
	assert_int_equal(cfg.journal_segment_size, 8u << 20);
	config_defaults(&cfg);
	assert_int_equal(cfg.journal_retention, 7 * 86400);
	assert_string_equal(cfg.journal_dir, "");
	expect_error(PLAIN "[journal]\ndir = /j\nmarkers = acctgate\n",
		     ":5: [journal] markers: needs [journal] dir and [snapshot] user (the account that reads the markers "
		     "back at start)");
	expect_error(PLAIN "[journal]\nmarkers = acct-gate\n",
		     ":4: [journal] markers: expected a database name of letters, digits, _ and $ (at most 64), got "
		     "'acct-gate'");
	expect_error(PLAIN "[snapshot]\nuser = acctgate\n", ":4: [snapshot] password_file: required when user is set");
	expect_error(PLAIN "[journal]\nretention = 2w\n",
		     ":4: [journal] retention: expected a duration from 0 to 316224000 seconds (s, m, h, d suffixes "
		     "allowed), got '2w'");
}

/* [snapshot] schedule and keep: each spelling, what SHOW CONFIG writes
 * back, the schedule's next times, and each refusal naming key and line. */
static char snap_pw[] = "/tmp/acctgate-test-pw-XXXXXX";

/* A file whose [snapshot] key on line 9 is `line` (after what a schedule
 * needs: [journal] dir, [snapshot] user, password_file and dir). */
static void snap_text(char *out, size_t len, const char *line)
{
	snprintf(out, len, PLAIN "[journal]\ndir = /j\n[snapshot]\nuser = acctgate\npassword_file = %s\ndir = /s\n%s\n",
		 snap_pw, line);
}

static void expect_schedule(const char *value, int kind, int64_t seconds, const char *name)
{
	struct config cfg;
	char err[1024] = "", line[128], text[512], buf[CONFIG_SCHEDULE_NAME_MAX];
	snprintf(line, sizeof(line), "schedule = %s", value);
	snap_text(text, sizeof(text), line);
	if (!load_text(text, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg.snapshot_schedule.kind, kind);
	assert_int_equal(cfg.snapshot_schedule.seconds, seconds);
	config_schedule_name(&cfg.snapshot_schedule, buf, sizeof(buf));
	assert_string_equal(buf, name);
}

static void expect_keep(const char *value, int kind, int64_t n, const char *name)
{
	struct config cfg;
	char err[1024] = "", line[128], text[512], buf[CONFIG_SCHEDULE_NAME_MAX];
	snprintf(line, sizeof(line), "keep = %s", value);
	snap_text(text, sizeof(text), line);
	if (!load_text(text, &cfg, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(cfg.snapshot_keep.kind, kind);
	assert_int_equal(cfg.snapshot_keep.n, n);
	config_keep_name(&cfg.snapshot_keep, buf, sizeof(buf));
	assert_string_equal(buf, name);
}

static void test_snapshot_schedule_keep(void **state)
{
	int fd = mkstemp(snap_pw);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "pw\n", 3), 3);
	close(fd);
	struct config cfg;
	config_defaults(&cfg);
	assert_int_equal(cfg.snapshot_schedule.kind, CONFIG_SCHEDULE_OFF);
	assert_int_equal(cfg.snapshot_keep.kind, CONFIG_KEEP_ALL);
	expect_schedule("off", CONFIG_SCHEDULE_OFF, 0, "off");
	expect_schedule("daily 03:00", CONFIG_SCHEDULE_DAILY, 3 * 3600, "daily 03:00");
	expect_schedule("daily  7:05", CONFIG_SCHEDULE_DAILY, 7 * 3600 + 5 * 60, "daily 07:05");
	expect_schedule("daily 23:59", CONFIG_SCHEDULE_DAILY, 23 * 3600 + 59 * 60, "daily 23:59");
	expect_schedule("every 6h", CONFIG_SCHEDULE_EVERY, 6 * 3600, "every 6h");
	expect_schedule("every 30m", CONFIG_SCHEDULE_EVERY, 1800, "every 30m");
	expect_schedule("every 90m", CONFIG_SCHEDULE_EVERY, 5400, "every 90m");
	expect_schedule("every 5s", CONFIG_SCHEDULE_EVERY, 5, "every 5s");
	expect_schedule("every 120", CONFIG_SCHEDULE_EVERY, 120, "every 2m");
	expect_schedule("every 7d", CONFIG_SCHEDULE_EVERY, 7 * 86400, "every 7d");
	expect_keep("all", CONFIG_KEEP_ALL, 0, "all");
	expect_keep("7", CONFIG_KEEP_COUNT, 7, "7");
	expect_keep("1", CONFIG_KEEP_COUNT, 1, "1");
	expect_keep("14d", CONFIG_KEEP_AGE, 14 * 86400, "14d");
	expect_keep("36h", CONFIG_KEEP_AGE, 36 * 3600, "36h");
	expect_keep("90s", CONFIG_KEEP_AGE, 90, "90s");

	static const char *const bad_schedules[] = {"daily",	 "daily 3",  "daily 24:00", "daily 03:60", "daily 03:0",
						    "daily 03:00x", "Daily 03:00", "every",	    "every 0s",	   "every 5w",
						    "every -5m",    "every 367d", "hourly",	    "every5m"};
	for (size_t i = 0; i < sizeof(bad_schedules) / sizeof(bad_schedules[0]); i++) {
		char line[128], text[512], want[512];
		snprintf(line, sizeof(line), "schedule = %s", bad_schedules[i]);
		snap_text(text, sizeof(text), line);
		snprintf(want, sizeof(want),
			 ":9: [snapshot] schedule: expected off, 'daily HH:MM' (UTC) or 'every N' with an s, m, h or d "
			 "suffix (1s to 366d), got '%s'",
			 bad_schedules[i]);
		expect_error(text, want);
	}
	static const char *const bad_keeps[] = {"0", "100001", "none", "14w", "0d", "-3", "7 d", "d", ""};
	for (size_t i = 0; i < sizeof(bad_keeps) / sizeof(bad_keeps[0]); i++) {
		char line[128], text[512], want[512];
		snprintf(line, sizeof(line), "keep = %s", bad_keeps[i]);
		snap_text(text, sizeof(text), line);
		snprintf(want, sizeof(want),
			 ":9: [snapshot] keep: expected all, a count from 1 to 100000, or an age with an s, m, h or d "
			 "suffix (14d), got '%s'",
			 bad_keeps[i]);
		expect_error(text, want);
	}
	/* What a schedule needs, at its own line. */
	expect_error(PLAIN "[snapshot]\nschedule = every 6h\n",
		     ":4: [snapshot] schedule: needs [snapshot] dir and user and [journal] dir (a scheduled snapshot is "
		     "the admin port's SNAPSHOT, cut with the journal)");
	char text[512];
	snprintf(text, sizeof(text), PLAIN "[snapshot]\nuser = acctgate\npassword_file = %s\ndir = /s\n\nschedule = daily 03:00\n",
		 snap_pw);
	expect_error(text, ":8: [snapshot] schedule: needs [snapshot] dir and user and [journal] dir (a scheduled "
			   "snapshot is the admin port's SNAPSHOT, cut with the journal)");
	expect_error(PLAIN "[snapshot]\nkeep = 7\n", ":4: [snapshot] keep: needs [snapshot] dir");
	snap_text(text, sizeof(text), "keep = 7\nkeep = 8");
	expect_error(text, ":10: [snapshot] keep: already set on line 9");
	unlink(snap_pw);
}

/* The scheduled times: daily at its UTC time, today or tomorrow; every N
 * at multiples of N since the epoch; always strictly after now. */
static void test_schedule_next(void **state)
{
	const int64_t day = 20000 * 86400LL; /* a UTC midnight */
	struct config_schedule daily = {CONFIG_SCHEDULE_DAILY, 3 * 3600};
	assert_int_equal(config_schedule_next(&daily, day), day + 3 * 3600);
	assert_int_equal(config_schedule_next(&daily, day + 3 * 3600 - 1), day + 3 * 3600);
	assert_int_equal(config_schedule_next(&daily, day + 3 * 3600), day + 86400 + 3 * 3600);
	assert_int_equal(config_schedule_next(&daily, day + 23 * 3600), day + 86400 + 3 * 3600);
	assert_int_equal(config_schedule_period(&daily), 86400);
	struct config_schedule midnight = {CONFIG_SCHEDULE_DAILY, 0};
	assert_int_equal(config_schedule_next(&midnight, day), day + 86400);
	assert_int_equal(config_schedule_next(&midnight, day - 1), day);
	struct config_schedule every = {CONFIG_SCHEDULE_EVERY, 6 * 3600};
	assert_int_equal(config_schedule_next(&every, day), day + 6 * 3600);
	assert_int_equal(config_schedule_next(&every, day + 5 * 3600), day + 6 * 3600);
	assert_int_equal(config_schedule_next(&every, day + 18 * 3600), day + 86400);
	assert_int_equal(config_schedule_period(&every), 6 * 3600);
	struct config_schedule odd = {CONFIG_SCHEDULE_EVERY, 7};
	assert_int_equal(config_schedule_next(&odd, 700), 707);
	assert_int_equal(config_schedule_next(&odd, 706), 707);
	struct config_schedule off = {CONFIG_SCHEDULE_OFF, 0};
	assert_int_equal(config_schedule_next(&off, day), 0);
	assert_int_equal(config_schedule_period(&off), 0);
}

static void test_missing_file(void **state)
{
	struct config cfg;
	char err[512];
	assert_false(config_load("/nonexistent/acctgate.conf", &cfg, err, sizeof(err)));
	assert_string_equal(err, "cannot open config file /nonexistent/acctgate.conf: No such file or directory");
}

static void test_values_and_comments(void **state)
{
	struct config cfg;
	char err[512] = "";
	assert_true(load_text("; comment\n[proxy]\nclient_tls = disabled ; inline\nlisten = [::1]:7000\n"
			      "max_command_size = 16M\ntls_ciphers = ECDHE-RSA-AES256-GCM-SHA384:!aNULL\n"
			      "tls_ciphersuites = TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256\n"
			      "[upstream]\nservers = db1.example:3306 , 10.0.0.2:3307\n"
			      "tls_pin_sha256 = sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
			      &cfg, err, sizeof(err)));
	assert_string_equal(cfg.listen.host, "::1");
	assert_int_equal(cfg.listen.port, 7000);
	assert_int_equal(cfg.max_command_size, 16u << 20);
	assert_string_equal(cfg.tls_ciphers, "ECDHE-RSA-AES256-GCM-SHA384:!aNULL");
	assert_string_equal(cfg.tls_ciphersuites, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
	assert_int_equal(cfg.nservers, 2);
	assert_string_equal(cfg.servers[0].host, "db1.example");
	assert_string_equal(cfg.servers[1].host, "10.0.0.2");
	assert_int_equal(cfg.servers[1].port, 3307);
	assert_true(cfg.has_pin);
	/* sha256 of the empty string, e3b0c442... */
	assert_int_equal(cfg.upstream_tls_pin_sha256[0], 0xe3);
	assert_int_equal(cfg.upstream_tls_pin_sha256[31], 0x55);
	assert_int_equal(cfg.upstream_tls, UPSTREAM_TLS_VERIFY_IDENTITY); /* the secure default */
}

/* A reload's error goes to the log: file text quoted in it has its control
 * bytes escaped, so a value cannot forge a log line or hide in one. */
static void test_quoted_text_escaped(void **state)
{
	expect_error(PLAIN "threads = 2\x1b[2J\n",
		     ":3: [proxy] threads: expected an integer from 1 to 256, got '2\\x1b[2J'");
	expect_error(PLAIN "lis\x01ten = 1\n", ":3: [proxy] lis\\x01ten: unknown key");
	expect_error(PLAIN "servers\x7f\n", ":3: expected 'key = value', got 'servers\\x7f'");
	expect_error("[upstream]\nservers = a:1, b:x\rc\n",
		     ":2: [upstream] servers: server 2: port must be a number from 1 to 65535, got 'b:x\\x0dc'");
}

/* One spelling of a server's name: the log's and the upstream pool's key. */
static void test_endpoint_name(void **state)
{
	char name[CONFIG_ENDPOINT_NAME_MAX];
	struct config_endpoint ep = {"db1.example", 3306};
	config_endpoint_name(&ep, name, sizeof(name));
	assert_string_equal(name, "db1.example:3306");
	ep = (struct config_endpoint){"10.0.0.2", 3307};
	config_endpoint_name(&ep, name, sizeof(name));
	assert_string_equal(name, "10.0.0.2:3307");
	ep = (struct config_endpoint){"fe80::1", 65535};
	config_endpoint_name(&ep, name, sizeof(name));
	assert_string_equal(name, "[fe80::1]:65535");
	/* The longest host still fits whole. */
	memset(ep.host, 'h', sizeof(ep.host) - 1);
	ep.host[sizeof(ep.host) - 1] = '\0';
	ep.host[0] = ':';
	config_endpoint_name(&ep, name, sizeof(name));
	assert_int_equal(strlen(name), 1 + (sizeof(ep.host) - 1) + 2 + 5);
	assert_string_equal(name + strlen(name) - 9, "hh]:65535");
}

/* The health password is read from its file's first line, and
 * config_wipe_secrets leaves nothing of it in the struct. */
static void test_health_password_wiped(void **state)
{
	char pw_path[] = "/tmp/acctgate-test-pw-XXXXXX";
	int fd = mkstemp(pw_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s3cret-health\nsecond line\n", 27), 27);
	close(fd);
	char text[256];
	snprintf(text, sizeof(text), PLAIN "[upstream]\nhealth_user = probe\nhealth_password_file = %s\n", pw_path);
	struct config cfg;
	char err[512] = "";
	bool ok = load_text(text, &cfg, err, sizeof(err));
	unlink(pw_path);
	if (!ok)
		fail_msg("%s", err);
	assert_string_equal(cfg.health_password, "s3cret-health");

	config_wipe_secrets(&cfg);
	static const char zeros[sizeof(cfg.health_password)];
	assert_memory_equal(cfg.health_password, zeros, sizeof(zeros));
	assert_string_equal(cfg.health_user, "probe"); /* only the secret goes */
}

/* The admin password lands in its own field (not the health one), an
 * empty one is refused, SHOW CONFIG's values show it only as "(set)", and
 * config_wipe_secrets clears it. */
static void test_admin_password(void **state)
{
	char pw_path[] = "/tmp/acctgate-test-pw-XXXXXX";
	int fd = mkstemp(pw_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "adm1n-secret\n", 13), 13);
	close(fd);
	char text[512];
	snprintf(text, sizeof(text), PLAIN "[admin]\nuser = admin\npassword_file = %s\nlisten = 127.0.0.1:7032\n",
		 pw_path);
	struct config cfg;
	char err[512] = "";
	bool ok = load_text(text, &cfg, err, sizeof(err));
	if (!ok) {
		unlink(pw_path);
		fail_msg("%s", err);
	}
	assert_string_equal(cfg.admin_password, "adm1n-secret");
	assert_int_equal(cfg.admin_auth, ADMIN_AUTH_ANY); /* the default */
	assert_string_equal(cfg.health_password, "");
	assert_string_equal(cfg.snapshot_password, "");
	const char *section, *key;
	bool seen_pw = false, seen_listen = false;
	for (size_t i = 0; config_key_at(i, &section, &key); i++) {
		char value[4096];
		bool reloadable;
		assert_true(config_value_at(i, &cfg, value, sizeof(value), &reloadable));
		assert_null(strstr(value, "adm1n"));
		if (strcmp(section, "admin") == 0 && strcmp(key, "password_file") == 0) {
			assert_string_equal(value, "(set)");
			assert_true(reloadable);
			seen_pw = true;
		}
		if (strcmp(section, "admin") == 0 && strcmp(key, "listen") == 0) {
			assert_string_equal(value, "127.0.0.1:7032");
			assert_false(reloadable);
			seen_listen = true;
		}
	}
	assert_true(seen_pw && seen_listen);
	config_wipe_secrets(&cfg);
	static const char zeros[sizeof(cfg.admin_password)];
	assert_memory_equal(cfg.admin_password, zeros, sizeof(zeros));

	fd = open(pw_path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	assert_false(load_text(text, &cfg, err, sizeof(err)));
	unlink(pw_path);
	assert_non_null(strstr(err, "[admin] password_file: "));
	assert_non_null(strstr(err, "holds an empty password"));
}

/* conf/acctgate.conf parses, documents every key, and states the defaults
 * (but for the example certificate paths). */
static void test_shipped_conf(void **state)
{
	struct config shipped, defaults;
	char err[1024] = "";
	if (!config_load(ACCTGATE_CONF, &shipped, err, sizeof(err)))
		fail_msg("%s", err);
	config_defaults(&defaults);
	memcpy(defaults.path, shipped.path, sizeof(defaults.path));
	memcpy(defaults.tls_cert, shipped.tls_cert, sizeof(defaults.tls_cert));
	memcpy(defaults.tls_key, shipped.tls_key, sizeof(defaults.tls_key));
	assert_memory_equal(&shipped, &defaults, sizeof(shipped));

	FILE *f = fopen(ACCTGATE_CONF, "r");
	assert_non_null(f);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	const char *section, *key;
	for (size_t i = 0; config_key_at(i, &section, &key); i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "\n%s =", key);
		if (!strstr(text, needle))
			fail_msg("conf/acctgate.conf does not document [%s] %s", section, key);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_key),	  cmocka_unit_test(test_unknown_section),
		cmocka_unit_test(test_key_before_section), cmocka_unit_test(test_bad_int),
		cmocka_unit_test(test_bad_enum),	  cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_bad_endpoint),	  cmocka_unit_test(test_not_key_value),
		cmocka_unit_test(test_tls_needs_cert),
		cmocka_unit_test(test_pairs),	  cmocka_unit_test(test_bad_pin),
		cmocka_unit_test(test_bad_cipher_lists),  cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_missing_file),	  cmocka_unit_test(test_values_and_comments),
		cmocka_unit_test(test_shipped_conf),	  cmocka_unit_test(test_health_password_wiped),
		cmocka_unit_test(test_quoted_text_escaped),
		cmocka_unit_test(test_endpoint_name),	  cmocka_unit_test(test_journal_keys),
		cmocka_unit_test(test_admin_password),	  cmocka_unit_test(test_snapshot_schedule_keep),
		cmocka_unit_test(test_schedule_next),	  cmocka_unit_test(test_snapshot_chunk_rows),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
