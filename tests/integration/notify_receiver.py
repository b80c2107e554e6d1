#!/usr/bin/env python3
"""notify_receiver.py SOCKET OUT - stand in for systemd's notification socket.

Binds a unix datagram socket at SOCKET (a path, or @name for an abstract
one, as NOTIFY_SOCKET writes it) and appends every datagram it receives to
OUT as one line: the message's own newlines become '|', prefixed by the
monotonic time in microseconds when it arrived. Runs until killed.
"""
import os
import socket
import sys
import time

path, out = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + path[1:] if path.startswith("@") else path)
with open(out, "a", buffering=1) as f:
    f.write("bound\n")
    while True:
        data = sock.recv(4096)
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        f.write("%d %s\n" % (now, data.decode("utf-8", "replace").replace("\n", "|")))
