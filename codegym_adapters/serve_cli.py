"""``codegym serve``: run the env server (upstream env-server protocol) over a sandbox worker pool.

Needs the ``server`` extra (``pip install 'codegym-adapters[server]'``: Starlette, uvicorn,
prometheus-client). Without a token the server only listens on a loopback address.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import socket
from typing import Any

from .catalog import Catalog
from .runtime_args import add_runtime_options, make_runtime_from_args

TOKEN_VARIABLE = "CODEGYM_SERVE_TOKEN"
_DESCRIPTION = (
    "Serve CodeGym envs over HTTP with the upstream env-server protocol (get_instance, release_instance,\n"
    "start, step, is_done, reward, is_success, get_attribute, reset, stop), so a rollout client written\n"
    "for the upstream server works unchanged; plus /health and /metrics (Prometheus). One process serves\n"
    "every session over a pool of sandbox workers. A bearer token (--token or $CODEGYM_SERVE_TOKEN) is\n"
    "required on any address that is not loopback."
)



def _port(text: str) -> int:
    """A TCP port, 1 to 65535 (``argparse.ArgumentTypeError`` otherwise; 70000 used to end in a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1 to 65535, got {value}")
    return value

def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (``127.0.0.0/8``, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def register(sub: Any) -> None:
    """Add ``codegym serve`` to the CLI's subparsers."""
    p = sub.add_parser("serve", help="serve envs over HTTP (the upstream env-server protocol)",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=_port, default=8000, help="port (default %(default)s, the upstream manager's)")
    p.add_argument("--envs", action="append", default=[], metavar="PATH",
                   help="env file, folder, record JSON or row file (repeatable); default: installed env packs")
    p.add_argument("--token", default=None,
                   help=f"bearer token clients must send (default: ${TOKEN_VARIABLE}; none: loopback only)")
    p.add_argument("--idle-timeout", type=float, default=600.0, metavar="S",
                   help="close sessions untouched for S seconds (default %(default)s)")
    p.add_argument("--max-request-bytes", type=int, default=1 << 20, metavar="N",
                   help="largest request body accepted (default %(default)s)")
    p.add_argument("--max-sessions", type=int, default=8192, metavar="N",
                   help="sessions held at once; more are refused with 503 (default %(default)s)")
    add_runtime_options(p)
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .server.app import ServerConfig, build_app
    except ImportError as exc:
        raise ValueError(f"codegym serve needs the server extra: pip install 'codegym-adapters[server]' ({exc})") from None
    token = args.token or os.environ.get(TOKEN_VARIABLE) or None
    if token is None and not is_loopback(args.host):
        raise ValueError(f"refusing to serve on {args.host} without a token: pass --token or set "
                         f"{TOKEN_VARIABLE}, or listen on 127.0.0.1")
    for name in ("idle_timeout", "max_request_bytes", "max_sessions"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive")
    catalog = Catalog.from_paths(args.envs, installed=True) if args.envs else Catalog.default()
    config = ServerConfig(token=token, idle_timeout_s=args.idle_timeout, max_request_bytes=args.max_request_bytes,
                          max_sessions=args.max_sessions, port=args.port)
    app = build_app(lambda: make_runtime_from_args(args, catalog), catalog, config)
    listener = _listen(args.host, args.port)  # bound before the URL is printed: a taken port is an error first
    port = listener.getsockname()[1]  # the real one where --port 0 asked for any free port
    print(f"codegym serve: {len(catalog)} envs, runtime {args.runtime}, on http://{args.host}:{port} "
          f"({'token required' if token else 'no token: loopback only'})", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", backlog=4096, timeout_keep_alive=30,
                                           limit_concurrency=None))
    server.run(sockets=[listener])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; raises ``ValueError`` saying why it cannot be had."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ValueError(f"cannot listen on {host}: the name does not resolve ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    try:
        return socket.create_server(address, family=family, backlog=4096)
    except OSError as exc:
        taken = exc.errno == errno.EADDRINUSE
        raise ValueError(f"cannot listen on {host}:{port}: " + (
            "the port is in use (another codegym serve? pick another with --port)" if taken else
            exc.strerror or str(exc))) from None
