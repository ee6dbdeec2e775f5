"""``ml2 compute plug|unplug``: the compute node's generic VIF driver on the command line.

``plug PORT --instance ID`` binds the port to this host, plugs it into the instance's network
namespace as the binding says (or as the local default VIF says, and why), and waits until it
is ACTIVE; ``unplug PORT`` removes its devices and unbinds it. The host id is ``--host``, else
``ML2_COMPUTE_HOST``, else the configuration file's ``host``, else the hostname.

Exit status: 0 done; 1 a call, the plug or the wait failed; 2 bad usage or an invalid
configuration file; 3 the binding ended ``binding_failed`` (every driver's verdict is
printed); 4 the port was plugged but did not become ACTIVE before ``--timeout``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING, Any

import grpc
from ml2_contract import convert

from services.cli import client as cli_client
from services.cli import config as cli_config
from services.cli import render
from services.cli.client import CommandError
from services.cli.deferred import DeferredParser
from services.compute import config
from services.security import local

if TYPE_CHECKING:
    from services.compute import driver

EXIT_NOT_ACTIVE = 4
"""The port was plugged, but did not become ACTIVE within ``--timeout``."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``compute`` command group."""
    group = sub.add_parser(
        "compute", help="plug and unplug ports on this host (the compute node's VIF driver)"
    )
    # ``plug`` takes its default device owner from the driver, which only these commands import.
    cmds = group.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=DeferredParser
    )
    common = _options()

    plug = cmds.add_parser(
        "plug",
        parents=[common],
        setup=_plug_options,
        help="bind a port to this host, plug it, wait for ACTIVE",
    )
    plug.set_defaults(func=plug_port, needs_client=False)

    unplug = cmds.add_parser(
        "unplug", parents=[common], help="remove a port's devices from this host and unbind it"
    )
    unplug.add_argument("port", help="port id or name")
    unplug.set_defaults(func=unplug_port, needs_client=False)


def _plug_options(plug: argparse.ArgumentParser) -> None:
    from services.compute import driver  # pyroute2 and ovsdbapp: only for ``ml2 compute``

    plug.add_argument("port", help="port id or name")
    plug.add_argument(
        "--instance", required=True, metavar="ID", help="the instance (its device_id)"
    )
    plug.add_argument(
        "--netns",
        default="",
        help="the instance's network namespace (default: the instance id; created if missing)",
    )
    plug.add_argument(
        "--device", default="", help="the NIC's name in the instance (default: first free ethN)"
    )
    plug.add_argument(
        "--device-owner",
        default=driver.DEFAULT_DEVICE_OWNER,
        help="the port's device_owner (default %(default)s)",
    )
    plug.add_argument(
        "--no-wait", action="store_true", help="do not wait for the port to become ACTIVE"
    )


def _options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--host",
        default=None,
        help="the binding host id (default: env ML2_COMPUTE_HOST, else the config file's "
        "host, else this machine's hostname)",
    )
    common.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help=f"the compute configuration file (default: env {config.CONFIG_ENV}, else "
        f"{config.DEFAULT_CONFIG_PATH} when it exists)",
    )
    common.add_argument(
        "--portapi",
        default=None,
        metavar="HOST:PORT",
        help="portapi address (default: env ML2_PORTAPI_ADDRESS, else the config file's "
        f"portapi, else {config.DEFAULT_PORTAPI_ADDRESS})",
    )
    common.add_argument(
        "--ovsdb",
        default=None,
        metavar="REMOTE",
        help=f"Open vSwitch's database, e.g. unix:/PATH (default: config, else "
        f"{config.DEFAULT_OVSDB})",
    )
    common.add_argument(
        "--integration-bridge",
        default=None,
        help="the Open vSwitch bridge when vif_details name none (default: config, else br-int)",
    )
    common.add_argument(
        "--host-netns",
        default=None,
        metavar="NAME",
        help="the network namespace of the host's devices and Open vSwitch (default: config, "
        "else this process's)",
    )
    common.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="deadline of each call, and of the wait for ACTIVE (default %(default)s)",
    )
    common.add_argument(
        "--output", choices=("table", "json"), default="table", help="default %(default)s"
    )
    common.add_argument("--json", action="store_true", help="the same as --output json")
    return common


def _setup(args: argparse.Namespace) -> tuple[config.ComputeConfig, config.Chosen, config.Chosen]:
    """The configuration with the command line's overrides, the host id and portapi's address.
    Raises CommandError (exit 2) for an invalid file or option."""
    try:
        cfg = config.load(config.config_path(args.config))
        overrides = {
            key: value
            for key, value in (
                ("ovsdb", args.ovsdb),
                ("integration_bridge", args.integration_bridge),
                ("host_netns", args.host_netns),
            )
            if value is not None
        }
        cfg = dataclasses.replace(cfg, **overrides)
        host = config.choose_host(args.host, cfg)
        portapi = config.choose_portapi(args.portapi, cfg)
    except config.ComputeConfigError as err:
        raise CommandError(str(err), cli_client.EXIT_USAGE) from None
    if args.timeout <= 0:
        raise CommandError("--timeout: must be more than 0 seconds", cli_client.EXIT_USAGE)
    return cfg, host, portapi


def _json(args: argparse.Namespace) -> bool:
    return bool(args.json or args.output == "json")


def _connect(
    args: argparse.Namespace, cfg: config.ComputeConfig, host: config.Chosen, portapi: str
) -> tuple[cli_client.Client, driver.ComputeDriver]:
    from services.compute import driver, plugs

    client = cli_client.Client(
        portapi,
        config.DEFAULT_PORTAPI_ADDRESS,
        timeout=args.timeout,
        token=cli_config.token_source(local_token=local.COMPUTE),
        tls_files=cli_config.tls_files(local_name=local.COMPUTE),
    )
    compute = driver.ComputeDriver(
        client.ports,
        client.networks,
        cfg,
        host,
        make_host=lambda: plugs.Host(cfg),
        rpc_timeout=args.timeout,
        portapi_address=portapi,
    )
    return client, compute


def plug_port(args: argparse.Namespace) -> int:
    """Binds, plugs and waits; prints what each step did and how long it took."""
    from services.compute import driver

    cfg, host, portapi = _setup(args)
    if not args.instance.strip():
        raise CommandError("--instance: must not be empty", cli_client.EXIT_USAGE)
    netns = args.netns or args.instance.strip()
    if not config.NETNS_NAME.match(netns):
        option = "--netns" if args.netns else "--instance (the default --netns)"
        raise CommandError(
            f"{option}: {netns!r} is no network namespace name (1 to 64 of A-Z a-z 0-9 _ . -)",
            cli_client.EXIT_USAGE,
        )
    client, compute = _connect(args, cfg, host, portapi.value)
    try:
        port = client.find_port(args.port)
        try:
            result = compute.plug(
                port.id,
                args.instance.strip(),
                netns=netns,
                device=args.device,
                device_owner=args.device_owner,
                wait=not args.no_wait,
                timeout=args.timeout,
            )
        except driver.BindingFailed as err:
            if _json(args):
                print(render.to_json(err.port))
            print(f"error: {err}", file=sys.stderr)
            if err.port.binding.trace:
                print(
                    "driver verdicts:\n" + render.trace_text(err.port.binding.trace),
                    file=sys.stderr,
                )
            return cli_client.EXIT_BINDING_FAILED
        except driver.WaitFailed as err:
            _print(args, err.result.to_dict(), plug_text(err.result))
            print(f"error: {err}", file=sys.stderr)
            return EXIT_NOT_ACTIVE if err.timed_out else cli_client.EXIT_ERROR
        except driver.ComputeError as err:
            raise CommandError(str(err)) from None
        except grpc.RpcError as err:
            raise CommandError(
                cli_client.describe_rpc_error(err, "portapi", portapi.value)
            ) from None
    finally:
        client.close()
    _print(args, result.to_dict(), plug_text(result))
    return 0


def unplug_port(args: argparse.Namespace) -> int:
    """Removes the port's devices and unbinds it; prints what it did."""
    from services.compute import driver

    cfg, host, portapi = _setup(args)
    client, compute = _connect(args, cfg, host, portapi.value)
    try:
        port = client.find_port(args.port)
        try:
            result = compute.unplug(port.id)
        except driver.ComputeError as err:
            raise CommandError(str(err)) from None
        except grpc.RpcError as err:
            raise CommandError(
                cli_client.describe_rpc_error(err, "portapi", portapi.value)
            ) from None
    finally:
        client.close()
    _print(args, result.to_dict(), unplug_text(result))
    return 0


def _print(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2) if _json(args) else text)


def _steps(steps: list[driver.Step]) -> str:
    return render.table(
        ("step", "seconds", "result"), ((s.name, f"{s.seconds:.3f}", s.result) for s in steps)
    )


def plug_text(r: driver.PlugResult) -> str:
    """The text of ``ml2 compute plug``: where it plugged what, and each step's time."""
    v = r.vif
    pairs: list[tuple[str, object]] = [
        ("port", r.port_id),
        ("host", f"{r.host.value} (from {r.host.source})"),
    ]
    if v is not None:
        kind = v.vif_type + (" (hybrid plug)" if v.hybrid else "")
        pairs.append(("vif_type", kind))
        if v.reason:
            pairs.append(("vif from", f"LOCAL DEFAULT: {v.reason}"))
        else:
            pairs.append(("vif from", "the binding"))
        pairs.append(
            ("vif_details", render.struct_text(convert.dict_to_struct(dict(v.vif_details))))
        )
        pairs.append(("mtu", v.mtu or "-"))
    if r.instance is not None:
        created = ", created" if r.netns_created else ""
        pairs.append(("instance", f"{r.instance.instance_id} (netns {r.instance.netns}{created})"))
        if r.instance.device:
            pairs.append(("instance nic", r.instance.device))
    status = r.status or "-"
    if r.status_message:
        status += f" ({r.status_message})"
    if not any(s.name == "active" for s in r.steps):
        status += " (not waited for)"
    pairs.append(("status", status))
    parts = [render.fields(pairs)]
    if r.actions:
        parts.append("done:\n" + "\n".join(f"  - {a}" for a in r.actions))
    parts.append("\n" + _steps(r.steps))
    return "\n".join(parts)


def unplug_text(r: driver.UnplugResult) -> str:
    """The text of ``ml2 compute unplug``."""
    pairs: list[tuple[str, object]] = [
        ("port", r.port_id),
        ("host", f"{r.host.value} (from {r.host.source})"),
        ("binding", r.binding_note),
    ]
    parts = [render.fields(pairs)]
    removed = "\n".join(f"  - {a}" for a in r.actions) or "  - no device of the port was found"
    parts.append("done:\n" + removed)
    parts.append("\n" + _steps(r.steps))
    return "\n".join(parts)
