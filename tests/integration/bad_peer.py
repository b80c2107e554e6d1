#!/usr/bin/env python3
"""bad_peer.py - a MySQL peer that breaks the protocol on purpose, to show
that acctgate answers each kind of bad input with a clear error, keeps
running, and never passes the damage on.

  bad_peer.py client --port P --case CASE [--user U --password PW]
      Connects to acctgate as a client and misbehaves as CASE says; prints
      one line: what acctgate answered ("ERR <code> <sqlstate> <message>",
      "OK", "closed", ...), for malformed.sh to check.
  bad_peer.py server --port P --case CASE --pidfile F
      Listens as a database server that misbehaves as CASE says, one
      connection after another, until SIGTERM.

Client cases (before login unless marked):
  bad-seq          HandshakeResponse with sequence id 5 instead of 1
  garbage-response a HandshakeResponse payload that is not one
  oversized        a header announcing 0xFFFFFF bytes during the handshake
  truncated        a header announcing 100 bytes, 10 bytes, then EOF
  cmd-bad-seq      (after login) a command with sequence id 3
  cmd-empty        (after login) a command packet of length 0
  cmd-unknown      (after login) command byte 0x42, then COM_PING
  cmd-too-large    (after login) a COM_QUERY over max_command_size
Server cases:
  garbage-greeting random bytes instead of HandshakeV10 (never an ERR)
  close-greeting   accept, then close without a word
  silent           accept and never say a word, until the peer closes
  bad-result       a real greeting, OK to any login, then a result set
                   whose column count announces 2 columns followed by an
                   OK packet where a column definition must be
  err-login        a real greeting, then to any login an ERR 1045 whose
                   message holds CR LF, a forged log line and an ANSI escape

Only the Python standard library: the lab's python3 package suffices.
"""
import argparse
import hashlib
import os
import signal
import socket
import struct
import sys

CLIENT_LONG_PASSWORD = 1
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_DEPRECATE_EOF = 1 << 24


def packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_packet(sock):
    """(seq, payload) or None at EOF."""
    hdr = read_exact(sock, 4)
    if hdr is None:
        return None
    n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
    payload = read_exact(sock, n)
    return None if payload is None else (hdr[3], payload)


def describe(pkt):
    """One line for a server answer as the client sees it."""
    if pkt is None:
        return "closed"
    _, p = pkt
    if p[:1] == b"\xff":
        code = struct.unpack("<H", p[1:3])[0]
        state = p[4:9].decode() if p[3:4] == b"#" else ""
        return "ERR %d %s %s" % (code, state, p[9 if state else 3:].decode(errors="replace"))
    if p[:1] == b"\x00":
        return "OK"
    return "packet 0x%02x (%d bytes)" % (p[0], len(p))


def native_scramble(password, salt):
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(salt + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


def parse_greeting(p):
    """The 20-byte scramble of a HandshakeV10."""
    ver_end = p.index(b"\x00", 1)
    pos = ver_end + 1 + 4
    part1 = p[pos:pos + 8]
    pos += 8 + 1 + 2 + 1 + 2 + 2
    auth_len = p[pos]
    pos += 1 + 10
    part2 = p[pos:pos + max(13, auth_len - 8) - 1]
    return part1 + part2


def handshake_response(user, password, salt):
    caps = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
    auth = native_scramble(password, salt) if password else b""
    return (struct.pack("<IIB", caps, 1 << 24, 33) + b"\x00" * 23 + user.encode() + b"\x00" +
            bytes([len(auth)]) + auth + b"mysql_native_password\x00")


def run_client(args):
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    greeting = read_packet(sock)
    if greeting is None or greeting[1][:1] != b"\x0a":
        return "no greeting: " + describe(greeting)
    case = args.case
    if case == "bad-seq":
        sock.sendall(packet(5, handshake_response(args.user, args.password, parse_greeting(greeting[1]))))
        return describe(read_packet(sock))
    if case == "garbage-response":
        sock.sendall(packet(1, b"\x00\x02" + os.urandom(6) + b"\xff" * 40))
        return describe(read_packet(sock))
    if case == "oversized":
        sock.sendall(b"\xff\xff\xff\x01" + b"A" * 1024)
        return describe(read_packet(sock))
    if case == "truncated":
        sock.sendall(b"\x64\x00\x00\x01" + b"A" * 10)
        sock.shutdown(socket.SHUT_WR)
        return describe(read_packet(sock))

    sock.sendall(packet(1, handshake_response(args.user, args.password, parse_greeting(greeting[1]))))
    answer = read_packet(sock)
    if describe(answer) != "OK":
        return "login failed: " + describe(answer)
    if case == "cmd-bad-seq":
        sock.sendall(packet(3, b"\x03SELECT 1"))
        return describe(read_packet(sock))
    if case == "cmd-empty":
        sock.sendall(packet(0, b""))
        return describe(read_packet(sock))
    if case == "cmd-unknown":
        sock.sendall(packet(0, b"\x42"))
        first = describe(read_packet(sock))
        sock.sendall(packet(0, b"\x0e"))  # COM_PING: is the session still usable?
        return first + " / then ping: " + describe(read_packet(sock))
    if case == "cmd-too-large":
        size = args.size
        payload = b"\x03SELECT '" + b"x" * (size - 11) + b"'"
        try:
            sock.sendall(packet(0, payload))
        except (BrokenPipeError, ConnectionResetError):
            pass  # acctgate may close before it has read it all
        try:
            return describe(read_packet(sock))
        except ConnectionResetError:
            return "reset"
    return "unknown case " + case


def greeting_packet():
    salt = b"abcdefgh" + b"ijklmnopqrst"
    caps = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
            CLIENT_DEPRECATE_EOF)
    return packet(0, b"\x0a" + b"10.11.0-bad-peer\x00" + struct.pack("<I", 7) + salt[:8] + b"\x00" +
                  struct.pack("<H", caps & 0xFFFF) + b"\x21" + struct.pack("<H", 2) +
                  struct.pack("<H", caps >> 16) + bytes([21]) + b"\x00" * 10 + salt[8:] + b"\x00" +
                  b"mysql_native_password\x00")


def serve_one(conn, case):
    if case == "garbage-greeting":
        # The first byte is never 0xff: a greeting that starts with it is an
        # ERR packet (a server refusing, "Too many connections"), which the
        # proxy rightly forwards; 1 run in 256 then failed the test.
        conn.sendall(packet(0, bytes([os.urandom(1)[0] % 0xff]) + os.urandom(2) + b"\x00" * 5))
        return
    if case == "close-greeting":
        return
    if case == "silent":
        conn.settimeout(None)
        while conn.recv(4096):
            pass
        return
    conn.sendall(greeting_packet())
    login = read_packet(conn)
    if login is None:
        return
    if case == "err-login":
        message = b"Access denied\r\n2026-01-01T00:00:00.000Z notice  forged line\x1b[2J"
        conn.sendall(packet(login[0] + 1, b"\xff" + struct.pack("<H", 1045) + b"#28000" + message))
        return
    conn.sendall(packet(login[0] + 1, b"\x00\x00\x00\x02\x00\x00\x00"))
    while True:
        cmd = read_packet(conn)
        if cmd is None or cmd[1][:1] == b"\x01":
            return
        if cmd[1][:1] == b"\x03":
            # Two columns announced, then an OK packet instead of a column
            # definition: a desynchronised or hostile server.
            conn.sendall(packet(1, b"\x02") + packet(2, b"\x00\x00\x00\x02\x00\x00\x00"))
        else:
            conn.sendall(packet(1, b"\x00\x00\x00\x02\x00\x00\x00"))


def run_server(args):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(16)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(args.pidfile, "w") as f:
        f.write("%d\n" % os.getpid())
    while True:
        conn, _ = srv.accept()
        conn.settimeout(10)
        try:
            serve_one(conn, args.case)
        except OSError:
            pass
        finally:
            conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("role", choices=["client", "server"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--user", default="native")
    ap.add_argument("--password", default="nativepw")
    ap.add_argument("--size", type=int, default=2 << 20, help="cmd-too-large: payload bytes")
    ap.add_argument("--pidfile")
    args = ap.parse_args()
    if args.role == "client":
        try:
            print(run_client(args))
        except socket.timeout:
            print("timeout: no answer in 10 s")
        except ConnectionResetError:
            print("reset")
    else:
        run_server(args)


if __name__ == "__main__":
    main()
