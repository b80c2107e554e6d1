-- journal_schema.sql - the schema journal_workload.c writes to; the
-- journal tests create it through acctgate (mariadb client) in a fresh
-- database, so that its DDL is in the journal too.
CREATE TABLE acked (
	th INT NOT NULL, n BIGINT NOT NULL, tok VARCHAR(32) NOT NULL,
	ts BIGINT NOT NULL, t6 DATETIME(6) NOT NULL,
	PRIMARY KEY (th, n), UNIQUE KEY (tok)
) ENGINE=InnoDB;
CREATE TABLE items (
	id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(32) NOT NULL, qty INT NOT NULL,
	tok VARCHAR(32), ts BIGINT, t6 DATETIME(6),
	UNIQUE KEY (name)
) ENGINE=InnoDB;
CREATE TABLE events (
	id BIGINT AUTO_INCREMENT PRIMARY KEY, item_id BIGINT NOT NULL, th INT, n BIGINT,
	tok VARCHAR(32), note VARCHAR(255), ts BIGINT, t6 DATETIME(6)
) ENGINE=InnoDB;
CREATE TABLE hot (
	id INT PRIMARY KEY, v BIGINT NOT NULL, tok VARCHAR(32), t6 DATETIME(6)
) ENGINE=InnoDB;
INSERT INTO hot (id, v, tok, t6) VALUES (1, 1, 'init', '2000-01-01'), (2, 2, 'init', '2000-01-01'),
	(3, 3, 'init', '2000-01-01'), (4, 4, 'init', '2000-01-01');
CREATE TABLE proc_log (
	th INT NOT NULL, n BIGINT NOT NULL, tok VARCHAR(32), t6 DATETIME(6), ts BIGINT,
	PRIMARY KEY (th, n)
) ENGINE=InnoDB;
CREATE TABLE pstmt (
	id BIGINT AUTO_INCREMENT PRIMARY KEY, th INT, n BIGINT, tok VARCHAR(32), at DATETIME(6),
	body MEDIUMBLOB, t6 DATETIME(6)
) ENGINE=InnoDB;
-- Tables that read the clock without the statement saying so (a default,
-- ON UPDATE, a trigger on audited) and one that cannot: acctgate fixes the time for
-- writes to the first three only (proxy/tableclock.h).
CREATE TABLE stamped (
	id INT PRIMARY KEY, v BIGINT NOT NULL, tok VARCHAR(32),
	created DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6),
	changed DATETIME(6) DEFAULT '2000-01-01' ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;
INSERT INTO stamped (id, v) VALUES (1, 0), (2, 0), (3, 0), (4, 0);
CREATE TABLE plain (
	th INT NOT NULL, n BIGINT NOT NULL, tok VARCHAR(32), v INT DEFAULT 5, note VARCHAR(8) DEFAULT 'x',
	PRIMARY KEY (th, n)
) ENGINE=InnoDB;
CREATE TABLE audited (id BIGINT AUTO_INCREMENT PRIMARY KEY, tok VARCHAR(32)) ENGINE=InnoDB;
CREATE TABLE audit_log (src BIGINT PRIMARY KEY, tok VARCHAR(32), at DATETIME(6)) ENGINE=InnoDB;
-- journal_replay.sh adds the trigger that fills audit_log (an in-place
-- restore refuses a database with triggers, restore_in_place.sh's case).
DELIMITER //
CREATE PROCEDURE bump(IN p_th INT, IN p_n BIGINT, IN p_tok VARCHAR(32))
BEGIN
	INSERT INTO proc_log (th, n, tok, t6, ts) VALUES (p_th, p_n, p_tok, NOW(6), UNIX_TIMESTAMP());
	UPDATE hot SET v = v + p_th + 1, tok = p_tok, t6 = NOW(6) WHERE id = 1 + p_n % 4;
END//
DELIMITER ;
