#!/usr/bin/env python3
"""fake_dns.py - a tiny authoritative DNS responder for the upstream tests.

    fake_dns.py --port PORT --zone FILE [--bind 127.0.0.1] [--pidfile F] [--log F]

Answers UDP queries on BIND:PORT from FILE, re-read on every query (so a test
moves a name by rewriting the file, no signal needed). FILE holds lines
"name address" (IPv4 only; '#' starts a comment). Names match
case-insensitively: libevent's resolver randomises the case of its questions
(the 0x20 trick) and expects them echoed back exactly, which this does.

  A    for a known name: one answer, TTL 0 (nobody may cache it)
  AAAA for a known name: NOERROR with no answers (an IPv4-only name)
  anything else, or an unknown name: NXDOMAIN

Each query is logged as one line "QTYPE name -> answer" to --log (default
stderr), so a test can see that a new session asked again. Python 3
standard library only.
"""

import argparse
import os
import socket
import struct
import sys

QTYPE_A = 1
QTYPE_AAAA = 28
QCLASS_IN = 1
RCODE_NXDOMAIN = 3
RCODE_FORMERR = 1


def load_zone(path):
    """Return {lowercased name without trailing dot: IPv4 string}."""
    zone = {}
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                line = line.split("#", 1)[0].split()
                if len(line) == 2:
                    zone[line[0].rstrip(".").lower()] = line[1]
    except OSError:
        pass
    return zone


def parse_question(msg):
    """Return (id, flags, qname bytes as sent, name str, qtype, qclass, end)
    for the first question, or None when the message is not a usable query."""
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if flags & 0x8000 or qdcount < 1:
        return None
    pos = 12
    labels = []
    while True:
        if pos >= len(msg):
            return None
        n = msg[pos]
        if n & 0xC0:  # no compression in a question we accept
            return None
        pos += 1
        if n == 0:
            break
        if pos + n > len(msg):
            return None
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
    qname_raw = msg[12:pos]
    return qid, flags, qname_raw, ".".join(labels), qtype, qclass, pos + 4


def answer(msg, zone):
    q = parse_question(msg)
    if q is None:
        if len(msg) >= 2:
            qid = struct.unpack("!H", msg[:2])[0]
            return struct.pack("!HHHHHH", qid, 0x8000 | RCODE_FORMERR, 0, 0, 0, 0), "FORMERR"
        return None, "dropped"
    qid, flags, qname_raw, name, qtype, qclass, end = q
    question = msg[12:end]
    rd = flags & 0x0100
    addr = zone.get(name.lower())
    # QR, AA, RD copied from the query; RA not offered.
    base_flags = 0x8000 | 0x0400 | rd
    if addr is None or qclass != QCLASS_IN:
        hdr = struct.pack("!HHHHHH", qid, base_flags | RCODE_NXDOMAIN, 1, 0, 0, 0)
        return hdr + question, "NXDOMAIN"
    if qtype == QTYPE_A:
        rr = b"\xc0\x0c" + struct.pack("!HHIH", QTYPE_A, QCLASS_IN, 0, 4) + socket.inet_aton(addr)
        hdr = struct.pack("!HHHHHH", qid, base_flags, 1, 1, 0, 0)
        return hdr + question + rr, addr
    # AAAA (or any other type) of a known name: exists, no such record.
    hdr = struct.pack("!HHHHHH", qid, base_flags, 1, 0, 0, 0)
    return hdr + question, "no answer"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--log")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, args.port))
    log = open(args.log, "a", buffering=1, encoding="utf-8") if args.log else sys.stderr
    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as f:
            f.write("%d\n" % os.getpid())
    log.write("fake_dns listening on %s:%d, zone %s\n" % (args.bind, args.port, args.zone))
    log.flush()
    names = {QTYPE_A: "A", QTYPE_AAAA: "AAAA"}
    while True:
        msg, peer = sock.recvfrom(4096)
        reply, what = answer(msg, load_zone(args.zone))
        q = parse_question(msg)
        if q:
            log.write("%s %s -> %s\n" % (names.get(q[4], str(q[4])), q[3], what))
        else:
            log.write("malformed query from %s:%d -> %s\n" % (peer[0], peer[1], what))
        log.flush()
        if reply:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
