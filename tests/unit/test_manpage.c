/*
 * test_manpage.c - man/acctgate.conf.5 and the parser's table of keys
 * (proxy/config.c, read through config_key_at) cannot disagree.
 *
 * The page documents each key as an entry `.TP` + `.B key` under the
 * `.SS [section]` it belongs to. Every key of the table must have exactly
 * one entry under its own section, and every entry must be a key of the
 * table. Both directions are driven by the table and the page themselves,
 * so a section or key added to config.c is checked without touching this
 * file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#ifndef ACCTGATE_CONF_MAN
#error "ACCTGATE_CONF_MAN must name man/acctgate.conf.5"
#endif

#define MAX_ENTRIES 512

struct entry {
	char section[64];
	char key[128];
	int line;
};

static struct entry entries[MAX_ENTRIES];
static size_t nentries;

/* Collect the page's key entries: `.B key` right after `.TP`, inside a
 * `.SS [section]`. Entries outside a [section] are not keys (OPTIONS-like
 * lists elsewhere use .TP too, but only under .SH, never under .SS [x]). */
static int read_page(void **state)
{
	FILE *f = fopen(ACCTGATE_CONF_MAN, "r");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", ACCTGATE_CONF_MAN);
		return -1;
	}
	char line[1024], section[64] = "";
	bool after_tp = false;
	int lineno = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, ".SH", 3) == 0) {
			section[0] = '\0';
		} else if (strncmp(line, ".SS [", 5) == 0) {
			const char *close = strchr(line + 5, ']');
			size_t n = close ? (size_t)(close - (line + 5)) : 0;
			if (n > 0 && n < sizeof(section)) {
				memcpy(section, line + 5, n);
				section[n] = '\0';
			}
		} else if (after_tp && section[0] && strncmp(line, ".B ", 3) == 0) {
			if (nentries == MAX_ENTRIES) {
				fclose(f);
				return -1;
			}
			struct entry *e = &entries[nentries++];
			snprintf(e->section, sizeof(e->section), "%.63s", section);
			snprintf(e->key, sizeof(e->key), "%.127s", line + 3);
			e->line = lineno;
		}
		after_tp = strcmp(line, ".TP") == 0;
	}
	fclose(f);
	return 0;
}

/* Every key of the table has one entry, under its own section. */
static void test_every_key_documented(void **state)
{
	const char *section, *key;
	int missing = 0;
	size_t i;
	for (i = 0; config_key_at(i, &section, &key); i++) {
		int found = 0;
		for (size_t j = 0; j < nentries; j++)
			if (strcmp(entries[j].section, section) == 0 && strcmp(entries[j].key, key) == 0)
				found++;
		if (found != 1) {
			fprintf(stderr, "%s: [%s] %s has %d entries (want 1: .TP, then .B %s under .SS [%s])\n",
				ACCTGATE_CONF_MAN, section, key, found, key, section);
			missing++;
		}
	}
	assert_true(i > 0);
	assert_int_equal(missing, 0);
}

/* Every entry of the page is a key of the table. */
static void test_no_unknown_entry(void **state)
{
	int unknown = 0;
	assert_true(nentries > 0);
	for (size_t j = 0; j < nentries; j++) {
		const char *section, *key;
		bool known = false;
		for (size_t i = 0; !known && config_key_at(i, &section, &key); i++)
			known = strcmp(entries[j].section, section) == 0 && strcmp(entries[j].key, key) == 0;
		if (!known) {
			fprintf(stderr, "%s:%d: [%s] %s is not a key of the parser's table\n", ACCTGATE_CONF_MAN,
				entries[j].line, entries[j].section, entries[j].key);
			unknown++;
		}
	}
	assert_int_equal(unknown, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_documented),
		cmocka_unit_test(test_no_unknown_entry),
	};
	return cmocka_run_group_tests(tests, read_page, NULL);
}
