"""A bounded request loop against a TCP or Unix-domain HTTP server, for
scripts/systemd-check.sh (run in the container's network namespace).

    python3 load.py --target 127.0.0.1:8080|/run/x.sock --stop-file PATH
                    [--clients N] [--max-seconds S] [--timeout S] [--once]

N threads each open a connection, send `GET / HTTP/1.1` with
`Connection: close`, read the whole answer and close, again and again,
until PATH exists or S seconds have passed. Then it prints one line of
figures as `key=value` pairs:

    requests ok refused reset empty timeout other max_ms p99_ms generations pids

`refused` counts ECONNREFUSED (nothing listening: the gap a rebind leaves,
or ENOENT/ECONNREFUSED on a Unix path), `reset`/`empty` the connections a
killed process had accepted, `pids` the distinct `pid=` values answered.
The first 5 failures, and answers slower than 200 ms (at most 10 lines in
all), are also printed to stderr, with seconds since the loop started.
A response is read up to the end of its body (Content-Length), then the
client closes. --once: one request; prints the body, or fails.
"""

import argparse
import errno
import os
import socket
import sys
import threading
import time


def read_response(sock):
    """The response, read up to the end of its body (Content-Length) or
    EOF; the client closes, whether or not the server keeps the
    connection open."""
    data = b""
    while True:
        head, found, body = data.partition(b"\r\n\r\n")
        if found:
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    if len(body) >= int(value):
                        return data
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args()

    lock = threading.Lock()
    figures = dict.fromkeys(
        ["requests", "ok", "refused", "reset", "empty", "timeout", "other"], 0
    )
    latencies = []
    pids = set()
    generations = set()
    shown = [0]
    begin = time.monotonic()
    deadline = begin + args.max_seconds

    def note(kind, what):
        with lock:
            figures[kind] += 1
            if shown[0] < 5:
                shown[0] += 1
                print(f"load: {kind}: {what}", file=sys.stderr, flush=True)

    def one():
        start = time.monotonic()
        if args.target.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address = args.target
        else:
            host, port = args.target.rsplit(":", 1)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (host, int(port))
        sock.settimeout(args.timeout)
        try:
            sock.connect(address)
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = read_response(sock)
        except ConnectionRefusedError as e:
            note("refused", e)
            return
        except FileNotFoundError as e:
            note("refused", e)
            return
        except ConnectionResetError as e:
            note("reset", e)
            return
        except socket.timeout as e:
            note("timeout", e)
            return
        except OSError as e:
            kind = "refused" if e.errno in (errno.ECONNREFUSED, errno.ENOENT) else "other"
            note(kind, e)
            return
        finally:
            sock.close()
        elapsed = time.monotonic() - start
        if not data:
            note("empty", "no answer")
            return
        if not data.startswith(b"HTTP/1.1 200"):
            note("other", data[:60])
            return
        body = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
        if args.once:
            print(body.strip(), flush=True)
        if elapsed > 0.2:
            with lock:
                if shown[0] < 10:
                    shown[0] += 1
                    print(
                        f"load: slow: {elapsed * 1000:.0f} ms from"
                        f" {time.monotonic() - elapsed - begin:.3f} s, answer {body.strip()!r}",
                        file=sys.stderr,
                        flush=True,
                    )
        with lock:
            figures["ok"] += 1
            latencies.append(elapsed)
            for word in body.split():
                if word.startswith("pid="):
                    pids.add(word[4:])
                if word.startswith("generation="):
                    generations.add(word[11:])

    def run():
        while not os.path.exists(args.stop_file) and time.monotonic() < deadline:
            with lock:
                figures["requests"] += 1
            one()

    if args.once:
        one()
        if not figures["ok"]:
            sys.exit(1)
        return
    threads = [threading.Thread(target=run) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    max_ms = latencies[-1] * 1000 if latencies else 0
    p99_ms = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0
    words = [f"{key}={value}" for key, value in figures.items()]
    words += [f"max_ms={max_ms:.1f}", f"p99_ms={p99_ms:.1f}"]
    words += [f"generations={','.join(sorted(generations, key=int)) or '-'}"]
    words += [f"pids={len(pids)}"]
    print(" ".join(words), flush=True)


if __name__ == "__main__":
    main()
