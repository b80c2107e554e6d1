/*
 * test_sqltext.c - the SQL lexer: multi-statement splitting as the server
 * splits (quotes, every comment form, stored-program bodies, the procedure
 * text slurmdbd sends), statement kinds and every fact and unsafe bit, and
 * digests (literals, comments, batch sizes, truncation). Every input is
 * copied into a heap buffer of exactly its length, so AddressSanitizer
 * sees any read past the end.
 */
#include "test_util.h"

#include "sqltext.h"

/* ---- helpers ------------------------------------------------------------- */

/* Splits text and checks the statements, in order, against want[]
 * (NULL-terminated); also that they lie in the text, do not overlap, and
 * that the position ends at the end. */
static void check_split(const char *text, const char *const *want)
{
	size_t n = strlen(text);
	char *c = (char *)exact_copy((const uint8_t *)text, n);
	size_t pos = 0, start, len, prev_end = 0, i = 0;
	while (sql_next_statement(c, n, &pos, &start, &len)) {
		assert_non_null(want[i]);
		assert_true(start >= prev_end && start + len <= pos && pos <= n);
		if (strlen(want[i]) != len || memcmp(c + start, want[i], len) != 0)
			fail_msg("statement %zu: want \"%s\", got \"%.*s\"", i, want[i], (int)len, c + start);
		prev_end = start + len;
		i++;
	}
	if (want[i])
		fail_msg("statement %zu missing: \"%s\"", i, want[i]);
	assert_int_equal(pos, n);
	free(c);
}

#define SPLIT(text, ...) check_split(text, (const char *const[]){__VA_ARGS__, NULL})
#define SPLIT_NONE(text) check_split(text, (const char *const[]){NULL})

static size_t count_statements(const char *text)
{
	size_t n = strlen(text), pos = 0, start, len, count = 0;
	char *c = (char *)exact_copy((const uint8_t *)text, n);
	while (sql_next_statement(c, n, &pos, &start, &len))
		count++;
	free(c);
	return count;
}

static struct sql_facts facts(const char *stmt)
{
	size_t n = strlen(stmt);
	char *c = (char *)exact_copy((const uint8_t *)stmt, n);
	struct sql_facts f;
	sql_analyse(c, n, &f);
	free(c);
	return f;
}

static uint32_t unsafe(const char *stmt)
{
	return facts(stmt).unsafe;
}

/* The digest text of stmt (into a static buffer) and its hash. */
static const char *digest(const char *stmt, uint64_t *hash)
{
	static char out[1024];
	size_t n = strlen(stmt);
	char *c = (char *)exact_copy((const uint8_t *)stmt, n);
	uint64_t h = sql_digest(c, n, out, sizeof(out));
	if (hash)
		*hash = h;
	free(c);
	return out;
}

static uint64_t digest_hash(const char *stmt)
{
	uint64_t h;
	digest(stmt, &h);
	return h;
}

/* The procedure slurmdbd creates at startup, sent as one COM_QUERY with
 * the DROP before it: the same shape (IF/END IF, REPEAT/UNTIL/END REPEAT,
 * dynamic SQL built from strings holding quotes, ';' and backslashes). */
static const char slurm_parent_limits[] =
	"drop procedure if exists get_parent_limits; "
	"create procedure get_parent_limits("
	"my_table text, acct text, cluster text, without_limits int) "
	"begin "
	"set @par_id = NULL; "
	"set @mj = NULL; "
	"set @def_qos_id = NULL; "
	"set @qos = ''; "
	"set @delta_qos = ''; "
	"set @my_acct = acct; "
	"if without_limits then "
	"set @mj = 0; "
	"set @def_qos_id = 0; "
	"set @qos = 1; "
	"end if; "
	"REPEAT "
	"set @s = 'select '; "
	"if @par_id is NULL then set @s = CONCAT("
	"@s, '@par_id := id_assoc, '); "
	"end if; "
	"if @mj is NULL then set @s = CONCAT("
	"@s, '@mj := max_jobs, '); "
	"end if; "
	"if @qos = '' then set @s = CONCAT("
	"@s, '@qos := qos, "
	"@delta_qos := REPLACE(CONCAT(delta_qos, @delta_qos), "
	"\\',,\\', \\',\\'), '); "
	"end if; "
	"set @s = concat(@s, "
	"'@my_acct_new := parent_acct from \"', "
	"cluster, '_', my_table, '\" where "
	"acct = \\'', @my_acct, '\\' && user=\\'\\''); "
	"prepare query from @s; "
	"execute query; "
	"deallocate prepare query; "
	"set @my_acct = @my_acct_new; "
	"UNTIL without_limits || @my_acct = '' END REPEAT; "
	"END;";

/* ---- splitting ----------------------------------------------------------- */

static void test_split_basic(void **state)
{
	SPLIT("select 1", "select 1");
	SPLIT("select 1; select 2", "select 1", "select 2");
	SPLIT("  select 1 ;\n\tselect 2;  \n", "select 1", "select 2");
	SPLIT("select 1;;  ; select 2;;", "select 1", "select 2");
	SPLIT_NONE("");
	SPLIT_NONE("  ;  ;\n");
	SPLIT_NONE("/* nothing */ ; -- nothing\n # nothing");
	/* Comments at a statement's edges stay with it; only blanks are trimmed. */
	SPLIT("/* a */ select 1 /* b */ ; -- c\n select 2 # d",
	      "/* a */ select 1 /* b */", "-- c\n select 2 # d");
}

static void test_split_quotes(void **state)
{
	SPLIT("select 'a;b'; select 2", "select 'a;b'", "select 2");
	SPLIT("select \"a;b\"; select 2", "select \"a;b\"", "select 2");
	SPLIT("select `a;b` from t; select 2", "select `a;b` from t", "select 2");
	SPLIT("select 'it''s;'; select 2", "select 'it''s;'", "select 2");
	SPLIT("select 'it\\'s;'; select 2", "select 'it\\'s;'", "select 2");
	SPLIT("select \"say \\\";\\\" \"\"x;\"\"\"; select 2", "select \"say \\\";\\\" \"\"x;\"\"\"", "select 2");
	SPLIT("select 'a\\\\'; select 2", "select 'a\\\\'", "select 2");
	/* Backticks know no backslash escape: the backslash is a name byte. */
	SPLIT("select `a\\`; select 2", "select `a\\`", "select 2");
	SPLIT("select `a``;b`; select 2", "select `a``;b`", "select 2");
	SPLIT("select x'3B'; select b'1'; select N'; '", "select x'3B'", "select b'1'", "select N'; '");
	/* Unterminated quotes run to the end. */
	SPLIT("select 'a; select 2", "select 'a; select 2");
	SPLIT("select \"a; select 2", "select \"a; select 2");
	SPLIT("select `a; select 2", "select `a; select 2");
	SPLIT("select 'a\\", "select 'a\\");
}

static void test_split_comments(void **state)
{
	SPLIT("select 1 -- ;\n; select 2", "select 1 -- ;", "select 2");
	SPLIT("select 1 --\t;\n; select 2", "select 1 --\t;", "select 2");
	/* "--" with no blank after it is two minus signs. */
	SPLIT("select 1--1; select 2", "select 1--1", "select 2");
	SPLIT("select 1 --", "select 1 --");
	SPLIT("select 1 # ;\n; select 2", "select 1 # ;", "select 2");
	SPLIT("select 1 /* ; */; select 2", "select 1 /* ; */", "select 2");
	SPLIT("select 1 /* ; ", "select 1 /* ;");
	SPLIT("select /* a */ /* b; */ 1", "select /* a */ /* b; */ 1");
	/* Executable comments are code: their ';' ends the statement. */
	SPLIT("/*!40101 SET NAMES utf8 */; select 2", "/*!40101 SET NAMES utf8 */", "select 2");
	SPLIT("/*!select 1; select 2*/", "/*!select 1", "select 2*/");
	SPLIT("/*M!100100 select 1 */; /*!50100 select 2 */", "/*M!100100 select 1 */", "/*!50100 select 2 */");
	/* Inside one, "#" and "--" comments still hide a ';'. */
	SPLIT("/*! select 1 # ;\n*/; select 2", "/*! select 1 # ;\n*/", "select 2");
}

/* Two statements: the DROP, then everything from "create" up to the final
 * END, its ';' dropped. */
static void test_split_slurm_procedure(void **state)
{
	assert_int_equal(count_statements(slurm_parent_limits), 2);
	size_t n = strlen(slurm_parent_limits), pos = 0, start, len;
	assert_true(sql_next_statement(slurm_parent_limits, n, &pos, &start, &len));
	assert_true(sql_next_statement(slurm_parent_limits, n, &pos, &start, &len));
	const char *create = strstr(slurm_parent_limits, "create procedure");
	assert_int_equal(start, (size_t)(create - slurm_parent_limits));
	assert_int_equal(start + len, n - 1);
	assert_memory_equal(slurm_parent_limits + start + len - 3, "END;", 4);
	assert_false(sql_next_statement(slurm_parent_limits, n, &pos, &start, &len));
	assert_int_equal(pos, n);

	struct sql_facts f;
	sql_analyse(slurm_parent_limits + start, len, &f);
	assert_int_equal(f.kind, SQL_DDL);
	assert_true(f.reads_user_vars);
	sql_analyse(slurm_parent_limits, strlen("drop procedure if exists get_parent_limits"), &f);
	assert_int_equal(f.kind, SQL_DDL);

	/* Its sibling ends with a SELECT inside the body. */
	SPLIT("drop procedure if exists get_coord_qos; "
	      "create procedure get_coord_qos(my_table text, acct text, cluster text, coord text) "
	      "begin set @qos = ''; set @my_acct = acct; REPEAT "
	      "set @s = 'select @qos := t1.qos, @my_acct_new := parent_acct '; "
	      "set @s = concat(@s, 'from \"', cluster, '_', my_table, '\" as t1 where t1.acct = @my_acct "
	      "&& t1.user=\\'\\''); prepare query from @s; execute query; deallocate prepare query; "
	      "set @my_acct = @my_acct_new; UNTIL @qos != '' || @my_acct = '' END REPEAT; "
	      "select REPLACE(CONCAT(@qos, @delta_qos), ',,', ','); END;",
	      "drop procedure if exists get_coord_qos",
	      "create procedure get_coord_qos(my_table text, acct text, cluster text, coord text) "
	      "begin set @qos = ''; set @my_acct = acct; REPEAT "
	      "set @s = 'select @qos := t1.qos, @my_acct_new := parent_acct '; "
	      "set @s = concat(@s, 'from \"', cluster, '_', my_table, '\" as t1 where t1.acct = @my_acct "
	      "&& t1.user=\\'\\''); prepare query from @s; execute query; deallocate prepare query; "
	      "set @my_acct = @my_acct_new; UNTIL @qos != '' || @my_acct = '' END REPEAT; "
	      "select REPLACE(CONCAT(@qos, @delta_qos), ',,', ','); END");
}

static void test_split_compound(void **state)
{
	SPLIT("BEGIN NOT ATOMIC select 1; select 2; END; select 3",
	      "BEGIN NOT ATOMIC select 1; select 2; END", "select 3");
	SPLIT("lbl: BEGIN select 1; END lbl; select 2", "lbl: BEGIN select 1; END lbl", "select 2");
	/* Outside a stored program, BEGIN starts a transaction. */
	SPLIT("BEGIN; insert into t values (1); COMMIT", "BEGIN", "insert into t values (1)", "COMMIT");
	SPLIT("begin work; select 1", "begin work", "select 1");
	SPLIT("create procedure p() begin declare x int; begin select 1; end; "
	      "case x when 1 then select 2; else select 3; end case; "
	      "while x < 3 do set x = x + 1; end while; "
	      "loop leave; end loop; repeat set x = 1; until 1 end repeat; "
	      "for i in 1..3 do select i; end for; "
	      "set x = case when x then 1 else 2 end; end; select 4",
	      "create procedure p() begin declare x int; begin select 1; end; "
	      "case x when 1 then select 2; else select 3; end case; "
	      "while x < 3 do set x = x + 1; end while; "
	      "loop leave; end loop; repeat set x = 1; until 1 end repeat; "
	      "for i in 1..3 do select i; end for; "
	      "set x = case when x then 1 else 2 end; end",
	      "select 4");
	SPLIT("CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE p() BEGIN SELECT 1; END; SELECT 2",
	      "CREATE OR REPLACE DEFINER = 'root'@'localhost' PROCEDURE p() BEGIN SELECT 1; END", "SELECT 2");
	SPLIT("CREATE DEFINER=`root`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; "
	      "SET NEW.b = 2; END; SELECT 2",
	      "CREATE DEFINER=`root`@`%` TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; "
	      "SET NEW.b = 2; END",
	      "SELECT 2");
	SPLIT("create definer=current_user() aggregate function f(x int) returns int begin "
	      "declare continue handler for not found return 1; loop fetch group next row; end loop; end; select 2",
	      "create definer=current_user() aggregate function f(x int) returns int begin "
	      "declare continue handler for not found return 1; loop fetch group next row; end loop; end",
	      "select 2");
	SPLIT("create definer=admin@localhost event e on schedule every 1 hour do begin delete from t; "
	      "delete from u; end; select 2",
	      "create definer=admin@localhost event e on schedule every 1 hour do begin delete from t; "
	      "delete from u; end",
	      "select 2");
	/* mysqldump's form: the pieces sit in executable comments. */
	SPLIT("/*!50003 CREATE*/ /*!50020 DEFINER=`root`@`localhost`*/ /*!50003 PROCEDURE p() BEGIN "
	      "SELECT 1; END */; SELECT 2",
	      "/*!50003 CREATE*/ /*!50020 DEFINER=`root`@`localhost`*/ /*!50003 PROCEDURE p() BEGIN "
	      "SELECT 1; END */",
	      "SELECT 2");
	/* A body of one statement ends at its ';'. */
	SPLIT("create trigger tr after update on t for each row set @n = @n + 1; select 2",
	      "create trigger tr after update on t for each row set @n = @n + 1", "select 2");
	/* A function without BEGIN, CASE ... END in its RETURN. */
	SPLIT("create function f(x int) returns int return case x when 1 then 2 end; select 2",
	      "create function f(x int) returns int return case x when 1 then 2 end", "select 2");
	/* Quoted words are names, not blocks. */
	SPLIT("create procedure p() begin select `end`, 'end', \"end\"; end; select 2",
	      "create procedure p() begin select `end`, 'end', \"end\"; end", "select 2");
	/* Unbalanced: the body runs to the end of the text. */
	SPLIT("create procedure p() begin select 1; select 2", "create procedure p() begin select 1; select 2");
	SPLIT("create procedure p() end; end; select 1", "create procedure p() end", "end", "select 1");
	/* Other CREATEs are plain statements. */
	SPLIT("create table t (a int, b text default 'begin'); select 2",
	      "create table t (a int, b text default 'begin')", "select 2");
	SPLIT("create view v as select case when 1 then 2 end; select 2",
	      "create view v as select case when 1 then 2 end", "select 2");
}

static void test_split_positions(void **state)
{
	const char text[] = "select 1; select 2";
	size_t n = strlen(text), pos = 0, start = 99, len = 99;
	assert_true(sql_next_statement(text, n, &pos, &start, &len));
	assert_int_equal(start, 0);
	assert_int_equal(len, 8);
	assert_int_equal(pos, 9);
	assert_true(sql_next_statement(text, n, &pos, &start, &len));
	assert_int_equal(start, 10);
	assert_int_equal(len, 8);
	assert_int_equal(pos, n);
	assert_false(sql_next_statement(text, n, &pos, &start, &len));
	assert_int_equal(pos, n);
	/* From past the end there is nothing, and the position stays. */
	pos = n + 5;
	assert_false(sql_next_statement(text, n, &pos, &start, &len));
	assert_int_equal(pos, n + 5);
	/* Binary bytes, NULs included, are text like any other. */
	const char bin[] = {'\x00', ';', '\xff', '\'', ';', '\x00'};
	pos = 0;
	assert_true(sql_next_statement(bin, sizeof(bin), &pos, &start, &len));
	assert_int_equal(start, 0);
	assert_int_equal(len, 1);
	assert_true(sql_next_statement(bin, sizeof(bin), &pos, &start, &len));
	assert_int_equal(start, 2);
	assert_int_equal(len, 4);
	assert_false(sql_next_statement(bin, sizeof(bin), &pos, &start, &len));
}

/* ---- kinds --------------------------------------------------------------- */

static void test_kinds(void **state)
{
	static const struct {
		const char *stmt;
		enum sql_kind kind;
	} cases[] = {
		{"select 1", SQL_SELECT},
		{"  /* c */ -- d\n (select 1) union (select 2)", SQL_SELECT},
		{"((SELECT 1))", SQL_SELECT},
		{"with x as (select 1) select * from x", SQL_SELECT},
		{"values (1, 2)", SQL_SELECT},
		{"table t", SQL_SELECT},
		{"/*!40101 select 1 */", SQL_SELECT},
		{"show tables", SQL_SHOW},
		{"describe t", SQL_SHOW},
		{"desc t", SQL_SHOW},
		{"explain select 1", SQL_SHOW},
		{"help 'x'", SQL_SHOW},
		{"set autocommit=0", SQL_SET},
		{"SET NAMES utf8mb4", SQL_SET},
		{"set @x = 1", SQL_SET},
		{"set session transaction isolation level read committed", SQL_SET_TRANSACTION},
		{"set transaction read only", SQL_SET_TRANSACTION},
		{"SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE", SQL_SET_TRANSACTION},
		{"set session sql_mode = 'ANSI_QUOTES'", SQL_SET},
		{"set statement max_statement_time=10 for select 1", SQL_SELECT},
		{"set statement a=(select 1 for update), b=2 for delete from t", SQL_DELETE},
		{"set statement a=1", SQL_SET},
		{"use slurm_acct_db", SQL_USE},
		{"begin", SQL_BEGIN},
		{"BEGIN WORK", SQL_BEGIN},
		{"start transaction read write", SQL_BEGIN},
		{"begin not atomic select 1; end", SQL_OTHER},
		{"commit", SQL_COMMIT},
		{"commit work and chain", SQL_COMMIT},
		{"rollback", SQL_ROLLBACK},
		{"rollback work", SQL_ROLLBACK},
		{"rollback to savepoint s", SQL_SAVEPOINT},
		{"rollback work to s", SQL_SAVEPOINT},
		{"savepoint s", SQL_SAVEPOINT},
		{"release savepoint s", SQL_SAVEPOINT},
		{"insert into t values (1)", SQL_INSERT},
		{"replace into t values (1)", SQL_REPLACE},
		{"update t set a=1", SQL_UPDATE},
		{"delete from t", SQL_DELETE},
		{"call p()", SQL_CALL},
		{"create table t (a int)", SQL_DDL},
		{"alter table t add b int", SQL_DDL},
		{"drop table t", SQL_DDL},
		{"rename table a to b", SQL_DDL},
		{"truncate table t", SQL_DDL},
		{"load data infile 'x' into table t", SQL_LOAD},
		{"LOAD XML LOCAL INFILE 'x' INTO TABLE t", SQL_LOAD},
		{"load index into cache t", SQL_ADMIN},
		{"lock tables t write", SQL_LOCK},
		{"unlock tables", SQL_LOCK},
		{"do sleep(1)", SQL_DO},
		{"prepare s from 'select 1'", SQL_PREPARE},
		{"execute s using @a", SQL_PREPARE},
		{"deallocate prepare s", SQL_PREPARE},
		{"drop prepare s", SQL_PREPARE},
		{"grant all on *.* to u", SQL_ADMIN},
		{"revoke all on *.* from u", SQL_ADMIN},
		{"flush privileges", SQL_ADMIN},
		{"analyze table t", SQL_ADMIN},
		{"analyze select 1", SQL_SELECT},
		{"analyze format=json update t set a = 1", SQL_UPDATE},
		{"optimize table t", SQL_ADMIN},
		{"repair table t", SQL_ADMIN},
		{"check table t", SQL_ADMIN},
		{"kill 12", SQL_ADMIN},
		{"start slave", SQL_ADMIN},
		{"xa start 'x'", SQL_XA},
		{"handler t open", SQL_OTHER},
		{"", SQL_OTHER},
		{"/* only a comment */", SQL_OTHER},
		{"'select'", SQL_OTHER},
		{"`select` 1", SQL_OTHER},
		{"selectx 1", SQL_OTHER},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sql_kind k = facts(cases[i].stmt).kind;
		if (k != cases[i].kind)
			fail_msg("\"%s\": want %s, got %s", cases[i].stmt, sql_kind_name(cases[i].kind),
				 sql_kind_name(k));
	}
}

static void test_names(void **state)
{
	assert_string_equal(sql_kind_name(SQL_SELECT), "SELECT");
	assert_string_equal(sql_kind_name(SQL_SET_TRANSACTION), "SET TRANSACTION");
	assert_string_equal(sql_kind_name(SQL_XA), "XA");
	assert_string_equal(sql_kind_name((enum sql_kind)999), "UNKNOWN");
	for (uint32_t i = 0; i < SQL_UNSAFE_COUNT; i++)
		assert_string_not_equal(sql_unsafe_reason(1u << i), "unknown");
	assert_string_equal(sql_unsafe_reason(0), "unknown");
	assert_string_equal(sql_unsafe_reason(SQL_UNSAFE_UUID | SQL_UNSAFE_RAND), "unknown");
	assert_string_equal(sql_unsafe_reason(1u << SQL_UNSAFE_COUNT), "unknown");
}

/* ---- facts: functions ---------------------------------------------------- */

static void test_time_functions(void **state)
{
	static const char *const uses[] = {
		"insert into t values (now())",
		"insert into t values (NOW ())",
		"insert into t values (now/* c */())",
		"update t set a = curdate()",
		"update t set a = curtime()",
		"update t set a = unix_timestamp()",
		"update t set mod_time=UNIX_TIMESTAMP() where id = 1",
		"update t set a = current_timestamp",
		"update t set a = CURRENT_TIMESTAMP()",
		"update t set a = current_date",
		"update t set a = current_time",
		"update t set a = localtime",
		"update t set a = localtimestamp",
		"update t set a = utc_date",
		"update t set a = utc_time",
		"update t set a = utc_timestamp()",
		"update t set a = 1 /*! + now() */",
	};
	for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
		if (!facts(uses[i]).uses_time)
			fail_msg("\"%s\" uses the time", uses[i]);
	static const char *const not_uses[] = {
		"update t set a = t.now()",
		"update t set a = t.current_timestamp",
		"update t set a = now",
		"update t set a = 'now()'",
		"update t set a = \"now()\"",
		"update t set a = `now`()",
		"update t set a = 1 /* now() */",
		"update t set a = 1 -- now()\n",
		"update t set a = 1 # now()",
		"update t set a = nowhere()",
		"update t set a = know()",
		"update t set a = now_x",
		"update t set a = @now",
		"update t set time_now = 1",
	};
	for (size_t i = 0; i < sizeof(not_uses) / sizeof(not_uses[0]); i++)
		if (facts(not_uses[i]).uses_time)
			fail_msg("\"%s\" does not use the time", not_uses[i]);
	assert_int_equal(unsafe("insert into t values (sysdate())"), SQL_UNSAFE_SYSDATE);
	assert_false(facts("insert into t values (sysdate())").uses_time);
	assert_int_equal(unsafe("insert into t values (sysdate)"), 0);
}

static void test_unsafe_functions(void **state)
{
	assert_int_equal(unsafe("insert into t values (uuid())"), SQL_UNSAFE_UUID);
	assert_int_equal(unsafe("insert into t values (UUID_SHORT())"), SQL_UNSAFE_UUID);
	assert_int_equal(unsafe("insert into t values (sys_guid())"), SQL_UNSAFE_UUID);
	assert_int_equal(unsafe("insert into t values (t.uuid())"), 0);
	/* A table named like a function is not a call. */
	assert_int_equal(unsafe("insert into uuid (a) values (1)"), 0);
	assert_int_equal(unsafe("create table sleep (a int)"), 0);

	assert_int_equal(unsafe("insert into t values (rand())"), SQL_UNSAFE_RAND);
	assert_int_equal(unsafe("insert into t values (RAND( ))"), SQL_UNSAFE_RAND);
	assert_int_equal(unsafe("insert into t values (rand(42))"), 0);
	assert_int_equal(unsafe("insert into t values (rand)"), 0);

	static const char *const session[] = {
		"insert into t values (user())",     "insert into t values (session_user())",
		"insert into t values (system_user())", "insert into t values (current_user)",
		"insert into t values (current_user())", "insert into t values (connection_id())",
		"insert into t values (found_rows())", "insert into t values (row_count())",
		"insert into t values (version())",   "insert into t values (database())",
		"insert into t values (schema())",
	};
	for (size_t i = 0; i < sizeof(session) / sizeof(session[0]); i++)
		if (unsafe(session[i]) != SQL_UNSAFE_SESSION_FN)
			fail_msg("\"%s\" uses the session", session[i]);
	assert_int_equal(unsafe("insert into t (user) values ('x')"), 0);
	assert_int_equal(unsafe("select user from t"), 0);
	assert_int_equal(unsafe("create database d"), 0);
	/* Functions that take no argument are not what "name(42)" is: slurmdbd's
	 * index prefixes. */
	assert_int_equal(unsafe("create table if not exists acct_coord_table (`user` tinytext not null, "
				"primary key (acct(42), user(42)), key user (user(42))) engine='innodb'"),
			 0);
	assert_int_equal(unsafe("select uuid(1), version(2), database(3)"), 0);

	static const char *const locks[] = {
		"do get_lock('a', 1)",	  "do release_lock('a')", "do release_all_locks()",
		"select is_free_lock('a')", "select is_used_lock('a')", "insert into t select sleep(1)",
		"select benchmark(10, 1)",
	};
	for (size_t i = 0; i < sizeof(locks) / sizeof(locks[0]); i++)
		if (unsafe(locks[i]) != SQL_UNSAFE_LOCK_FN)
			fail_msg("\"%s\" uses a lock function", locks[i]);

	assert_int_equal(unsafe("insert into t values (load_file('/etc/passwd'))"), SQL_UNSAFE_LOAD_FILE);
	assert_int_equal(unsafe("load data infile '/tmp/x' into table t"), SQL_UNSAFE_LOAD_FILE);
	assert_int_equal(unsafe("load data local infile 'x' into table t"), SQL_UNSAFE_LOAD_FILE);
	assert_int_equal(unsafe("insert into t values ('load_file()')"), 0);

	assert_int_equal(unsafe("insert into t values (uuid(), rand(), sleep(0), user(), now())"),
			 SQL_UNSAFE_UUID | SQL_UNSAFE_RAND | SQL_UNSAFE_LOCK_FN | SQL_UNSAFE_SESSION_FN);
	/* Case does not matter. */
	assert_int_equal(unsafe("INSERT INTO t VALUES (UuId())"), SQL_UNSAFE_UUID);
}

static void test_last_insert_id(void **state)
{
	struct sql_facts f = facts("select last_insert_id()");
	assert_true(f.reads_last_insert_id);
	assert_false(f.sets_last_insert_id);
	f = facts("insert into t (a) values (1) on duplicate key update id=LAST_INSERT_ID(id)");
	assert_false(f.reads_last_insert_id);
	assert_true(f.sets_last_insert_id);
	f = facts("update t set a = last_insert_id(a + 1), b = last_insert_id ( )");
	assert_true(f.reads_last_insert_id);
	assert_true(f.sets_last_insert_id);
	f = facts("select 'last_insert_id()', x.last_insert_id()");
	assert_false(f.reads_last_insert_id);
	assert_false(f.sets_last_insert_id);
}

/* ---- facts: clauses ------------------------------------------------------ */

static void test_limit(void **state)
{
	/* slurmdbd's purge, ANSI_QUOTES names: unordered, then ordered. */
	assert_int_equal(unsafe("delete from \"c_job_table\" where time_submit <= 1700000000 && time_end != 0 "
				"LIMIT 50000"),
			 SQL_UNSAFE_LIMIT);
	assert_int_equal(unsafe("delete from \"c_job_table\" where time_submit <= 1700000000 && time_end != 0 "
				"order by time_submit asc LIMIT 50000"),
			 0);
	assert_int_equal(unsafe("update t set a = 1 limit 1"), SQL_UNSAFE_LIMIT);
	assert_int_equal(unsafe("update t set a = 1 order by id limit 1"), 0);
	assert_int_equal(unsafe("insert into t select * from u limit 10"), SQL_UNSAFE_LIMIT);
	assert_int_equal(unsafe("insert into t (a) select a from u order by a limit 10"), 0);
	assert_int_equal(unsafe("insert into t (select a from u limit 10)"), SQL_UNSAFE_LIMIT);
	assert_int_equal(unsafe("replace into t select * from u limit 10"), SQL_UNSAFE_LIMIT);
	/* LIMIT and ORDER BY below the top level do not pick the rows written. */
	assert_int_equal(unsafe("update t set a = (select b from u limit 1)"), 0);
	assert_int_equal(unsafe("update t set a = (select b from u order by b limit 1) limit 5"),
			 SQL_UNSAFE_LIMIT);
	assert_int_equal(unsafe("insert into t values ((select a from u limit 1))"), 0);
	assert_int_equal(unsafe("insert into t set a = (select a from u limit 1)"), 0);
	assert_int_equal(unsafe("delete from t where id in (select id from (select id from u limit 5) x)"), 0);
	/* Reads are not writes. */
	assert_int_equal(unsafe("select * from t limit 1"), 0);
	/* Quoted and commented LIMITs are not clauses. */
	assert_int_equal(unsafe("delete from t where a = 'limit 1' /* limit 2 */"), 0);
	assert_int_equal(unsafe("set statement max_statement_time=1 for delete from t limit 1"), SQL_UNSAFE_LIMIT);
}

static void test_on_duplicate_key(void **state)
{
	/* slurmdbd's association insert, ANSI_QUOTES names. */
	struct sql_facts f = facts(
		"insert into \"c_assoc_table\" (creation_time, mod_time, acct, \"user\", \"partition\", lft, rgt) "
		"values (1700000000, 1700000000, 'root', '', '', 1, 2) "
		"on duplicate key update deleted=0, id_assoc=LAST_INSERT_ID(id_assoc), mod_time=UNIX_TIMESTAMP()");
	assert_int_equal(f.kind, SQL_INSERT);
	assert_true(f.has_on_duplicate_key);
	assert_true(f.sets_last_insert_id);
	assert_false(f.reads_last_insert_id);
	assert_true(f.uses_time);
	assert_int_equal(f.unsafe, 0);

	f = facts("insert into t (a) select a from u on duplicate key update a = values(a)");
	assert_true(f.has_on_duplicate_key);
	assert_int_equal(f.unsafe, SQL_UNSAFE_INSERT_SELECT_ODKU);
	f = facts("insert into t (a) values ((select max(a) from u)) on duplicate key update a = 1");
	assert_true(f.has_on_duplicate_key);
	assert_int_equal(f.unsafe, 0);
	f = facts("insert into t set a = 1 on duplicate key update a = (select 2)");
	assert_int_equal(f.unsafe, 0);
	f = facts("insert into t select 1 limit 1 on duplicate key update a = 1");
	assert_int_equal(f.unsafe, SQL_UNSAFE_INSERT_SELECT_ODKU | SQL_UNSAFE_LIMIT);
	assert_false(facts("insert into t values ('on duplicate key update')").has_on_duplicate_key);
}

static void test_user_vars(void **state)
{
	static const char *const reads[] = {
		"select @x",
		"select@x",
		"insert into t values (@x)",
		"set @a = @b",
		"set @a = 1, @b = @a + 1",
		"set @a := @b",
		"select @x = 1",
		"execute s using @a",
		"prepare s from @sql",
		"select @`x y`",
		"select @'x'",
		"select @\"x\"",
		"select @x.y",
		"update t set a = @x",
		"set @a = (select @b := 1, @c)",
		"select a into @x from t where b = @y",
	};
	for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++)
		if (!facts(reads[i]).reads_user_vars)
			fail_msg("\"%s\" reads a user variable", reads[i]);
	static const char *const no_reads[] = {
		"set @a = 1",
		"SET @a := 1",
		"set @a = 1, @b = 2",
		"set @a = 1, @b := 2",
		"set @a = if(1, 2, 3), @b = 4",
		"select @x := 1",
		"select @a := a, @b := b from t",
		"select a, b into @x, @y from t",
		"select @@version",
		"set @@session.sql_mode = 'ANSI'",
		"select '@x', \"@x\", `@x`",
		"select 1 /* @x */",
		"grant all on *.* to 'u'@'localhost'",
		"create user u@localhost",
		"create definer=`root`@`%` procedure p() select 1",
		"select 1@",
	};
	for (size_t i = 0; i < sizeof(no_reads) / sizeof(no_reads[0]); i++)
		if (facts(no_reads[i]).reads_user_vars)
			fail_msg("\"%s\" reads no user variable", no_reads[i]);
}

static void test_writes_user_vars(void **state)
{
	static const char *const writes[] = {
		"set @a = 1",
		"SET @a := @b",
		"set @a = 1, @b = 2",
		"select @x := 1",
		"select a, b into @x, @y from t",
		"update t set a = (@n := @n + 1)",
		"set @a = (select @b := 1, @c)",
	};
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		if (!facts(writes[i]).writes_user_vars)
			fail_msg("\"%s\" assigns a user variable", writes[i]);
	static const char *const no_writes[] = {
		"select @x",
		"insert into t values (@x)",
		"select @x = 1",
		"set @@session.sql_mode = 'ANSI'",
		"set autocommit = 0",
		"select ':=', '@x := 1'",
		"grant all on *.* to 'u'@'localhost'",
	};
	for (size_t i = 0; i < sizeof(no_writes) / sizeof(no_writes[0]); i++)
		if (facts(no_writes[i]).writes_user_vars)
			fail_msg("\"%s\" assigns no user variable", no_writes[i]);
}

/* What a deadlock replay may run again: all of it inside the transaction. */
static void test_rerunnable(void **state)
{
	static const char *const yes[] = {
		"select lft from assoc_table where deleted = 0 for update",
		"SELECT @@in_transaction",
		"select @x",
		"set autocommit=0",
		"SET NAMES utf8mb4",
		"set session transaction isolation level read committed",
		"use slurm_acct_db",
		"begin",
		"start transaction",
		"savepoint a",
		"rollback to savepoint a",
		"insert into t (a, mod_time) values (1, UNIX_TIMESTAMP()) on duplicate key update a = VALUES(a)",
		"replace into t values (1)",
		"update assoc_table set rgt = rgt + 2 where rgt > 10",
		"delete from job_table where time_end < 5 limit 50000",
		"insert into u select * from t",
		"insert into t values (uuid(), rand())",
		"show warnings",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct sql_var_ledger l = {0};
		const char *why = sql_not_rerunnable(yes[i], strlen(yes[i]), &l);
		if (why)
			fail_msg("\"%s\" may run again, not: %s", yes[i], why);
	}
	static const char *const no[] = {
		"call p()",
		"create temporary table x (a int)",
		"drop table t",
		"load data local infile 'f' into table t",
		"prepare s from 'select 1'",
		"execute s",
		"lock tables t write",
		"xa start 'x'",
		"select a into @x from t",
		"select a from t into outfile '/tmp/x'",
		"select get_lock('x', 1)",
		"do release_lock('x')",
		"select sleep(1)",
		"insert into t values (load_file('/etc/passwd'))",
		"grant select on *.* to u",
		"handler t open",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct sql_var_ledger l = {0};
		if (!sql_not_rerunnable(no[i], strlen(no[i]), &l))
			fail_msg("\"%s\" must not run again", no[i]);
	}
}

/* A transaction's statements, '|' between them, through one ledger: NULL
 * when its user variables read on a replay what they read the first time. */
static const char *ledger(const char *txn)
{
	struct sql_var_ledger l = {0};
	for (const char *p = txn;;) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		const char *why = sql_not_rerunnable(p, n, &l);
		if (why || !bar)
			return why;
		p = bar + 1;
	}
}

static void test_var_ledger(void **state)
{
	(void)state;
	static const char *const yes[] = {
		/* Slurm's rollup, and a later statement that reads the sum */
		"insert into h (id, t, alloc_secs) select id_assoc, 1, @ASUM:=SUM(cpus * 10) from j where a < 5 "
		"group by id_assoc on duplicate key update mod_time=5, alloc_secs=@ASUM|select @asum",
		"set @n = 1|update t set a = @n|select @N + 1",
		"set @a = 1, @b = 2|insert into t values (@a, @b)",
		"select @x := a from t where id = 1|update u set b = @x",
		"select a from t where b = @before|update t set a = @before",
		"set @`quoted name` = 5|select @'quoted name'",
		"update t set a = 1|select 1",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		const char *why = ledger(yes[i]);
		if (why)
			fail_msg("\"%s\" replays its variables, not: %s", yes[i], why);
	}
	static const char *const no[] = {
		"set @n = @n + 1",                              /* reads before it assigns */
		"update t set a = (@n := @n + 1)",              /* the same, per row */
		"select @n := @n + 1 from t",
		"select if(a > 1, @n := a, 0) from t",          /* may not run */
		"select case when a then @n := 1 end from t",
		"select @n := a from t limit 1",                /* rows evaluated, then dropped */
		"select @n := sum(a) from t group by b having sum(a) > 1",
		"select a from t where b = @n := 5",            /* not in the list */
		"select @n|set @n = 1",                         /* read before the transaction assigned it */
		"set @n = 1|set @n = 2",                        /* assigned twice */
		"select @n := 1|set @N = 2",                    /* names fold */
		"set @n = 1, @n = 2",
		"select a into @n from t",
		"insert into h select @s := a from t on duplicate key update b = @s, c = @s := 2",
		"set @\xc3\xa9 = 1",                             /* not ASCII: the server folds it */
		"select @a1, @a2, @a3, @a4, @a5, @a6, @a7, @a8, @a9",
		"set @a1 = 1, @a2 = 1, @a3 = 1, @a4 = 1, @a5 = 1, @a6 = 1, @a7 = 1, @a8 = 1|"
		"set @b1 = 1, @b2 = 1, @b3 = 1, @b4 = 1, @b5 = 1, @b6 = 1, @b7 = 1, @b8 = 1|set @c = 1",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (!ledger(no[i]))
			fail_msg("\"%s\" must not replay its variables", no[i]);
}

static struct sql_ddl ddl(const char *stmt)
{
	struct sql_ddl d;
	sql_ddl_effect(stmt, strlen(stmt), &d);
	return d;
}

static void test_ddl_effect(void **state)
{
	(void)state;
	struct sql_ddl d = ddl("DROP TABLE IF EXISTS side_15");
	assert_int_equal(d.effect, SQL_DDL_DROP_TABLE);
	assert_true(d.if_clause);
	assert_string_equal(d.table.db, "");
	assert_string_equal(d.table.table, "side_15");
	d = ddl("drop table `acct`.`job table` cascade;");
	assert_int_equal(d.effect, SQL_DDL_DROP_TABLE);
	assert_false(d.if_clause);
	assert_string_equal(d.table.db, "acct");
	assert_string_equal(d.table.table, "job table");

	d = ddl("CREATE TABLE side_3 (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(32), t6 DATETIME(6)) "
		"ENGINE=InnoDB COMMENT='x'");
	assert_int_equal(d.effect, SQL_DDL_CREATE_TABLE);
	assert_false(d.if_clause);
	assert_string_equal(d.table.table, "side_3");
	d = ddl("create table if not exists \"c_assoc_table\" (creation_time bigint unsigned not null, "
		"primary key (id_assoc)) engine='innodb'");
	assert_int_equal(d.effect, SQL_DDL_CREATE_TABLE);
	assert_true(d.if_clause);

	d = ddl("ALTER TABLE side_3 ADD COLUMN extra INT NOT NULL DEFAULT 7");
	assert_int_equal(d.effect, SQL_DDL_ADD_COLUMN);
	assert_string_equal(d.table.table, "side_3");
	assert_string_equal(d.detail, "extra");
	d = ddl("alter table t add `x y` decimal(10, 2) after b");
	assert_int_equal(d.effect, SQL_DDL_ADD_COLUMN);
	assert_string_equal(d.detail, "x y");
	d = ddl("alter table t add column if not exists c int");
	assert_int_equal(d.effect, SQL_DDL_ADD_COLUMN);
	assert_true(d.if_clause);
	assert_string_equal(d.detail, "c");

	d = ddl("ALTER TABLE items COMMENT = 'altered by t0n12'");
	assert_int_equal(d.effect, SQL_DDL_TABLE_COMMENT);
	assert_string_equal(d.table.table, "items");
	assert_string_equal(d.detail, "altered by t0n12");
	d = ddl("alter table items comment 'it''s'");
	assert_int_equal(d.effect, SQL_DDL_TABLE_COMMENT);
	assert_string_equal(d.detail, "it's");

	static const char *const other[] = {
		"DROP TABLE a, b",
		"DROP TEMPORARY TABLE a",
		"DROP TABLE IF EXISTS",
		"DROP VIEW v",
		"CREATE TEMPORARY TABLE t (a int)",
		"CREATE OR REPLACE TABLE t (a int)",
		"CREATE TABLE t (a int) SELECT 1 AS a",
		"CREATE TABLE t (a int) AS SELECT 1",
		"CREATE TABLE t LIKE u",
		"CREATE TABLE t (LIKE u)",
		"CREATE TABLE t (SELECT 1)",
		"CREATE TABLE t (a int) PARTITION BY HASH (a)",
		"CREATE TABLE t (a int",
		"CREATE TABLE t",
		"CREATE INDEX i ON t (a)",
		"ALTER TABLE t ADD INDEX (a)",
		"ALTER TABLE t ADD KEY k (a)",
		"ALTER TABLE t ADD x int",
		"ALTER TABLE t ADD COLUMN x int, ADD COLUMN y int",
		"ALTER TABLE t ADD COLUMN (x int, y int)",
		"ALTER TABLE t ADD COLUMN x int)",
		"ALTER TABLE t DROP COLUMN x",
		"ALTER TABLE t COMMENT = 'a\\'b'",
		"ALTER TABLE t COMMENT = \"x\"",
		"ALTER TABLE t COMMENT = 'x', ENGINE = InnoDB",
		"ALTER TABLE t COMMENT = 'caf\xc3\xa9'",
		"ALTER TABLE t\xc3\xa9 COMMENT = 'x'",
		"ALTER ONLINE TABLE t ADD COLUMN x int",
		"DROP TABLE t; DROP TABLE u",
		"RENAME TABLE a TO b",
		"TRUNCATE TABLE t",
		"",
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (ddl(other[i]).effect != SQL_DDL_OTHER)
			fail_msg("\"%s\" is not one fact the catalog shows", other[i]);
}

static void test_may_redefine(void **state)
{
	(void)state;
	static const char *const yes[] = {
		"DROP TABLE IF EXISTS side_15",
		"drop table `SIDE_15`",
		"create table acct.side_15 (a int)",
		"RENAME TABLE x TO side_15",
		"ALTER TABLE y RENAME TO \"side_15\"",
		"DROP DATABASE acct",
		"create schema s",
		"CALL p()",
		"EXECUTE s1",
		"SET STATEMENT max_statement_time = 1 FOR DROP TABLE side_15",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!sql_may_redefine(yes[i], strlen(yes[i]), "side_15"))
			fail_msg("\"%s\" may redefine side_15", yes[i]);
	static const char *const no[] = {
		"INSERT INTO side_15 VALUES (1)",
		"DROP TABLE side_16",
		"DROP TABLE side_1",
		"CREATE TABLE t (a int COMMENT 'side_15')",
		"CREATE TABLE t (a int) /* side_15 */",
		"SELECT * FROM side_15",
		"ALTER TABLE side_150 ADD COLUMN x int",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (sql_may_redefine(no[i], strlen(no[i]), "side_15"))
			fail_msg("\"%s\" leaves side_15 as it was", no[i]);

	struct sql_table_name p;
	assert_true(sql_call_target("CALL acct.bump(3, 'x')", 22, &p));
	assert_string_equal(p.db, "acct");
	assert_string_equal(p.table, "bump");
	assert_true(sql_call_target("call `get parent`", 17, &p));
	assert_string_equal(p.db, "");
	assert_string_equal(p.table, "get parent");
	assert_false(sql_call_target("SELECT 1", 8, &p));
	assert_false(sql_call_target("CALL", 4, &p));

	static const char *const bodies_yes[] = {
		"BEGIN DROP TABLE IF EXISTS side_15; END",
		"BEGIN ALTER TABLE x RENAME TO side_15; END",
		"BEGIN CALL other(); END",
		"BEGIN PREPARE s FROM @q; EXECUTE s; END",
		"BEGIN DROP DATABASE d; END",
	};
	for (size_t i = 0; i < sizeof(bodies_yes) / sizeof(bodies_yes[0]); i++)
		if (!sql_body_may_redefine(bodies_yes[i], strlen(bodies_yes[i]), "side_15"))
			fail_msg("body \"%s\" may redefine side_15", bodies_yes[i]);
	static const char *const bodies_no[] = {
		"BEGIN UPDATE side_15 SET a = a + 1; END",
		"BEGIN DROP TABLE IF EXISTS other; END",
		"BEGIN INSERT INTO t VALUES ('drop side_15'); END",
	};
	for (size_t i = 0; i < sizeof(bodies_no) / sizeof(bodies_no[0]); i++)
		if (sql_body_may_redefine(bodies_no[i], strlen(bodies_no[i]), "side_15"))
			fail_msg("body \"%s\" leaves side_15 as it was", bodies_no[i]);
}

static void test_for_update_and_into(void **state)
{
	assert_true(facts("select * from t where a = 1 for update").for_update);
	assert_true(facts("select * from t FOR SHARE").for_update);
	assert_true(facts("select * from t lock in share mode").for_update);
	assert_false(facts("select * from t").for_update);
	assert_false(facts("select 'for update' from t").for_update);
	assert_false(facts("set statement max_statement_time=1 for update t set a=1").for_update);
	assert_int_equal(facts("set statement max_statement_time=1 for update t set a=1").kind, SQL_UPDATE);
	assert_true(facts("set statement max_statement_time=1 for select 1 for update").for_update);
	assert_false(facts("create trigger tr before update on t for each row set @a = 1").for_update);
	assert_false(facts("lock tables t write").for_update);

	assert_true(facts("select a into @x from t").select_into);
	assert_true(facts("select a from t into outfile '/tmp/x'").select_into);
	assert_true(facts("(select a from t) into dumpfile '/tmp/x'").select_into);
	assert_false(facts("insert into t select 1").select_into);
	assert_false(facts("insert into t values (1)").select_into);
	assert_false(facts("select 'into' from t").select_into);
	assert_false(facts("load data infile 'x' into table t").select_into);
}

/* Each flag alone, so none leaks into another. */
static void test_facts_clean(void **state)
{
	struct sql_facts f = facts("insert into t (a, b) values (1, 'x')");
	assert_int_equal(f.kind, SQL_INSERT);
	assert_int_equal(f.unsafe, 0);
	assert_false(f.uses_time || f.reads_last_insert_id || f.sets_last_insert_id || f.reads_user_vars ||
		     f.has_on_duplicate_key || f.for_update || f.select_into);
	f = facts("");
	assert_int_equal(f.kind, SQL_OTHER);
	assert_int_equal(f.unsafe, 0);
}

/* ---- digests ------------------------------------------------------------- */

static void test_digest_literals(void **state)
{
	assert_string_equal(digest("select a, 'x', \"y\", 12, 1.5e3, .5, 0x1F, X'1F', b'01', 0b1, N'z', ? from t",
				   NULL),
			    "SELECT a, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM t");
	assert_string_equal(digest("select NULL, null, true from t where a is null", NULL),
			    "SELECT NULL, NULL, TRUE FROM t WHERE a IS NULL");
	/* Names are kept as written, their quotes dropped; keywords upper-cased. */
	assert_string_equal(digest("Select `My Col`, `a``b`, Time_Submit From `db`.`t`", NULL),
			    "SELECT My Col, a`b, Time_Submit FROM db.t");
	/* A keyword after or before a '.' is a name. */
	assert_string_equal(digest("select t.now, t.key, key.x from t", NULL), "SELECT t.now, t.key, key.x FROM t");
	assert_string_equal(digest("select 123abc, a1 from t1", NULL), "SELECT 123abc, a1 FROM t1");
	assert_string_equal(digest("select @x, @@session.sql_mode", NULL), "SELECT @x, @@session.sql_mode");
}

static void test_digest_blanks_and_comments(void **state)
{
	assert_string_equal(digest("  select\t\n a  ,b\r\nfrom   t  ", NULL), "SELECT a ,b FROM t");
	assert_string_equal(digest("select /* c */ a -- d\n from # e\n t", NULL), "SELECT a FROM t");
	assert_string_equal(digest("select/**/a/**/from/**/t", NULL), "SELECT a FROM t");
	/* Executable comments are code; their markers are blanks. */
	assert_string_equal(digest("select /*! STRAIGHT_JOIN */ a from t /*M!100100 for update*/", NULL),
			    "SELECT STRAIGHT_JOIN a FROM t FOR UPDATE");
	assert_int_equal(digest_hash("select a from t"), digest_hash("SELECT  a /* x */ FROM t"));
}

static void test_digest_lists(void **state)
{
	assert_string_equal(digest("select * from t where id in (1, 2, 3)", NULL),
			    "SELECT * FROM t WHERE id IN (...)");
	assert_string_equal(digest("select * from t where id IN(1)", NULL), "SELECT * FROM t WHERE id IN(...)");
	assert_string_equal(digest("select * from t where id not in ('a', -1, NULL, ?)", NULL),
			    "SELECT * FROM t WHERE id NOT IN (...)");
	assert_int_equal(digest_hash("select * from t where id in (1)"),
			 digest_hash("select * from t where id in (1, 2, 3, 4, 5, 6)"));
	/* A list that is not all literals keeps its shape. */
	assert_string_equal(digest("select * from t where id in (select id from u where a = 1)", NULL),
			    "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE a = ?)");
	assert_string_equal(digest("select * from t where id in (a, 1)", NULL),
			    "SELECT * FROM t WHERE id IN (a, ?)");

	assert_string_equal(digest("insert into t (a, b) values (1, 'x'), (2, 'y'), (3, now())", NULL),
			    "INSERT INTO t (a, b) VALUES (...)");
	assert_string_equal(digest("insert into t values(1,2)", NULL), "INSERT INTO t VALUES(...)");
	assert_int_equal(digest_hash("insert into t (a) values (1)"),
			 digest_hash("insert into t (a) values (1), (2), (3)"));
	/* ON DUPLICATE KEY UPDATE's VALUES(col) is a function, kept. */
	assert_string_equal(
		digest("insert into t (a) values (1),(2) on duplicate key update a=VALUES(a), b = values(b) + 1",
		       NULL),
		"INSERT INTO t (a) VALUES (...) ON DUPLICATE KEY UPDATE a=VALUES(a), b = VALUES(b) + ?");
	/* slurmdbd's shape, ANSI_QUOTES names. */
	assert_string_equal(
		digest("insert into \"c_assoc_table\" (creation_time, \"user\") values (1700000000, 'bob'), "
		       "(1700000001, 'al') on duplicate key update id_assoc=LAST_INSERT_ID(id_assoc), "
		       "mod_time=UNIX_TIMESTAMP()",
		       NULL),
		"INSERT INTO c_assoc_table (creation_time, user) VALUES (...) ON DUPLICATE KEY UPDATE "
		"id_assoc=LAST_INSERT_ID(id_assoc), mod_time=UNIX_TIMESTAMP()");
	assert_string_equal(digest("create table if not exists \"c_job_table\" (\"a\" int default 0)", NULL),
			    "CREATE TABLE IF NOT EXISTS c_job_table (a INT DEFAULT ?)");
	/* Without a name's place to tell, "..." are strings. */
	assert_string_equal(digest("select * from t where a = \"x\"", NULL), "SELECT * FROM t WHERE a = ?");
	assert_string_equal(digest("delete from \"c_job_table\" where time_submit <= 1700000000 && time_end != 0 "
				   "LIMIT 50000",
				   NULL),
			    "DELETE FROM c_job_table WHERE time_submit <= ? && time_end != ? LIMIT ?");
}

static void test_digest_negative(void **state)
{
	assert_string_equal(digest("select -1, a - 1, a-1, (-2), f(x,-3) from t where b = -4 and c > - 5", NULL),
			    "SELECT ?, a - ?, a-?, (?), f(x,?) FROM t WHERE b = ? AND c > ?");
	assert_string_equal(digest("select 1 - -1, (a) - 1", NULL), "SELECT ? - ?, (a) - ?");
	assert_string_equal(digest("select a -b", NULL), "SELECT a -b");
	assert_int_equal(digest_hash("select * from t where a = -1"), digest_hash("select * from t where a = 7"));
}

static void test_digest_truncation(void **state)
{
	const char *stmt = "select a_long_column_name, another_one from some_table where x = 1";
	uint64_t full_hash;
	char full[256];
	strcpy(full, digest(stmt, &full_hash));
	size_t full_len = strlen(full);
	for (size_t cap = 0; cap <= full_len + 2; cap++) {
		char *out = malloc(cap ? cap : 1);
		memset(out, 'Z', cap ? cap : 1);
		uint64_t h = sql_digest(stmt, strlen(stmt), cap ? out : NULL, cap);
		assert_true(h == full_hash);
		if (cap > 0) {
			size_t n = strnlen(out, cap);
			assert_true(n < cap);
			assert_int_equal(n, cap - 1 < full_len ? cap - 1 : full_len);
			assert_memory_equal(out, full, n);
		}
		free(out);
	}
	/* A cut inside a multi-byte character drops the character. */
	const char *utf = "select `caf\xc3\xa9` from t";
	char out[13];
	sql_digest(utf, strlen(utf), out, 13);
	assert_string_equal(out, "SELECT caf\xc3\xa9");
	sql_digest(utf, strlen(utf), out, 12);
	assert_string_equal(out, "SELECT caf");
	const char *euro = "select `\xe2\x82\xac`";
	char out3[10];
	sql_digest(euro, strlen(euro), out3, 10);
	assert_string_equal(out3, "SELECT ");
	/* The known hash of a fixed text (FNV-1a 64 of "SELECT ?"). */
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = "SELECT ?"; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	assert_true(digest_hash("select 1") == h);
}

static void test_digest_binary(void **state)
{
	const char bin[] = {'s', 'e', 'l', 'e', 'c', 't', ' ', '\x01', '\x00', '`', '\x00', '`'};
	char out[32];
	sql_digest(bin, sizeof(bin), out, sizeof(out));
	assert_string_equal(out, "SELECT ???");
	/* Empty and comment-only texts digest to the empty text. */
	sql_digest("", 0, out, sizeof(out));
	assert_string_equal(out, "");
	assert_true(digest_hash("/* x */") == 0xcbf29ce484222325ull);
}

/* The throttle's rules against digests: '*' any run, case folded, '?'
 * literal, the whole digest matched. */
static void test_digest_matches(void **state)
{
	(void)state;
	const char *rollup = "INSERT INTO c1_assoc_usage_hour_table (a,b) SELECT ?, ?, id FROM x WHERE t=? ON DUPLICATE "
			     "KEY UPDATE a=VALUES(a)";
	assert_true(sql_digest_matches("INSERT INTO *usage_* SELECT *", rollup));
	assert_true(sql_digest_matches("insert into *USAGE_*", rollup));
	assert_true(sql_digest_matches("*", rollup));
	assert_true(sql_digest_matches("*VALUES(a)", rollup));
	assert_false(sql_digest_matches("INSERT INTO *job_table*", rollup));
	assert_false(sql_digest_matches("INSERT INTO *usage_*SELECT", rollup)); /* the end must match too */
	assert_true(sql_digest_matches("UPDATE * LIMIT ?", "UPDATE c1_job_table SET deleted = ? WHERE deleted = ? LIMIT ?"));
	assert_false(sql_digest_matches("UPDATE * LIMIT ?", "UPDATE c1_job_table SET deleted = ? WHERE deleted = ?"));
	assert_false(sql_digest_matches("UPDATE * LIMIT ?", "UPDATE t SET a = ? LIMIT 5"));
	assert_true(sql_digest_matches("", ""));
	assert_false(sql_digest_matches("", "X"));
	assert_true(sql_digest_matches("**", ""));
	assert_true(sql_digest_matches("a*b*c", "aXXbYYbZZc"));
	assert_false(sql_digest_matches("a*b*c", "aXXbYYcZZ"));
	/* Many stars against a long near-miss stays cheap (no exponential
	 * backtracking): this returns at once. */
	char d[4096];
	memset(d, 'a', sizeof(d) - 1);
	d[sizeof(d) - 1] = '\0';
	assert_false(sql_digest_matches("*a*a*a*a*a*a*a*a*a*a*b", d));
}

/* "db.table,table2": the tables sql_clock_tables found, in order. */
static void assert_clock_tables(const char *stmt, const char *want)
{
	struct sql_facts f;
	sql_analyse(stmt, strlen(stmt), &f);
	struct sql_tables t;
	bool ok = sql_clock_tables(stmt, strlen(stmt), &f, &t);
	if (!want) {
		if (ok)
			fail_msg("clock-free through tables, expected not: %s", stmt);
		return;
	}
	if (!ok)
		fail_msg("not clock-free through tables: %s", stmt);
	char got[1024] = "";
	size_t used = 0;
	for (size_t i = 0; i < t.n; i++)
		used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%s%s%s", i ? "," : "", t.t[i].db,
					 t.t[i].db[0] ? "." : "", t.t[i].table);
	if (strcmp(got, want) != 0)
		fail_msg("%s: tables \"%s\", expected \"%s\"", stmt, got, want);
}

static void test_clock_tables(void **state)
{
	(void)state;
	/* sysbench's writes and Slurm-shaped ones. */
	assert_clock_tables("UPDATE sbtest1 SET k=k+1 WHERE id=?", "sbtest1");
	assert_clock_tables("DELETE FROM sbtest3 WHERE id=?", "sbtest3");
	assert_clock_tables("INSERT INTO sbtest2 (id, k, c, pad) VALUES (?, ?, ?, ?)", "sbtest2");
	assert_clock_tables("insert into \"c1_step_table\" (job_db_inx, id_step) values (5, 0) on duplicate key "
			    "update nodes_alloc=VALUES(nodes_alloc), time_end=GREATEST(time_end, 7)",
			    "c1_step_table");
	assert_clock_tables("update `slurm_acct_db`.`c1_job_table` set state=3 where job_db_inx=1",
			    "slurm_acct_db.c1_job_table");
	assert_clock_tables("INSERT IGNORE INTO t SET a = 1", "t");
	assert_clock_tables("REPLACE LOW_PRIORITY t VALUES (1)", "t");
	assert_clock_tables("INSERT INTO u (a) SELECT x FROM v JOIN w ON v.i = w.i, y WHERE x IN (SELECT b FROM z)",
			    "u,v,w,y,z");
	assert_clock_tables("UPDATE t1 a, t2 AS b SET a.x = b.x WHERE a.i = b.i", "t1,t2");
	assert_clock_tables("UPDATE t SET x = (SELECT MAX(y) FROM u), z = 1", "t,u");
	assert_clock_tables("DELETE t1 FROM t1 LEFT JOIN t2 ON t1.i = t2.i WHERE t2.i IS NULL", "t1,t2");
	assert_clock_tables("DELETE FROM t1, t2 USING t1 STRAIGHT_JOIN t2 WHERE t1.i = t2.i", "t1,t2");
	assert_clock_tables("DELETE LOW_PRIORITY QUICK FROM a WHERE i=1", "a");
	assert_clock_tables("SELECT 1 FROM DUAL", "");
	assert_clock_tables("SELECT a FROM (SELECT b AS a FROM t) AS d", "t");
	assert_clock_tables("UPDATE t SET a = `b``c` WHERE d = 'now()'", "t");
	assert_clock_tables("UPDATE `we``ird` SET a = 1", "we`ird");

	/* The clock, or what may read it. */
	assert_clock_tables("UPDATE t SET mod_time=UNIX_TIMESTAMP() WHERE i=1", NULL);
	assert_clock_tables("INSERT INTO t VALUES (NOW(6))", NULL);
	assert_clock_tables("UPDATE t SET d = CURRENT_TIMESTAMP", NULL);
	assert_clock_tables("UPDATE t SET d = SYSDATE()", NULL);
	assert_clock_tables("INSERT INTO t VALUES (@@timestamp)", NULL);
	assert_clock_tables("UPDATE t SET a = my_function(1)", NULL);     /* a stored function */
	assert_clock_tables("UPDATE t SET a = db.f(1)", NULL);
	assert_clock_tables("UPDATE t SET a = `f`(1)", NULL);
	assert_clock_tables("CALL p(1)", NULL);
	assert_clock_tables("CREATE TABLE t (a INT)", NULL);
	assert_clock_tables("SET @a = 1", NULL);
	assert_clock_tables("WITH c AS (SELECT 1) UPDATE t SET a = 1", NULL);
	assert_clock_tables("SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1", NULL);
	assert_clock_tables("INSERT INTO t TABLE u", NULL);
	assert_clock_tables("SELECT a INTO @x FROM t", NULL);
	assert_clock_tables("UPDATE t SET a = 1 WHERE b IN (SELECT c FROM 5)", NULL); /* not a table */
	assert_clock_tables("UPDATE t1, t2, t3, t4, t5, t6, t7, t8, t9 SET a = 1", NULL); /* too many */
	assert_clock_tables("DELETE FROM", NULL);
	assert_clock_tables("UPDATE", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_basic),
		cmocka_unit_test(test_clock_tables),
		cmocka_unit_test(test_split_quotes),
		cmocka_unit_test(test_split_comments),
		cmocka_unit_test(test_split_slurm_procedure),
		cmocka_unit_test(test_split_compound),
		cmocka_unit_test(test_split_positions),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_time_functions),
		cmocka_unit_test(test_unsafe_functions),
		cmocka_unit_test(test_last_insert_id),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_on_duplicate_key),
		cmocka_unit_test(test_user_vars),
		cmocka_unit_test(test_writes_user_vars),
		cmocka_unit_test(test_var_ledger),
		cmocka_unit_test(test_rerunnable),
		cmocka_unit_test(test_for_update_and_into),
		cmocka_unit_test(test_ddl_effect),
		cmocka_unit_test(test_may_redefine),
		cmocka_unit_test(test_facts_clean),
		cmocka_unit_test(test_digest_literals),
		cmocka_unit_test(test_digest_blanks_and_comments),
		cmocka_unit_test(test_digest_lists),
		cmocka_unit_test(test_digest_negative),
		cmocka_unit_test(test_digest_truncation),
		cmocka_unit_test(test_digest_binary),
		cmocka_unit_test(test_digest_matches),
	};
	return cmocka_run_group_tests_name("sqltext", tests, NULL, NULL);
}
