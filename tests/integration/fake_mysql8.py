#!/usr/bin/python3
"""fake_mysql8.py - a scripted MySQL 8.0 server for the caching_sha2_password tests.

    fake_mysql8.py --port PORT --user NAME:PASSWORD [--user ...] [--bind 127.0.0.1]
                   [--cert FILE --key FILE] [--greeting-plugin PLUGIN]
                   [--pidfile F] [--log F]

MariaDB has no server side of caching_sha2_password, and no MySQL 8 is at
hand, so this plays one as far as a client can tell: HandshakeV10 with
version 8.0.36-fake and MySQL's capability bits (CLIENT_SSL with --cert and
--key), SSLRequest then a server-side TLS handshake, and the login exchange
of MySQL's sql/auth/sha2_password.cc:

  greeting (or AuthSwitchRequest) carries a 20-byte nonce
  client   -> XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce))  (32 bytes)
  cache warm and the scramble checks -> AuthMoreData 0x03, OK      "fast"
  otherwise                          -> AuthMoreData 0x04, then:
    on a TLS connection: the next packet is the password, in clear, NUL
      terminated; anything else is taken as a (wrong) password  "full-tls"
    on a plaintext one: an optional public-key request (0x02, answered
      with AuthMoreData + PEM), then RSA-OAEP(password NUL XOR nonce)   "full-rsa"
  a successful full authentication warms the user's cache; FLUSH PRIVILEGES
  empties every user's cache, as on MySQL.

What counts as TLS is this server's own transport, never the CLIENT_SSL bit
a client sets, exactly as MySQL decides. Every user authenticates with
caching_sha2_password; when the client's HandshakeResponse names another
plugin (because the greeting named one, --greeting-plugin
mysql_native_password, or the client chose it), the server switches it to
caching_sha2_password with a fresh nonce, as MySQL 8 does. Wrong password,
unknown user: ERR 1045 28000 "Access denied for user 'U'@'HOST' (using
password: YES)".

After login: COM_QUERY answers "SELECT item[, item...]" (integers, 'strings',
@@version, @@version_comment, @@port, VERSION(), USER(), CURRENT_USER(),
DATABASE(), CONNECTION_ID()) with a text result set (CLIENT_DEPRECATE_EOF
honoured), any other SELECT with ERR 1105, FLUSH PRIVILEGES and any other
statement with OK; COM_PING and COM_INIT_DB get OK, COM_QUIT closes, any
other command gets ERR 1047.

Each login attempt is one line in --log (default stderr), written when the
attempt ends:

  login conn=N user=U tls=yes|no switch=yes|no path=P pubkey=yes|no
        cleartext=yes|no result=ok|denied|aborted [reason=R]

path is how far it went: none (empty password), scramble (ended before the
answer to the scramble), fast, full (ended before the client answered
perform-full-authentication), full-tls, full-rsa. pubkey says whether the
client asked for the RSA key. cleartext says whether a password arrived in
clear: a packet of the exchange held the user's password, or the answer to
perform-full-authentication was text ending in one NUL, as clients send a
password (a wrong one counts; a lone NUL, an empty password, does not).
result=denied is a failed login (the client got ERR 1045); aborted means
the client went away mid-exchange, which MySQL counts as a handshake error
against the host's max_connect_errors. --pidfile is written once the port
listens; SIGTERM closes it and exits 0. Python 3 standard library and
python3-cryptography.
"""

import argparse
import hashlib
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import sys
import threading

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

VERSION = b"8.0.36-fake"
SHA2_PLUGIN = "caching_sha2_password"

CLIENT_LONG_PASSWORD = 1 << 0
CLIENT_FOUND_ROWS = 1 << 1
CLIENT_LONG_FLAG = 1 << 2
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_NO_SCHEMA = 1 << 4
CLIENT_ODBC = 1 << 6
CLIENT_IGNORE_SPACE = 1 << 8
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_INTERACTIVE = 1 << 10
CLIENT_SSL = 1 << 11
CLIENT_IGNORE_SIGPIPE = 1 << 12
CLIENT_TRANSACTIONS = 1 << 13
CLIENT_RESERVED = 1 << 14
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PS_MULTI_RESULTS = 1 << 18
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_CONNECT_ATTRS = 1 << 20
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 1 << 22
CLIENT_DEPRECATE_EOF = 1 << 24

# What a MySQL 8.0 server offers, less what this one cannot do: compression,
# LOCAL INFILE, session tracking, optional metadata, query attributes.
SERVER_CAPS = (CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_CONNECT_WITH_DB
               | CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41
               | CLIENT_INTERACTIVE | CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_RESERVED
               | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS
               | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS
               | CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS
               | CLIENT_DEPRECATE_EOF)

SERVER_STATUS_AUTOCOMMIT = 0x0002
CHARSET_UTF8MB4_0900 = 255
CHARSET_BINARY = 63
MYSQL_TYPE_LONGLONG = 0x08
MYSQL_TYPE_VAR_STRING = 0xFD
MYSQL_TYPE_NULL = 0x06

COM_QUIT = 0x01
COM_INIT_DB = 0x02
COM_QUERY = 0x03
COM_PING = 0x0E

FAST_AUTH_SUCCESS = b"\x03"
PERFORM_FULL_AUTHENTICATION = b"\x04"
REQUEST_PUBLIC_KEY = b"\x02"

# Padding of the client's RSA-encrypted password: OpenSSL's
# RSA_PKCS1_OAEP_PADDING, i.e. SHA-1 for the digest and MGF1.
RSA_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)


class Gone(Exception):
    """The peer closed the connection (or it failed) mid-exchange."""


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def nonce():
    """20 bytes as MySQL's generate_user_salt makes them: 7-bit, never NUL
    nor '$', so a client may treat the greeting's part 2 as a C string."""
    out = bytearray(b & 0x7F for b in secrets.token_bytes(20))
    for i, b in enumerate(out):
        if b in (0, ord("$")):
            out[i] = b + 1
    return bytes(out)


def xor(data, key):
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data))


def clear_shaped(pkt):
    """A password in clear, as clients send it: text and one final NUL (a
    lone NUL is an empty password, which gives nothing away)."""
    return len(pkt) > 1 and pkt.endswith(b"\0") and b"\0" not in pkt[:-1]


def lenenc_int(n):
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(s):
    return lenenc_int(len(s)) + s


def read_lenenc_int(p, pos):
    first = p[pos]
    if first < 251:
        return first, pos + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first)
    if size is None or pos + 1 + size > len(p):
        raise ValueError("bad length-encoded integer")
    return int.from_bytes(p[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def read_cstr(p, pos):
    end = p.find(b"\0", pos)
    if end < 0:
        return p[pos:], len(p)
    return p[pos:end], end + 1


class Server:
    """What every connection shares: users, the fast-auth cache, the RSA
    key pair, the TLS context and the log."""

    def __init__(self, args):
        self.users = {}
        for spec in args.user:
            name, _, password = spec.partition(":")
            self.users[name.encode()] = password.encode()
        self.greeting_plugin = args.greeting_plugin
        self.port = args.port
        self.tls = None
        if args.cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
            self.tls.load_cert_chain(args.cert, args.key)
        # MySQL loads or generates an RSA pair at start; so does this.
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rsa_pem = self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        # user -> SHA256(SHA256(password)), as MySQL keeps it after a full login
        self.cache = {}
        self.lock = threading.Lock()
        self.next_id = 0
        self.log_file = open(args.log, "a", buffering=1, encoding="utf-8") if args.log else sys.stderr

    def log(self, line):
        with self.lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def connection_id(self):
        with self.lock:
            self.next_id += 1
            return self.next_id

    def cached(self, user):
        with self.lock:
            return self.cache.get(user)

    def warm(self, user, password):
        with self.lock:
            self.cache[user] = sha256(sha256(password))

    def flush(self):
        with self.lock:
            self.cache.clear()


class Connection:
    """One client: the handshake, the login, then commands until it quits."""

    def __init__(self, server, sock, peer):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.id = server.connection_id()
        self.seq = 0
        self.caps = 0
        self.is_tls = False
        self.user = b""
        self.database = b""

    # ---- packets ---------------------------------------------------------

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except (OSError, ssl.SSLError) as e:
                raise Gone(str(e)) from e
            if not chunk:
                raise Gone("connection closed")
            buf += chunk
        return bytes(buf)

    def read_packet(self):
        """One packet (the exchanges here never need 16 MiB ones); the
        reply to it takes the next sequence id."""
        hdr = self.recv_exact(4)
        n = int.from_bytes(hdr[:3], "little")
        self.seq = (hdr[3] + 1) & 0xFF
        return self.recv_exact(n)

    def write_packet(self, payload):
        try:
            self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([self.seq]) + payload)
        except (OSError, ssl.SSLError) as e:
            raise Gone(str(e)) from e
        self.seq = (self.seq + 1) & 0xFF

    def ok(self, header=b"\x00"):
        status = struct.pack("<HH", SERVER_STATUS_AUTOCOMMIT, 0)
        self.write_packet(header + lenenc_int(0) + lenenc_int(0) + status)

    def err(self, code, state, message):
        self.write_packet(b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + message.encode())

    def eof(self):
        self.write_packet(b"\xfe" + struct.pack("<HH", 0, SERVER_STATUS_AUTOCOMMIT))

    # ---- connection phase --------------------------------------------------

    def greeting(self, scramble):
        caps = SERVER_CAPS | (CLIENT_SSL if self.server.tls else 0)
        p = b"\x0a" + VERSION + b"\0" + struct.pack("<I", self.id) + scramble[:8] + b"\0"
        p += struct.pack("<HBHH", caps & 0xFFFF, CHARSET_UTF8MB4_0900, SERVER_STATUS_AUTOCOMMIT, caps >> 16)
        p += bytes([len(scramble) + 1]) + b"\0" * 10 + scramble[8:] + b"\0"
        p += self.server.greeting_plugin.encode() + b"\0"
        self.write_packet(p)

    def handshake_response(self):
        """Read the client's HandshakeResponse41, after TLS when it asks for
        it; return (auth data, plugin name)."""
        p = self.read_packet()
        if len(p) < 32:
            raise Gone("short handshake response")
        caps = struct.unpack_from("<I", p)[0]
        if len(p) == 32 and caps & CLIENT_SSL:
            if not self.server.tls:
                raise Gone("SSLRequest, but TLS was not offered")
            try:
                self.sock = self.server.tls.wrap_socket(self.sock, server_side=True)
            except (OSError, ssl.SSLError) as e:
                raise Gone("TLS handshake failed: %s" % e) from e
            self.is_tls = True
            p = self.read_packet()
            if len(p) < 32:
                raise Gone("short handshake response")
            caps = struct.unpack_from("<I", p)[0]
        if not caps & CLIENT_PROTOCOL_41:
            raise Gone("client without protocol 4.1")
        self.caps = caps & (SERVER_CAPS | CLIENT_SSL)
        self.user, pos = read_cstr(p, 32)
        auth = b""
        if pos < len(p):
            if caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
                n, pos = read_lenenc_int(p, pos)
                auth, pos = p[pos:pos + n], pos + n
            elif caps & CLIENT_SECURE_CONNECTION:
                n = p[pos]
                auth, pos = p[pos + 1:pos + 1 + n], pos + 1 + n
            else:
                auth, pos = read_cstr(p, pos)
        if caps & CLIENT_CONNECT_WITH_DB and pos < len(p):
            self.database, pos = read_cstr(p, pos)
        plugin = b""
        if caps & CLIENT_PLUGIN_AUTH and pos < len(p):
            plugin, pos = read_cstr(p, pos)
        return auth, plugin.decode("ascii", "replace")

    def login(self):
        """The whole connection phase; True when the client is logged in."""
        scramble = nonce()
        self.greeting(scramble)
        auth, plugin = self.handshake_response()
        attempt = {"switch": "no", "path": "scramble", "pubkey": "no", "cleartext": "no",
                   "result": "aborted", "reason": ""}
        password = self.server.users.get(self.user)
        seen = []
        try:
            if plugin != SHA2_PLUGIN:
                attempt["switch"] = "yes"
                scramble = nonce()
                self.write_packet(b"\xfe" + SHA2_PLUGIN.encode() + b"\0" + scramble + b"\0")
                auth = self.read_packet()
            seen.append(auth)
            ok = self.authenticate(attempt, password, scramble, auth, seen)
        except Gone as e:
            if attempt["result"] == "aborted":  # else it went away after our answer
                attempt["reason"] = "client-gone(%s)" % e
            ok = False
        finally:
            if password and any(password in pkt for pkt in seen):
                attempt["cleartext"] = "yes"
            line = "login conn=%d user=%s tls=%s" % (
                self.id, self.user.decode("utf-8", "replace"), "yes" if self.is_tls else "no")
            for k in ("switch", "path", "pubkey", "cleartext", "result"):
                line += " %s=%s" % (k, attempt[k])
            if attempt["reason"]:
                line += " reason=" + attempt["reason"].replace(" ", "_")
            self.server.log(line)
        return ok

    def authenticate(self, attempt, password, scramble, auth, seen):
        """caching_sha2_password's server side (see the file header); it
        answers the client itself and fills in `attempt`."""
        def deny(reason, using="YES"):
            attempt["result"], attempt["reason"] = "denied", reason
            self.err(1045, "28000", "Access denied for user '%s'@'%s' (using password: %s)"
                     % (self.user.decode("utf-8", "replace"), self.peer, using))
            return False

        if auth in (b"", b"\0"):
            attempt["path"] = "none"
            if password == b"":
                attempt["result"] = "ok"
                self.ok()
                return True
            return deny("no-password", "NO")
        if len(auth) != 32:
            return deny("scramble-length-%d" % len(auth))
        stored = self.server.cached(self.user)
        if password is not None and stored is not None:
            # Validate_scramble: the scramble XOR SHA256(stored + nonce)
            # must be a SHA256(pw) whose own hash is the stored digest.
            candidate = xor(auth, sha256(stored, scramble))
            if sha256(candidate) == stored:
                attempt["path"], attempt["result"] = "fast", "ok"
                self.write_packet(b"\x01" + FAST_AUTH_SUCCESS)
                self.ok()
                return True
        attempt["path"] = "full"
        self.write_packet(b"\x01" + PERFORM_FULL_AUTHENTICATION)
        answer = self.read_packet()
        seen.append(answer)
        if self.is_tls:
            attempt["path"] = "full-tls"
            if clear_shaped(answer):
                attempt["cleartext"] = "yes"
            # sha2_password.cc: std::string(pkt, pkt_len - 1), whatever it is.
            given = answer[:-1]
            if not given:
                return deny("empty-password")
        else:
            attempt["path"] = "full-rsa"
            if answer == REQUEST_PUBLIC_KEY:
                attempt["pubkey"] = "yes"
                self.write_packet(b"\x01" + self.server.rsa_pem)
                answer = self.read_packet()
                seen.append(answer)
            if len(answer) != self.server.rsa.key_size // 8:
                if clear_shaped(answer):
                    attempt["cleartext"] = "yes"
                return deny("rsa-length-%d" % len(answer))
            try:
                plain = xor(self.server.rsa.decrypt(answer, RSA_OAEP), scramble)
            except ValueError:
                return deny("rsa-decrypt-failed")
            given = plain.split(b"\0", 1)[0]
            if not given:
                return deny("empty-password")
        if password is None:
            return deny("unknown-user")
        if given != password:
            return deny("wrong-password")
        self.server.warm(self.user, password)
        attempt["result"] = "ok"
        self.ok()
        return True

    # ---- command phase -----------------------------------------------------

    def value_of(self, item):
        """The text value of one SELECT item, or None when unknown."""
        low = item.lower()
        known = {
            "@@version": VERSION.decode(), "version()": VERSION.decode(),
            "@@version_comment": "fake_mysql8.py", "@@port": str(self.server.port),
            "user()": "%s@%s" % (self.user.decode(), self.peer),
            "current_user()": "%s@%%" % self.user.decode(),
            "connection_id()": str(self.id), "database()": self.database.decode() or None,
        }
        if low in known:
            return True, known[low]
        if re.fullmatch(r"-?\d+", item):
            return True, item
        m = re.fullmatch(r"'([^']*)'", item)
        if m:
            return True, m.group(1)
        return False, None

    def column(self, name, value):
        if value is None:
            charset, length, typ = CHARSET_BINARY, 0, MYSQL_TYPE_NULL
        elif re.fullmatch(r"-?\d+", value):
            charset, length, typ = CHARSET_BINARY, 21, MYSQL_TYPE_LONGLONG
        else:
            charset, length, typ = CHARSET_UTF8MB4_0900, 4 * max(len(value), 1), MYSQL_TYPE_VAR_STRING
        p = lenenc_str(b"def") + lenenc_str(b"") + lenenc_str(b"") + lenenc_str(b"")
        p += lenenc_str(name.encode()) + lenenc_str(b"")
        p += b"\x0c" + struct.pack("<HIBHBH", charset, length, typ, 0, 0, 0)
        return p

    def query(self, sql):
        sql = sql.strip().rstrip(";").strip()
        if re.fullmatch(r"(?i)flush\s+privileges", sql):
            self.server.flush()
            self.ok()
            return
        m = re.fullmatch(r"(?is)select\s+(.*)", sql)
        if not m:
            self.ok()
            return
        items = [i.strip() for i in m.group(1).split(",")]
        values = []
        for item in items:
            known, value = self.value_of(item)
            if not known:
                self.err(1105, "HY000", "fake_mysql8.py cannot answer: %s" % item)
                return
            values.append(value)
        deprecate_eof = self.caps & CLIENT_DEPRECATE_EOF
        self.write_packet(lenenc_int(len(items)))
        for item, value in zip(items, values):
            self.write_packet(self.column(item, value))
        if not deprecate_eof:
            self.eof()
        self.write_packet(b"".join(b"\xfb" if v is None else lenenc_str(v.encode()) for v in values))
        if deprecate_eof:
            self.ok(b"\xfe")
        else:
            self.eof()

    def commands(self):
        while True:
            p = self.read_packet()
            if not p:
                raise Gone("empty command")
            code = p[0]
            if code == COM_QUIT:
                return
            if code == COM_QUERY:
                self.query(p[1:].decode("utf-8", "replace"))
            elif code == COM_INIT_DB:
                self.database = p[1:]
                self.ok()
            elif code == COM_PING:
                self.ok()
            else:
                self.err(1047, "08S01", "Unknown command")

    def run(self):
        try:
            if self.login():
                self.commands()
        except Gone:
            pass
        finally:
            try:
                self.sock.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", action="append", required=True, help="NAME:PASSWORD (repeatable)")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--greeting-plugin", default=SHA2_PLUGIN,
                    choices=[SHA2_PLUGIN, "mysql_native_password"])
    ap.add_argument("--pidfile")
    ap.add_argument("--log")
    args = ap.parse_args()
    if bool(args.cert) != bool(args.key):
        ap.error("--cert and --key go together")

    server = Server(args)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.bind, args.port))
    lsock.listen(64)

    def on_term(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, on_term)
    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as f:
            f.write("%d\n" % os.getpid())
    server.log("fake_mysql8 listening on %s:%d (%s, greeting plugin %s)"
               % (args.bind, args.port, "TLS offered" if server.tls else "no TLS", args.greeting_plugin))
    try:
        while True:
            sock, peer = lsock.accept()
            sock.settimeout(60)
            conn = Connection(server, sock, peer[0])
            threading.Thread(target=conn.run, daemon=True).start()
    finally:
        lsock.close()
        server.log("fake_mysql8 stopped")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
