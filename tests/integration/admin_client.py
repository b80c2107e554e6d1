#!/usr/bin/env python3
"""admin_client.py - a minimal MySQL client for tests/integration/admin.sh:
what the stock client will not show. It logs in with mysql_native_password
(optionally announcing another plugin, so the server must switch: it prints
"switched to PLUGIN (N bytes)", N the length of the switch's data, and
answers with mysql_native_password whatever the plugin; or, with
--no-plugin-auth, without CLIENT_PLUGIN_AUTH and a plugin name), without
CLIENT_DEPRECATE_EOF unless --deprecate-eof (so result sets end with EOF
packets, the other ending from the stock client's), sends each query as it
is (the stock client answers a bare HELP itself) or, for "@XX", the bare
command byte XX (hex) and prints, per query, the
column names then each row, tab-separated, or "ERR code message".

usage: admin_client.py PORT USER PASSWORD [--plugin NAME | --no-plugin-auth] [--deprecate-eof] QUERY...
"""
import hashlib
import socket
import struct
import sys

PROTOCOL_41, SECURE, PLUGIN_AUTH, TRANSACTIONS, DEPRECATE_EOF = 1 << 9, 1 << 15, 1 << 19, 1 << 13, 1 << 24


def lenenc(p, i):
    b = p[i]
    if b < 0xFB:
        return b, i + 1
    if b == 0xFB:
        return None, i + 1
    n = {0xFC: 2, 0xFD: 3, 0xFE: 8}[b]
    return int.from_bytes(p[i + 1:i + 1 + n], "little"), i + 1 + n


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def read(self):
        while len(self.buf) < 4 or len(self.buf) < 4 + int.from_bytes(self.buf[:3], "little"):
            d = self.s.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d
        n = int.from_bytes(self.buf[:3], "little")
        self.seq = self.buf[3]
        p, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return p

    def send(self, seq, payload):
        self.s.sendall(len(payload).to_bytes(3, "little") + bytes([seq]) + payload)


def native(password, nonce):
    h1 = hashlib.sha1(password.encode()).digest()
    h3 = hashlib.sha1(nonce + hashlib.sha1(h1).digest()).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


def err(p):
    return "ERR %d %s" % (struct.unpack("<H", p[1:3])[0], p[9:].decode(errors="replace"))


def main():
    args = sys.argv[1:]
    port, user, password = int(args[0]), args[1], args[2]
    plugin, eof_off, plugin_auth, queries = "mysql_native_password", True, True, []
    i = 3
    while i < len(args):
        if args[i] == "--plugin":
            plugin = args[i + 1]
            i += 2
            continue
        if args[i] == "--deprecate-eof":
            eof_off = False
        elif args[i] == "--no-plugin-auth":
            plugin_auth = False
        else:
            queries.append(args[i])
        i += 1
    c = Conn(port)
    g = c.read()
    v_end = g.index(b"\0", 1)
    pos = v_end + 1 + 4
    nonce = g[pos:pos + 8]
    pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
    nonce += g[pos:pos + 12]
    caps = PROTOCOL_41 | SECURE | TRANSACTIONS | (PLUGIN_AUTH if plugin_auth else 0) | (0 if eof_off else DEPRECATE_EOF)
    token = native(password, nonce) if plugin == "mysql_native_password" else b"x" * 20
    resp = struct.pack("<IIB", caps, 1 << 24, 45) + b"\0" * 23 + user.encode() + b"\0"
    resp += bytes([len(token)]) + token + (plugin.encode() + b"\0" if plugin_auth else b"")
    c.send(1, resp)
    p = c.read()
    if p[0] == 0xFE:  # AuthSwitchRequest
        name_end = p.index(b"\0", 1)
        print("switched to %s (%d bytes)" % (p[1:name_end].decode(), len(p) - name_end - 1))
        c.send(c.seq + 1, native(password, p[name_end + 1:name_end + 21]))
        p = c.read()
    if p[0] != 0:
        print(err(p))
        return
    for q in queries:
        # "@XX": a bare command byte (hex), e.g. @0e for COM_PING.
        c.send(0, bytes([int(q[1:], 16)]) if q.startswith("@") else b"\x03" + q.encode())
        p = c.read()
        if p[0] == 0xFF:
            print(err(p))
            continue
        if p[0] == 0:
            print("OK")
            continue
        ncols, _ = lenenc(p, 0)
        names = []
        for _ in range(ncols):
            d, j = c.read(), 0
            for k in range(6):
                n, j = lenenc(d, j)
                if k == 4:
                    names.append(d[j:j + n].decode())
                j += n
        if eof_off:
            d = c.read()
            assert d[0] == 0xFE and len(d) == 5, "expected an EOF after the columns"
        print("\t".join(names))
        while True:
            d = c.read()
            if d[0] == 0xFE and len(d) < 0xFFFFFF:
                print("end: %s" % ("EOF" if len(d) == 5 else "OK"))
                break
            vals, j = [], 0
            for _ in range(ncols):
                n, j = lenenc(d, j)
                vals.append("NULL" if n is None else d[j:j + n].decode())
                j += n or 0
            print("\t".join(vals))
    c.send(0, b"\x01")


main()
