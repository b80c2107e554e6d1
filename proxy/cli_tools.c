/*
 * cli_tools.c - the offline subcommands' command lines:
 *
 *   acctgate journal verify [-c FILE] [DIR]
 *   acctgate journal cat [-c FILE] [DIR] [--from-seq N] [--until-seq N | --until-time T]
 *   acctgate replay [-c FILE] [--journal DIR] --target HOST:PORT --user U --password-file F
 *                   [--from-seq N] [--until-seq N | --until-time T]
 *                   [--tls disabled|required|verify_identity] [--tls-ca F] [--tls-cert F --tls-key F]
 *   acctgate snapshot [-c FILE] --out DIR [--databases a,b] [--threads N] [--chunk-rows N]
 *                   --target ... (as replay)
 *   acctgate restore [-c FILE] --snapshot DIR [--journal DIR] [--until-seq N | --until-time T]
 *                   [--into-database NAME] [--threads N] --target ... (as replay)
 *
 * -c FILE takes the journal directory and the [upstream] TLS settings from
 * acctgate's configuration; flags override it. The work itself is in
 * snapshot/ (journal_tools.c, replay.c), which knows nothing of the
 * configuration file.
 */
#include "cli_tools.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "gate.h"
#include "journal_tools.h"
#include "replay.h"
#include "snapshot.h"

enum {
	OPT_FROM_SEQ = 256,
	OPT_UNTIL_SEQ,
	OPT_UNTIL_TIME,
	OPT_JOURNAL,
	OPT_TARGET,
	OPT_USER,
	OPT_PASSWORD_FILE,
	OPT_TLS,
	OPT_TLS_CA,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_NO_PROGRESS,
	OPT_OUT,
	OPT_DATABASES,
	OPT_THREADS,
	OPT_SNAPSHOT,
	OPT_INTO_DATABASE,
	OPT_CHUNK_ROWS,
};

static bool parse_u64(const char *flag, const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-') {
		fprintf(stderr, "acctgate: %s: expected a sequence number, got '%s'\n", flag, v);
		return false;
	}
	*out = n;
	return true;
}

/* A configuration for -c FILE, loaded once; NULL with a message when it
 * cannot be. */
static struct config *load_config(const char *path)
{
	struct config *cfg = malloc(sizeof(*cfg));
	char err[1024];
	if (!cfg) {
		fprintf(stderr, "acctgate: out of memory\n");
		return NULL;
	}
	if (!config_load(path, cfg, err, sizeof(err))) {
		fprintf(stderr, "acctgate: %s\n", err);
		free(cfg);
		return NULL;
	}
	return cfg;
}

static void free_config(struct config *cfg)
{
	if (!cfg)
		return;
	config_wipe_secrets(cfg);
	free(cfg);
}

/* The options shared by cat and replay: the range. */
static bool range_option(int c, const char *arg, struct journal_walk_range *range)
{
	switch (c) {
	case OPT_FROM_SEQ:
		return parse_u64("--from-seq", arg, &range->from_seq);
	case OPT_UNTIL_SEQ:
		return parse_u64("--until-seq", arg, &range->until_seq);
	case OPT_UNTIL_TIME:
		if (!journal_parse_time(arg, &range->until_time_usec)) {
			fprintf(stderr,
				"acctgate: --until-time: expected 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) or @EPOCH, got "
				"'%s'\n",
				arg);
			return false;
		}
		return true;
	default:
		return false;
	}
}

static void journal_usage(FILE *to)
{
	fprintf(to, "usage: acctgate journal verify [-c FILE] [DIR]\n"
		    "       acctgate journal cat [-c FILE] [DIR] [--from-seq N] [--until-seq N | --until-time T]\n"
		    "  DIR defaults to [journal] dir of -c FILE; T is 'YYYY-MM-DD HH:MM:SS[.ffffff]' (UTC) or @EPOCH\n");
}

int cli_journal(int argc, char **argv)
{
	if (argc < 2 || (strcmp(argv[1], "verify") != 0 && strcmp(argv[1], "cat") != 0)) {
		journal_usage(stderr);
		return 2;
	}
	bool cat = strcmp(argv[1], "cat") == 0;
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},	  {"from-seq", required_argument, NULL, OPT_FROM_SEQ},
		{"until-seq", required_argument, NULL, OPT_UNTIL_SEQ}, {"until-time", required_argument, NULL, OPT_UNTIL_TIME},
		{"help", no_argument, NULL, 'h'},		  {NULL, 0, NULL, 0},
	};
	struct journal_walk_range range = {0};
	const char *config_path = NULL;
	int c;
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (c == 'c') {
			config_path = optarg;
		} else if (c == 'h') {
			journal_usage(stdout);
			return 0;
		} else if (!cat || !range_option(c, optarg, &range)) {
			journal_usage(stderr);
			return 2;
		}
	}
	if (range.until_seq && range.until_time_usec) {
		fprintf(stderr, "acctgate: --until-seq and --until-time exclude each other\n");
		return 2;
	}
	struct config *cfg = config_path ? load_config(config_path) : NULL;
	if (config_path && !cfg)
		return 2;
	const char *dir = optind < argc ? argv[optind] : cfg && cfg->journal_dir[0] ? cfg->journal_dir : NULL;
	if (!dir || optind + 1 < argc) {
		journal_usage(stderr);
		free_config(cfg);
		return 2;
	}
	int status = cat ? journal_cat(dir, &range, stdout, stderr) : journal_verify(dir, stdout, stderr);
	free_config(cfg);
	return status;
}

/* "host:port" or "[v6]:port"; the port defaults to 3306. */
static bool parse_target(const char *v, char *host, size_t host_len, unsigned *port)
{
	const char *colon = NULL;
	const char *h = v;
	size_t hl;
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (!close)
			return false;
		h = v + 1;
		hl = (size_t)(close - h);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (close[1] && !colon)
			return false;
	} else {
		colon = strrchr(v, ':');
		hl = colon ? (size_t)(colon - v) : strlen(v);
	}
	if (hl == 0 || hl >= host_len)
		return false;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = 3306;
	if (colon) {
		char *end;
		unsigned long p = strtoul(colon + 1, &end, 10);
		if (end == colon + 1 || *end || p == 0 || p > 65535)
			return false;
		*port = (unsigned)p;
	}
	return true;
}

/* The first line of a file, without its newline. */
static bool read_password(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "acctgate: --password-file %s: %s\n", path, strerror(errno));
		return false;
	}
	bool ok = fgets(out, (int)len, f) != NULL;
	fclose(f);
	if (!ok) {
		fprintf(stderr, "acctgate: --password-file %s: empty\n", path);
		return false;
	}
	out[strcspn(out, "\r\n")] = '\0';
	return true;
}

/* The three tools that talk to a server share their options. */
enum db_tool { TOOL_REPLAY, TOOL_SNAPSHOT, TOOL_RESTORE };

static const char *const tool_names[] = {"replay", "snapshot", "restore"};

static void db_tool_usage(enum db_tool t, FILE *to)
{
	static const char common[] = "  [-c FILE] --target HOST:PORT --user USER --password-file F\n"
				     "  [--tls disabled|required|verify_identity] [--tls-ca F] [--tls-cert F --tls-key F]"
				     " [--no-progress]\n"
				     "  -c FILE takes [journal] dir, [snapshot] user, password_file and chunk_rows, the\n"
				     "  first [upstream] server as the target, and the [upstream] TLS settings; flags override\n"
				     "  them. TLS defaults to verify_identity (CA and host name checked).\n";
	switch (t) {
	case TOOL_REPLAY:
		fprintf(to, "usage: acctgate replay [--journal DIR] [--from-seq N] [--until-seq N | --until-time T]\n%s",
			common);
		break;
	case TOOL_SNAPSHOT:
		fprintf(to, "usage: acctgate snapshot --out DIR [--databases a,b] [--threads N] [--chunk-rows N]\n%s"
			    "  A table of more than --chunk-rows rows ([snapshot] chunk_rows with -c, else %d; 0 = never)\n"
			    "  is dumped in chunks of its primary key when that starts with an integer column.\n"
			    "  Offline: the snapshot has no journal sequence (take one through the admin port to roll\n"
			    "  it forward).\n",
			common, SNAPSHOT_CHUNK_ROWS);
		break;
	case TOOL_RESTORE:
		fprintf(to, "usage: acctgate restore --snapshot DIR [--journal DIR] [--until-seq N | --until-time T]\n"
			    "                        [--into-database NAME] [--threads N]\n%s",
			common);
		break;
	}
}

static int db_tool(enum db_tool tool, int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"journal", required_argument, NULL, OPT_JOURNAL},
		{"target", required_argument, NULL, OPT_TARGET},
		{"user", required_argument, NULL, OPT_USER},
		{"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
		{"from-seq", required_argument, NULL, OPT_FROM_SEQ},
		{"until-seq", required_argument, NULL, OPT_UNTIL_SEQ},
		{"until-time", required_argument, NULL, OPT_UNTIL_TIME},
		{"tls", required_argument, NULL, OPT_TLS},
		{"tls-ca", required_argument, NULL, OPT_TLS_CA},
		{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
		{"tls-key", required_argument, NULL, OPT_TLS_KEY},
		{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
		{"out", required_argument, NULL, OPT_OUT},
		{"databases", required_argument, NULL, OPT_DATABASES},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
		{"into-database", required_argument, NULL, OPT_INTO_DATABASE},
		{"chunk-rows", required_argument, NULL, OPT_CHUNK_ROWS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *name = tool_names[tool];
	struct replay_options o = {.tls = REPLAY_TLS_VERIFY_IDENTITY, .progress = isatty(STDERR_FILENO) != 0};
	const char *config_path = NULL, *target = NULL, *password_file = NULL, *tls = NULL, *user = NULL;
	const char *journal = NULL, *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL;
	const char *out_dir = NULL, *databases = NULL, *snapshot_dir = NULL, *into = NULL;
	uint64_t threads = 2, chunk_rows = SNAPSHOT_CHUNK_ROWS;
	bool chunk_rows_given = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case OPT_JOURNAL: journal = optarg; break;
		case OPT_TARGET: target = optarg; break;
		case OPT_USER: user = optarg; break;
		case OPT_PASSWORD_FILE: password_file = optarg; break;
		case OPT_TLS: tls = optarg; break;
		case OPT_TLS_CA: tls_ca = optarg; break;
		case OPT_TLS_CERT: tls_cert = optarg; break;
		case OPT_TLS_KEY: tls_key = optarg; break;
		case OPT_NO_PROGRESS: o.progress = false; break;
		case OPT_OUT: out_dir = optarg; break;
		case OPT_DATABASES: databases = optarg; break;
		case OPT_SNAPSHOT: snapshot_dir = optarg; break;
		case OPT_INTO_DATABASE: into = optarg; break;
		case OPT_THREADS:
			if (!parse_u64("--threads", optarg, &threads) || threads < 1 || threads > SNAPSHOT_THREADS_MAX) {
				fprintf(stderr, "acctgate %s: --threads: 1 to %d\n", name, SNAPSHOT_THREADS_MAX);
				return 2;
			}
			break;
		case OPT_CHUNK_ROWS:
			if (tool != TOOL_SNAPSHOT || !parse_u64("--chunk-rows", optarg, &chunk_rows)) {
				db_tool_usage(tool, stderr);
				return 2;
			}
			chunk_rows_given = true;
			break;
		case 'h': db_tool_usage(tool, stdout); return 0;
		default:
			if (tool == TOOL_SNAPSHOT || !range_option(c, optarg, &o.range)) {
				db_tool_usage(tool, stderr);
				return 2;
			}
		}
	}
	bool wrong = optind != argc || (tool == TOOL_SNAPSHOT && !out_dir) || (tool == TOOL_RESTORE && !snapshot_dir) ||
		     (tool != TOOL_RESTORE && into) || (tool == TOOL_SNAPSHOT && journal);
	if (wrong) {
		db_tool_usage(tool, stderr);
		return 2;
	}
	if (o.range.until_seq && o.range.until_time_usec) {
		fprintf(stderr, "acctgate %s: --until-seq and --until-time exclude each other\n", name);
		return 2;
	}
	struct config *cfg = config_path ? load_config(config_path) : NULL;
	if (config_path && !cfg)
		return 2;
	int status = 2;
	char host[256], password[256] = "";
	if (cfg) {
		o.tls = gate_replay_tls(cfg->upstream_tls);
		o.tls_ca = cfg->upstream_tls_ca;
		o.tls_cert = cfg->upstream_tls_cert;
		o.tls_key = cfg->upstream_tls_key;
		o.journal_dir = cfg->journal_dir[0] && tool != TOOL_SNAPSHOT ? cfg->journal_dir : NULL;
		if (cfg->snapshot_user[0]) {
			o.user = cfg->snapshot_user;
			snprintf(password, sizeof(password), "%s", cfg->snapshot_password);
		}
		snprintf(host, sizeof(host), "%s", cfg->servers[0].host);
		o.host = host;
		o.port = cfg->servers[0].port;
		if (!chunk_rows_given)
			chunk_rows = (uint64_t)cfg->snapshot_chunk_rows;
	}
	if (target) {
		if (!parse_target(target, host, sizeof(host), &o.port)) {
			fprintf(stderr, "acctgate %s: --target: expected HOST:PORT, got '%s'\n", name, target);
			goto out;
		}
		o.host = host;
	}
	if (tls) {
		if (strcmp(tls, "disabled") == 0)
			o.tls = REPLAY_TLS_DISABLED;
		else if (strcmp(tls, "required") == 0)
			o.tls = REPLAY_TLS_REQUIRED;
		else if (strcmp(tls, "verify_identity") == 0)
			o.tls = REPLAY_TLS_VERIFY_IDENTITY;
		else {
			fprintf(stderr, "acctgate %s: --tls: expected disabled, required or verify_identity, got '%s'\n",
				name, tls);
			goto out;
		}
	}
	if (tls_ca)
		o.tls_ca = tls_ca;
	if (tls_cert)
		o.tls_cert = tls_cert;
	if (tls_key)
		o.tls_key = tls_key;
	if (journal)
		o.journal_dir = journal;
	if (user)
		o.user = user;
	if (password_file && !read_password(password_file, password, sizeof(password)))
		goto out;
	o.password = password;
	if (!o.host || !o.user || (!password_file && !(cfg && cfg->snapshot_user[0]))) {
		fprintf(stderr, "acctgate %s: give --target, --user and --password-file (or -c FILE with [upstream] and "
				"[snapshot])\n",
			name);
		goto out;
	}
	if (tool == TOOL_REPLAY && !o.journal_dir) {
		fprintf(stderr, "acctgate replay: no journal: give --journal DIR or -c FILE with [journal] dir\n");
		goto out;
	}
	if (tool == TOOL_REPLAY) {
		status = replay_run(&o, stdout, stderr);
	} else if (tool == TOOL_SNAPSHOT) {
		struct snapshot_options so = {.conn = o, .dir = out_dir, .databases = databases,
					      .threads = (int)threads, .chunk_rows = chunk_rows, .progress = o.progress};
		struct snapshot_result res;
		char why[768];
		if (snapshot_take(&so, &res, why, sizeof(why))) {
			printf("snapshot %s: %llu tables, %llu rows, %llu bytes in %.3f s (offline: no journal sequence)\n",
			       res.id, (unsigned long long)res.tables, (unsigned long long)res.rows,
			       (unsigned long long)res.bytes, res.seconds);
			status = 0;
		} else {
			fprintf(stderr, "acctgate snapshot: %s\n", why);
			status = 1;
		}
	} else {
		struct restore_options ro = {.conn = o, .snapshot_dir = snapshot_dir, .into_database = into,
					     .threads = (int)threads, .progress = o.progress};
		status = restore_run(&ro, stdout, stderr);
	}
out:
	OPENSSL_cleanse(password, sizeof(password));
	free_config(cfg);
	return status;
}

int cli_replay(int argc, char **argv) { return db_tool(TOOL_REPLAY, argc, argv); }
int cli_snapshot(int argc, char **argv) { return db_tool(TOOL_SNAPSHOT, argc, argv); }
int cli_restore(int argc, char **argv) { return db_tool(TOOL_RESTORE, argc, argv); }
