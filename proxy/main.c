/*
 * main.c - command line: `acctgate -c FILE [--check]` runs the proxy;
 * `acctgate journal ...` and `acctgate replay ...` are the offline tools
 * (cli_tools.c).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_tools.h"
#include "config.h"
#include "gate.h"
#include "log.h"

#ifndef ACCTGATE_VERSION
#define ACCTGATE_VERSION "unknown"
#endif

/* The config holds the health password: wiped before it is freed. */
static void free_config(struct config *cfg)
{
	config_wipe_secrets(cfg);
	free(cfg);
}

static void usage(FILE *to)
{
	fprintf(to, "usage: acctgate -c FILE [--check]\n"
		    "       acctgate journal verify|cat [-c FILE] [DIR] ...\n"
		    "       acctgate replay [-c FILE] --target HOST:PORT --user U --password-file F ...\n"
		    "       acctgate snapshot|restore [-c FILE] --target HOST:PORT ...\n"
		    "  -c, --config FILE   configuration file (see conf/acctgate.conf)\n"
		    "      --check         validate the configuration, its certificates and keys, then exit\n"
		    "  -V, --version       print the version\n"
		    "  journal, replay, snapshot, restore  offline tools; --help after one shows its options\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check", no_argument, NULL, 'k'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	if (argc > 1 && strcmp(argv[1], "journal") == 0)
		return cli_journal(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "replay") == 0)
		return cli_replay(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "snapshot") == 0)
		return cli_snapshot(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "restore") == 0)
		return cli_restore(argc - 1, argv + 1);
	const char *path = NULL;
	int check = 0, c;
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'k': check = 1; break;
		case 'V': printf("acctgate %s\n", ACCTGATE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}

	struct config *cfg = malloc(sizeof(*cfg));
	char err[1024];
	if (!cfg) {
		fprintf(stderr, "acctgate: out of memory\n");
		return 1;
	}
	if (!config_load(path, cfg, err, sizeof(err))) {
		fprintf(stderr, "acctgate: %s\n", err);
		free_config(cfg);
		return 1;
	}
	log_set_level(cfg->log_level);
	if (check) {
		/* Certificates, keys and CA files are part of what --check checks. */
		struct settings *s = settings_build(cfg, err, sizeof(err));
		if (!s) {
			fprintf(stderr, "acctgate: %s\n", err);
			free_config(cfg);
			return 1;
		}
		settings_release(s);
		printf("acctgate: %s is valid\n", path);
		free_config(cfg);
		return 0;
	}
	int status = gate_run(path, cfg);
	free_config(cfg);
	return status;
}
