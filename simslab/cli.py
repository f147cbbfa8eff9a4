"""The ``simslab`` command line: the one place with console output (rich tables, progress).

Library errors (SimslabError) print as one red line and exit 2; the traceback goes to the
log file ``simslab.log`` in the data directory.
"""

from __future__ import annotations

import json
import logging
import sys
from functools import wraps
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Callable

import typer
from rich.console import Console
from rich.table import Table

from simslab.errors import SimslabError

app = typer.Typer(
    name="simslab",
    help="Run ToF-SIMS measurement campaigns: instruments, plans, catalog, analysis, simulated lab.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)
logger = logging.getLogger("simslab")

PROFILES = Path(str(files("simslab.profiles")))  # the shipped profiles, installed or editable
DEFAULT_PROFILE = PROFILES / "sim.yaml"
ProfileOption = Annotated[Path, typer.Option("--profile", "-p", help="profile YAML (default: the simulated lab)")]
DataOption = Annotated[
    Path | None, typer.Option("--data", help="embedded catalog directory (default: $SIMSLAB_DATA or ./simslab-data)")
]


@app.callback()
def configure_logging(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="show informational messages too")] = False,
) -> None:
    """Log to simslab.log in the data directory; warnings (and with -v, info) also to the console."""
    from rich.logging import RichHandler

    from simslab.profile import data_directory

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    console_handler = RichHandler(console=errors, show_path=False, rich_tracebacks=False)
    console_handler.setLevel(logging.INFO if verbose else logging.WARNING)
    root.addHandler(console_handler)
    directory = data_directory()
    if directory.is_dir():
        log_file = logging.FileHandler(directory / "simslab.log")
        log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(log_file)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print a SimslabError as one line and exit 2; log the traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except SimslabError as err:
            logger.info("command failed", exc_info=True)  # the traceback goes to simslab.log (and -v)
            errors.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return run


def open_catalog(profile: Path | None, data: Path | None):
    """Open the catalog of a profile (or the embedded default), honouring --data."""
    from simslab.catalog import Catalog
    from simslab.profile import EmbeddedCatalogSettings, load_profile

    settings = load_profile(profile).catalog if profile is not None else EmbeddedCatalogSettings()
    if data is not None:
        settings = EmbeddedCatalogSettings(directory=data)
    return Catalog.open(settings)


@app.command()
@reports_errors
def runs(
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list instead of a table")] = False,
    campaign: Annotated[str | None, typer.Option(help="only the runs of this campaign")] = None,
    profile: Annotated[Path | None, typer.Option("--profile", "-p", help="profile whose catalog to read")] = None,
    data: DataOption = None,
) -> None:
    """List the runs in the catalog: uid, start time, plan, campaign, step, sample, exit status."""
    catalog = open_catalog(profile, data)
    try:
        rows = [r for r in catalog.runs() if campaign is None or r.campaign_id == campaign]
    finally:
        catalog.close()
    if as_json:
        sys.stdout.write(json.dumps([r.to_dict() for r in rows], indent=1) + "\n")
        return
    table = Table("uid", "start (UTC)", "plan", "campaign", "step", "sample", "exit")
    for r in rows:
        step = "" if r.step_index is None else f"{r.step_index} {r.step_kind or ''}"
        table.add_row(r.uid[:8], r.start_time, r.plan_name, r.campaign_id or "", step, r.sample or "", r.exit_status)
    console.print(table)


@app.command()
@reports_errors
def show(
    uid: Annotated[str, typer.Argument(help="run uid, its first 8+ characters, or -1 for the latest")],
    documents: Annotated[bool, typer.Option("--documents", help="print every document of the run")] = False,
    profile: Annotated[Path | None, typer.Option("--profile", "-p")] = None,
    data: DataOption = None,
) -> None:
    """Show a run's metadata and streams, or with --documents its documents as they came live."""
    catalog = open_catalog(profile, data)
    try:
        key: str | int = int(uid) if uid.lstrip("-").isdigit() else uid
        if documents:
            for name, doc in catalog.documents(key):
                sys.stdout.write(json.dumps([name, doc], default=str) + "\n")
            return
        run = catalog.run(key)
        start, stop = run.metadata["start"], run.metadata.get("stop") or {}
        console.print_json(json.dumps({"start": start, "stop": stop, "streams": list(run)}, default=str))
    finally:
        catalog.close()


@app.command()
@reports_errors
def shell(
    profile: ProfileOption = DEFAULT_PROFILE,
    execute: Annotated[str | None, typer.Option("--exec", "-c", help="run this code in the session and exit")] = None,
) -> None:
    """Open IPython with RE, the devices, catalog and plans of a profile in the namespace."""
    import os

    import IPython

    from simslab.profile import load_profile

    load_profile(profile)  # a bad profile fails here, with one clear line, before IPython starts
    os.environ["SIMSLAB_PROFILE"] = str(profile.resolve())
    startup = PROFILES / "ipython_startup.py"
    argv = ["--no-banner", "--quick", "-i", str(startup)]
    if execute is not None:
        argv = ["--no-banner", "--quick", "-c", f"exec(open({str(startup)!r}).read()); {execute}"]
    IPython.start_ipython(argv=argv)


@app.command()
@reports_errors
def serve(
    profile: Annotated[Path, typer.Option("--profile", "-p", help="profile whose catalog is a tiled server")],
) -> None:
    """Run the profile's catalog server: tiled on PostgreSQL, API key required (Ctrl-C stops it)."""
    from simslab.catalog_server import CatalogServer, redact
    from simslab.errors import CatalogError
    from simslab.profile import ServerCatalogSettings, load_profile

    settings = load_profile(profile).catalog
    if not isinstance(settings, ServerCatalogSettings):
        raise CatalogError(f"{profile}: catalog.kind is {settings.kind!r}: serve needs a tiled server catalog "
                           "(see profiles/server-example.yaml)")
    server = CatalogServer.start(settings)
    console.print(f"catalog server on {server.uri} (key in ${settings.api_key_env}, database "
                  f"{redact(settings.serve.database_uri() or '')}); log {server.log_path}; Ctrl-C stops it",
                  highlight=False)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
@reports_errors
def export(
    uid: Annotated[str, typer.Argument(help="run uid, its first 8+ characters, or -1 for the latest")],
    out: Annotated[Path, typer.Option("--out", "-o", help="directory to write into")],
    file_format: Annotated[str, typer.Option("--format", "-f", help="hdf5 (whole run), csv (scalar streams) or "
                                             "tiff (image stacks per mass)")] = "hdf5",
    profile: Annotated[Path | None, typer.Option("--profile", "-p", help="profile whose catalog to read")] = None,
    data: DataOption = None,
) -> None:
    """Export a run as HDF5, CSV or TIFF files; print the files written."""
    from simslab.export import export_run

    catalog = open_catalog(profile, data)
    try:
        written = export_run(catalog.run(int(uid) if uid.lstrip("-").isdigit() else uid), file_format, out)
    finally:
        catalog.close()
    for path in written:
        console.print(str(path), highlight=False, soft_wrap=True)


@app.command()
@reports_errors
def watch(
    address: Annotated[str | None, typer.Option(help="HOST:PORT the session publishes to (default: the "
                                                "profile's live.publish, else 127.0.0.1:5577)")] = None,
    directory: Annotated[Path, typer.Option("--directory", "-d", help="where latest-image.png and "
                                            "potentiostat.png are written")] = Path("simslab-watch"),
    runs: Annotated[int | None, typer.Option("--runs", min=1, help="exit after this many runs stopped")] = None,
    profile: Annotated[Path | None, typer.Option("--profile", "-p", help="profile naming live.publish")] = None,
) -> None:
    """Follow a running campaign from another terminal: step, run, elapsed, latest image, cell curve."""
    from simslab.live_view import proxy_addresses
    from simslab.live_view import watch as follow
    from simslab.profile import load_profile

    if address is None:
        address = (load_profile(profile).live.publish if profile is not None else None) or "127.0.0.1:5577"
    in_address, out_address = proxy_addresses(address)
    console.print(f"watching documents published to {in_address} (subscribed on {out_address}); pictures go to "
                  f"{directory.expanduser().resolve()}; Ctrl-C stops", highlight=False)
    follow(address, directory, lambda status: console.print(status.summary(), highlight=False, soft_wrap=True),
           runs=runs)


@app.command()
@reports_errors
def bench(
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the figures as a JSON list here")] = None,
    only: Annotated[str | None, typer.Option("--only", help="only figures whose name starts with this: "
                                             "orchestration, ingest, analysis_, twin_, campaign, memory")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="one round, few events and images: a smoke run")] = False,
) -> None:
    """Measure every figure beside its reference; print them; exit 1 if any misses its target.

    Runs from a checkout: the benchmarks/ folder is not installed with the package.
    """
    import importlib

    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "benchmarks" / "harness.py").is_file():
        raise SimslabError(f"simslab bench needs the benchmarks/ folder of a checkout beside {checkout / 'simslab'}: "
                           "install simslab with `pip install -e .` from the repository")
    sys.path.insert(0, str(checkout))
    harness = importlib.import_module("benchmarks.harness")
    config = harness.BenchConfig.quick() if quick else harness.BenchConfig()
    try:
        figures = harness.run_benchmarks(config, only, progress=lambda suite: errors.print(f"measuring {suite} ..."))
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--only") from None
    if json_path is not None:
        harness.write_figures(figures, json_path)
    table = Table("figure", "value", "unit", "reference", "ratio", "target", "pass")
    table.columns[0].overflow = "fold"  # names are long; they must stay whole
    for figure in figures:
        shown = ["-" if x is None else f"{x:.4g}" for x in (figure.value, figure.reference, figure.ratio)]
        verdict = "[green]pass[/green]" if figure.passed else "[red]FAIL[/red]"
        table.add_row(figure.name, shown[0], figure.unit, shown[1], shown[2], str(figure.target), verdict)
    console.print(table)
    missed = [figure for figure in figures if not figure.passed]
    for figure in missed:
        errors.print(f"{figure.name}: {figure.target} not met ({figure.about})", highlight=False)
    if missed:
        raise typer.Exit(1)


def main() -> None:
    """Entry point with logging to a file beside the data."""
    app()


if __name__ == "__main__":
    main()
