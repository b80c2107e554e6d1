/*
 * test_manifest.c - a snapshot's MANIFEST (snapshot/manifest.h): format 2
 * written and read back, format 1 read, and every forged manifest refused
 * with its exact message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "manifest.h"

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/acctgate-manifest-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	unlink(path);
	return rmdir(dir);
}

static void write_manifest(const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Expect a refusal whose message, after "<dir>/MANIFEST", is exactly `want`. */
static void expect_refused(const char *text, const char *want)
{
	write_manifest(text);
	struct snapshot_manifest m;
	char err[512] = "";
	assert_false(snapshot_manifest_read(dir, &m, err, sizeof(err)));
	snapshot_manifest_free(&m);
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "%s/MANIFEST", dir);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_string_equal(err + strlen(prefix), want);
}

#define HEAD2 "acctgate-snapshot 2\nid s\njournal_seq 7\ntime_usec 1000\nchunk_rows 10\ndatabase a\n"

static void test_roundtrip(void **state)
{
	(void)state;
	struct manifest_table tables[] = {
		{.db = "a", .name = "big", .rows = 25, .bytes = 250, .first = 0, .nfiles = 2},
		{.db = "a", .name = "small", .rows = 3, .bytes = 30, .first = 2, .nfiles = 1},
	};
	struct manifest_file files[] = {
		{.path = "data/a/big.0001.tsv.zst", .table = 0, .rows = 12, .bytes = 120, .crc = 0xdeadbeef},
		{.path = "data/a/big.0002.tsv.zst", .table = 0, .rows = 13, .bytes = 130, .crc = 0x1},
		{.path = "data/a/small.tsv.zst", .table = 1, .rows = 3, .bytes = 30, .crc = 0xabc},
	};
	char dbs[1][65] = {"a"};
	struct snapshot_manifest w = {.format = 2, .id = "s", .seq = 7, .time_usec = 1000, .chunk_rows = 10,
				      .dbs = dbs, .ndbs = 1, .tables = tables, .ntables = 2, .files = files,
				      .nfiles = 3};
	char err[512] = "";
	assert_true(snapshot_manifest_write(dir, &w, err, sizeof(err)));
	struct snapshot_manifest m;
	assert_true(snapshot_manifest_read(dir, &m, err, sizeof(err)));
	assert_int_equal(m.format, 2);
	assert_string_equal(m.id, "s");
	assert_int_equal(m.seq, 7);
	assert_int_equal(m.time_usec, 1000);
	assert_int_equal(m.chunk_rows, 10);
	assert_int_equal(m.ndbs, 1);
	assert_string_equal(m.dbs[0], "a");
	assert_int_equal(m.ntables, 2);
	assert_int_equal(m.nfiles, 3);
	assert_string_equal(m.tables[0].name, "big");
	assert_int_equal(m.tables[0].first, 0);
	assert_int_equal(m.tables[0].nfiles, 2);
	assert_int_equal(m.tables[1].first, 2);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(m.files[i].path, files[i].path);
		assert_int_equal(m.files[i].table, files[i].table);
		assert_int_equal(m.files[i].rows, files[i].rows);
		assert_int_equal(m.files[i].bytes, files[i].bytes);
		assert_int_equal(m.files[i].crc, files[i].crc);
	}
	snapshot_manifest_free(&m);
}

/* Format 1: a table line with its file's CRC, the path derived. */
static void test_format_1(void **state)
{
	(void)state;
	write_manifest("acctgate-snapshot 1\nid old\njournal_seq 3\ntime_usec 5\ndatabase a\n"
		       "table a t rows 4 bytes 40 crc32c 0000beef\ntable a u rows 0 bytes 0 crc32c 00000000\n");
	struct snapshot_manifest m;
	char err[512] = "";
	assert_true(snapshot_manifest_read(dir, &m, err, sizeof(err)));
	assert_int_equal(m.format, 1);
	assert_int_equal(m.chunk_rows, 0);
	assert_int_equal(m.ntables, 2);
	assert_int_equal(m.nfiles, 2);
	assert_string_equal(m.files[0].path, "data/a/t.tsv.zst");
	assert_int_equal(m.files[0].rows, 4);
	assert_int_equal(m.files[0].crc, 0xbeef);
	assert_string_equal(m.files[1].path, "data/a/u.tsv.zst");
	assert_int_equal(m.tables[1].first, 1);
	assert_int_equal(m.tables[1].nfiles, 1);
	snapshot_manifest_free(&m);
}

static void test_not_a_manifest(void **state)
{
	(void)state;
	expect_refused("", ": empty");
	expect_refused("hello\n", ": not an acctgate snapshot manifest");
	expect_refused("acctgate-snapshot 3\n", ": format '3', which this acctgate does not read (it reads 1 and 2)");
	expect_refused("acctgate-snapshot 2", ":1: line too long or not ended");
}

static void test_malformed_lines(void **state)
{
	(void)state;
	expect_refused(HEAD2 "table a t rows 1 bytes 1 files 1 extra\n", ":7: malformed line");
	expect_refused(HEAD2 "journal_seq x\n", ":7: malformed line");
	/* A format 1 manifest has neither file lines nor files counts. */
	expect_refused("acctgate-snapshot 1\ntable a t rows 1 bytes 1 files 1\n", ":2: malformed line");
	expect_refused("acctgate-snapshot 1\nfile a t data/a/t.tsv.zst rows 1 bytes 1 crc32c 0\n", ":2: malformed line");
	expect_refused("acctgate-snapshot 1\nchunk_rows 5\n", ":2: malformed line");
}

static void test_files_and_tables(void **state)
{
	(void)state;
	expect_refused(HEAD2 "file a t data/a/t.tsv.zst rows 1 bytes 1 crc32c 0\n",
		       ":7: a file of a.t where a table line is due");
	expect_refused(HEAD2 "table a t rows 2 bytes 2 files 2\nfile a t data/a/t.0001.tsv.zst rows 1 bytes 1 crc32c 0\n"
			     "table a u rows 0 bytes 0 files 0\n",
		       ":9: table a.t: its line announces 2 files, 1 follow it");
	expect_refused(HEAD2 "table a t rows 2 bytes 2 files 2\nfile a t data/a/t.0001.tsv.zst rows 1 bytes 1 crc32c 0\n",
		       ":8: table a.t: its line announces 2 files, 1 follow it");
	expect_refused(HEAD2 "table a t rows 2 bytes 2 files 2\nfile a t data/a/t.0001.tsv.zst rows 1 bytes 1 crc32c 0\n"
			     "file a u data/a/u.tsv.zst rows 1 bytes 1 crc32c 0\n",
		       ":9: a file of a.u where a file of the table above is due");
	expect_refused(HEAD2 "table a t rows 1 bytes 1 files 1\nfile a t data/a/t.tsv.zst rows 1 bytes 1 crc32c 0\n"
			     "file a t data/a/t.0002.tsv.zst rows 1 bytes 1 crc32c 0\n",
		       ":9: a file of a.t where a table line is due");
	expect_refused(HEAD2 "table a t rows 3 bytes 2 files 2\nfile a t data/a/t.0001.tsv.zst rows 1 bytes 1 crc32c 0\n"
			     "file a t data/a/t.0002.tsv.zst rows 1 bytes 1 crc32c 0\n",
		       ":9: table a.t: its files hold 2 rows and 2 bytes, its line says 3 and 2");
}

/* Restore hands every path to LOAD DATA LOCAL: nothing outside data/<db>/. */
static void test_paths(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"/etc/passwd", "data/b/t.tsv.zst", "data/a/../../etc/x.tsv.zst", "data/a/sub/t.tsv.zst",
		"data/a/t.tsv", "data/a/.tsv.zst", "data/ab/t.tsv.zst", "data/a",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[512], want[256];
		snprintf(text, sizeof(text), HEAD2 "table a t rows 1 bytes 1 files 1\nfile a t %s rows 1 bytes 1 crc32c 0\n",
			 bad[i]);
		snprintf(want, sizeof(want), ":8: file %s is not a data file under data/a/", bad[i]);
		expect_refused(text, want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),	cmocka_unit_test(test_format_1),
		cmocka_unit_test(test_not_a_manifest),	cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_files_and_tables), cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
