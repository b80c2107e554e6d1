/*
 * test_snapshot_list.c - the snapshots in a directory (proxy/
 * snapshot_list.h): what keep lets go of (a count, an age, never the
 * newest, never one being read), the listing (manifests only, oldest
 * first, the running one left out) and the removal (MANIFEST first, a
 * partial directory too).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot_list.h"

#define SEC 1000000ull
#define NOW (1000000 * SEC)

/* Five snapshots an hour apart, the newest an hour old. */
static void five(struct snapshot_entry *e)
{
	memset(e, 0, 5 * sizeof(*e));
	for (int i = 0; i < 5; i++) {
		snprintf(e[i].id, sizeof(e[i].id), "s%d", i);
		e[i].time_usec = NOW - (uint64_t)(5 - i) * 3600 * SEC;
		e[i].seq = 100 + (uint64_t)i;
	}
}

static bool reading_s1(void *arg, const char *id)
{
	(void)arg;
	return strcmp(id, "s1") == 0;
}

static void expect_drop(const struct config_keep *keep, bool (*in_use)(void *, const char *), const char *want)
{
	struct snapshot_entry e[5];
	bool drop[5];
	five(e);
	size_t n = snapshot_list_expired(e, 5, keep, NOW, in_use, NULL, drop);
	char got[8] = "";
	size_t k = 0;
	for (int i = 0; i < 5; i++)
		got[i] = drop[i] ? 'x' : '.', k += drop[i];
	assert_string_equal(got, want);
	assert_int_equal(n, k);
}

static void test_expired(void **state)
{
	(void)state;
	struct config_keep all = {CONFIG_KEEP_ALL, 0}, two = {CONFIG_KEEP_COUNT, 2}, one = {CONFIG_KEEP_COUNT, 1},
			   many = {CONFIG_KEEP_COUNT, 9}, age = {CONFIG_KEEP_AGE, 3 * 3600 + 60},
			   short_age = {CONFIG_KEEP_AGE, 60};
	expect_drop(&all, NULL, ".....");
	expect_drop(&two, NULL, "xxx..");
	expect_drop(&one, NULL, "xxxx.");
	expect_drop(&many, NULL, ".....");
	/* Taken more than 3 h 1 min ago: s0 (5 h) and s1 (4 h). */
	expect_drop(&age, NULL, "xx...");
	/* Every one is older than a minute: the newest stays all the same. */
	expect_drop(&short_age, NULL, "xxxx.");
	/* One being read stays, beyond the count or the age. */
	expect_drop(&two, reading_s1, "x.x..");
	expect_drop(&age, reading_s1, "x....");
	/* None at all. */
	bool drop[1];
	struct snapshot_entry e[5];
	five(e);
	assert_int_equal(snapshot_list_expired(e, 0, &one, NOW, NULL, NULL, drop), 0);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_read_and_remove(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_snapshot_list.XXXXXX", path[256];
	assert_non_null(mkdtemp(dir));
	static const struct {
		const char *id;
		const char *manifest; /* NULL: a directory without one */
	} snaps[] = {
		{"b", "acctgate-snapshot 1\nid b\njournal_seq 20\ntime_usec 2000\ndatabase d\n"
		      "table d t1 rows 3 bytes 30 crc32c 0000abcd\ntable d t2 rows 4 bytes 40 crc32c 00001234\n"},
		{"a", "acctgate-snapshot 1\nid a\njournal_seq 10\ntime_usec 1000\n"},
		{"c", "acctgate-snapshot 1\nid c\njournal_seq 30\ntime_usec 3000\n"},
		{"half", NULL},
	};
	for (size_t i = 0; i < sizeof(snaps) / sizeof(snaps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, snaps[i].id);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/%s/data", dir, snaps[i].id);
		assert_int_equal(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/%s/data/x.tsv.zst", dir, snaps[i].id);
		put(path, "rows");
		if (snaps[i].manifest) {
			snprintf(path, sizeof(path), "%s/%s/MANIFEST", dir, snaps[i].id);
			put(path, snaps[i].manifest);
		}
	}
	struct snapshot_entry *e;
	size_t n;
	/* Oldest first; the directory without a MANIFEST is no snapshot. */
	assert_true(snapshot_list_read(dir, NULL, &e, &n));
	assert_int_equal(n, 3);
	assert_string_equal(e[0].id, "a");
	assert_string_equal(e[1].id, "b");
	assert_string_equal(e[2].id, "c");
	assert_int_equal(e[1].seq, 20);
	assert_int_equal(e[1].time_usec, 2000);
	assert_int_equal(e[1].tables, 2);
	assert_int_equal(e[1].rows, 7);
	assert_int_equal(e[1].bytes, 70);
	free(e);
	/* The one being written is left out, even once its MANIFEST exists. */
	assert_true(snapshot_list_read(dir, "c", &e, &n));
	assert_int_equal(n, 2);
	assert_string_equal(e[1].id, "b");
	free(e);
	/* Removal: a snapshot, and what is left of one. */
	assert_int_equal(snapshot_list_remove(dir, "b"), 0);
	assert_int_equal(snapshot_list_remove(dir, "half"), 0);
	snprintf(path, sizeof(path), "%s/b", dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/half", dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_true(snapshot_list_read(dir, NULL, &e, &n));
	assert_int_equal(n, 2);
	free(e);
	assert_int_equal(snapshot_list_remove(dir, "a"), 0);
	assert_int_equal(snapshot_list_remove(dir, "c"), 0);
	assert_int_equal(rmdir(dir), 0);
	/* A directory that is not there is an empty list. */
	assert_true(snapshot_list_read(dir, NULL, &e, &n));
	assert_int_equal(n, 0);
	assert_null(e);
	assert_true(snapshot_list_read("", NULL, &e, &n));
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_read_and_remove),
	};
	return cmocka_run_group_tests_name("snapshot_list", tests, NULL, NULL);
}
