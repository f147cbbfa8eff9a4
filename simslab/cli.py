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
CatalogProfileOption = Annotated[Path | None, typer.Option("--profile", "-p", help="profile whose catalog to read")]
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
    if not verbose:
        console_handler.addFilter(lambda record: record.name.startswith("simslab"))
        console_handler.setFormatter(_OneLine())
    root.addHandler(console_handler)
    directory = data_directory()
    if directory.is_dir():
        log_file = logging.FileHandler(directory / "simslab.log")
        log_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(log_file)


class _OneLine(logging.Formatter):
    """Console format: the message only; tracebacks stay in the log file."""

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        return ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return ""


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
    profile: CatalogProfileOption = None,
    data: DataOption = None,
) -> None:
    """List the runs in the catalog: uid, start time, plan, campaign, step, sample, exit status."""
    catalog = open_catalog(profile, data)
    try:
        rows = catalog.runs() if campaign is None else catalog.campaign_summaries(campaign)
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
        if documents:
            for name, doc in catalog.documents(uid):
                sys.stdout.write(json.dumps([name, doc], default=str) + "\n")
            return
        run = catalog.run(uid)
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
    import signal

    from simslab.catalog_server import CatalogServer, redact
    from simslab.errors import CatalogError
    from simslab.profile import ServerCatalogSettings, load_profile

    settings = load_profile(profile).catalog
    if not isinstance(settings, ServerCatalogSettings):
        raise CatalogError(f"{profile}: catalog.kind is {settings.kind!r}: serve needs a tiled server catalog "
                           "(see profiles/server-example.yaml)")

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or a service manager: stop tiled too
        signal.signal(signum, interrupt)
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


@app.command(context_settings={"ignore_unknown_options": True})  # so that `export -1` means the latest run
@reports_errors
def export(
    uid: Annotated[str, typer.Argument(help="run uid, its first 8+ characters, or -1 for the latest")],
    out: Annotated[Path, typer.Option("--out", "-o", help="directory to write into")],
    file_format: Annotated[str, typer.Option("--format", "-f", help="hdf5 (whole run), csv (scalar streams) or "
                                             "tiff (image stacks per mass)")] = "hdf5",
    profile: CatalogProfileOption = None,
    data: DataOption = None,
) -> None:
    """Export a run as HDF5, CSV or TIFF files; print the files written."""
    from simslab.export import export_run

    catalog = open_catalog(profile, data)
    try:
        written = export_run(catalog.run(uid), file_format, out)
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
    harness = _checkout_module("benchmarks.harness")
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
        reason = figure.about.splitlines()[0] if figure.about else ""
        errors.print(f"{figure.name}: {figure.target} not met ({reason})", highlight=False)
    if missed:
        raise typer.Exit(1)


CAMPAIGNS = Path(__file__).resolve().parent.parent / "campaigns"  # the shipped example campaigns
CampaignOption = Annotated[Path | None, typer.Argument(help="campaign YAML (omit with --resume)")]


@app.command(name="run")
@reports_errors
def run_campaign(
    spec: CampaignOption = None,
    resume: Annotated[str | None, typer.Option("--resume", help="continue this campaign from the catalog")] = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    data: DataOption = None,
) -> None:
    """Run a campaign: print its steps with estimated durations, then run them. Ctrl-C pauses."""
    if (spec is None) == (resume is None):
        raise SimslabError("give a campaign file, or --resume CAMPAIGN_ID (not both)")
    overrides = _catalog_overrides(data)
    if resume is not None:
        campaign, source = _campaign_from_catalog(resume, profile, data)
        _run_with_session(campaign, profile, overrides, source=source, resume=True)
    else:
        from simslab.runner import load_for_run

        campaign, _ = load_for_run(spec, profile, overrides)
        _run_with_session(campaign, profile, overrides, source=str(spec), resume=False)


@app.command()
@reports_errors
def confirm(
    request_id: Annotated[str | None, typer.Argument(help="the transfer to confirm (needed if several wait)")] = None,
    profile: ProfileOption = DEFAULT_PROFILE,
    list_only: Annotated[bool, typer.Option("--list", help="only list the transfers waiting")] = False,
) -> None:
    """Confirm the sample transfer (or exchange dip) the running campaign waits for, once it is done."""
    from simslab.devices.drivers.operator_handoff import confirm_transfer, pending_requests
    from simslab.profile import load_profile

    driver = load_profile(profile).devices.sample_handler.driver
    if driver.kind != "operator":
        raise SimslabError(f"profile {profile}: the sample handler is {driver.kind!r}, not operated by hand: "
                           "nothing to confirm")
    pending = pending_requests(driver.handoff_dir)
    if list_only or not pending:
        table = Table("transfer", "to", "note", "requested (UTC)")
        for request in pending:
            table.add_row(request.request_id, request.destination, request.note, _utc(request.requested_s))
        console.print(table if pending else f"no transfer is waiting in {driver.handoff_dir}")
        return
    try:
        request = confirm_transfer(driver.handoff_dir, request_id)
    except ValueError as err:
        raise SimslabError(str(err)) from None
    console.print(f"confirmed transfer {request.request_id}: the sample is at [bold]{request.destination}[/bold]")


@app.command()
@reports_errors
def demo(data: DataOption = None) -> None:
    """Run campaigns/demo.yaml on the simulated lab into the embedded catalog (a minute or two)."""
    import time

    from simslab.campaign import validate_campaign
    from simslab.profile import load_profile, load_yaml

    spec = CAMPAIGNS / "demo.yaml"
    overrides = _catalog_overrides(data)
    content = load_yaml(spec)
    content["campaign_id"] = f"{content['campaign_id']}-{time.strftime('%Y%m%d-%H%M%S')}"  # a fresh campaign each time
    campaign = validate_campaign(content, load_profile(DEFAULT_PROFILE, overrides), str(spec))
    started = time.perf_counter()
    directory = _run_with_session(campaign, DEFAULT_PROFILE, overrides, source=str(spec), resume=False)
    console.print(f"demo finished in {time.perf_counter() - started:.0f} s wall time")
    report = _write_report(campaign.campaign_id, directory, data)
    console.print(f"report: {report}" if report else "report: the analysis report module is not available yet")


def _run_with_session(campaign: Any, profile: Path, overrides: dict, *, source: str, resume: bool) -> Path | None:
    """Print the plan of steps, run what remains, print the outcome; return the catalog directory."""
    from simslab.runner import CampaignRunner, open_campaign_session

    session = open_campaign_session(profile, campaign, overrides=overrides, resume=resume)
    try:
        runner = CampaignRunner(session, campaign, source=source, resuming=resume)
        remaining = runner.remaining()
        if not resume and len(remaining) < len(runner.steps):
            raise SimslabError(f"campaign {campaign.campaign_id} already has runs in the catalog: continue it with "
                               f"--resume {campaign.campaign_id}, or give the file a new campaign_id")
        _print_plan(runner.steps, {s.index for s in remaining})
        outcomes = _run_steps(runner, on_step=_announce)
        table = Table("step", "what", "run", "exit")
        for outcome in outcomes:
            table.add_row(str(outcome.index), outcome.label, (outcome.uid or "")[:8], outcome.exit_status)
        console.print(table)
        directory = getattr(session.catalog, "assets_directory", None)
        where = directory.parent if directory is not None else "the profile's catalog"
        console.print(f"campaign [bold]{campaign.campaign_id}[/bold]: runs in {where} "
                      f"(simslab runs --campaign {campaign.campaign_id})")
        return directory.parent if directory is not None else None
    finally:
        session.close()


def _run_steps(runner: Any, on_step: Callable[..., None]) -> list:
    """Run the campaign; after Ctrl-C ask whether to resume or abort the paused step."""
    from bluesky.utils import RunEngineInterrupted

    go = runner.run
    while True:
        try:
            return go(on_step)
        except RunEngineInterrupted:
            answer = typer.prompt("paused: [r]esume or [a]bort the step?", default="r", err=True).strip().lower()
            if answer.startswith("a"):
                runner.abort("aborted by the operator after Ctrl-C")
            go = runner.resume_paused


def _print_plan(steps: list, remaining: set[int]) -> None:
    from simslab.live import format_duration

    table = Table("step", "kind", "what", "estimated", "ends after", "")
    total = 0.0
    for step in steps:
        todo = step.index in remaining
        total += step.estimated_duration_s if todo else 0.0
        table.add_row(str(step.index), step.kind, step.label, format_duration(step.estimated_duration_s),
                      format_duration(total) if todo else "", "" if todo else "done")
    console.print(table)
    console.print(f"estimated time to the end: [bold]{format_duration(total)}[/bold] (session clock)")


def _announce(step: Any, todo: list) -> None:
    from simslab.live import format_duration

    remaining_s = sum(s.estimated_duration_s for s in todo)
    console.print(f"[bold]step {step.index}[/bold] {step.label}: ~{format_duration(step.estimated_duration_s)}, "
                  f"campaign ~{format_duration(remaining_s)} to go")


def _campaign_from_catalog(campaign_id: str, profile: Path, data: Path | None) -> tuple[Any, str]:
    """Read a campaign's spec back from the catalog (recovering interrupted runs first) and check it."""
    from simslab.campaign import validate_campaign
    from simslab.profile import load_profile
    from simslab.runner import campaign_from_catalog

    catalog = open_catalog(profile, data)
    try:
        catalog.recover()
        spec, source = campaign_from_catalog(catalog, campaign_id)
    finally:
        catalog.close()
    return validate_campaign(spec, load_profile(profile, _catalog_overrides(data)), source), source


def _catalog_overrides(data: Path | None) -> dict:
    return {"catalog": {"kind": "embedded", "directory": str(data.resolve())}} if data is not None else {}


def _write_report(campaign_id: str, directory: Path | None, data: Path | None) -> Path | None:
    """Write the campaign report when the analysis report module exists (``write_campaign_report``)."""
    import importlib
    import importlib.util

    if directory is None or importlib.util.find_spec("simslab.analysis.report") is None:
        return None
    report = importlib.import_module("simslab.analysis.report")
    catalog = open_catalog(DEFAULT_PROFILE, data)
    try:  # the demo's report is shortened to keep the demo within two minutes (the report says how)
        return report.write_campaign_report(catalog, campaign_id, directory / "reports" / campaign_id,
                                            **report.DEMO_SETTINGS)
    finally:
        catalog.close()


def _utc(epoch_s: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).isoformat(timespec="seconds")


@app.command()
@reports_errors
def soak(
    campaigns: Annotated[int, typer.Option("--campaigns", min=1, help="how many campaigns to soak")] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0, help="draws every campaign's faults and kills")] = 1,
    json_path: Annotated[Path | None, typer.Option("--json", help="also write the report (with every campaign's "
                                                   "launches and problems) as JSON here")] = None,
    work: Annotated[Path | None, typer.Option("--work", help="keep the campaigns' catalogs and logs here "
                                              "(default: a temporary directory, removed)")] = None,
) -> None:
    """Run campaigns with injected faults and hard kills, resumed until done; print the counts (all must be 0).

    Runs from a checkout: the benchmarks/ folder is not installed with the package.
    """
    soak_module = _checkout_module("benchmarks.soak")
    report = soak_module.run_soak(soak_module.SoakConfig(campaigns, seed, work),
                                  progress=lambda message: errors.print(message, highlight=False, soft_wrap=True))
    if json_path is not None:
        soak_module.write_report(report, json_path)
    sys.stdout.write(json.dumps({k: v for k, v in report.items() if k != "details"}, indent=1) + "\n")
    failing = {name: n for name, n in report["counts"].items() if n}
    for detail in report["details"]:
        for problem in detail["problems"]:
            errors.print(f"{detail['campaign_id']}: {problem}", highlight=False, soft_wrap=True)
    if failing:
        errors.print(f"[red]soak failed:[/red] {', '.join(f'{k} = {v}' for k, v in failing.items())}")
        raise typer.Exit(1)


def _checkout_module(name: str) -> Any:
    """Import a module of the checkout's benchmarks/ folder (not installed with the package)."""
    import importlib

    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "benchmarks" / "__init__.py").is_file():
        raise SimslabError(f"this command needs the benchmarks/ folder of a checkout beside {checkout / 'simslab'}: "
                           "install simslab with `pip install -e .` from the repository")
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    return importlib.import_module(name)


BoundariesOption = Annotated[Path | None, typer.Option(
    "--boundaries", help="registered grain-boundary map of the maps (.npy/.tif: mask or labels), the etched image")]
DBulkOption = Annotated[float | None, typer.Option(
    "--d-bulk", help="D_bulk at 22 C in m^2/s (NMR; default: the sample's d_bulk_m2_per_s, else 2.6e-12)")]
ConductivityOption = Annotated[float | None, typer.Option(
    "--conductivity", help="ionic conductivity at 22 C in S/m, for the Haven ratio")]


@app.command(context_settings={"ignore_unknown_options": True})  # so that `analyze -1` means the latest run
@reports_errors
def analyze(
    key: Annotated[str, typer.Argument(help="campaign id, or a run uid (its first 8+ characters, or -1)")],
    as_json: Annotated[bool, typer.Option("--json", help="print every result as JSON: SI values, errors, methods")] = False,
    boundaries: BoundariesOption = None,
    d_bulk: DBulkOption = None,
    conductivity: ConductivityOption = None,
    profile: CatalogProfileOption = None,
    data: DataOption = None,
) -> None:
    """Analyse a campaign (or one run) from the catalog: D_eff, D_gb/delta, Arrhenius, capacities, SoC, dose."""
    from simslab.analysis.campaign_analysis import analyze as analyze_key
    from simslab.analysis.report_rows import summary_rows

    catalog = open_catalog(profile, data)
    try:
        result = analyze_key(catalog, key, **_analysis_overrides(boundaries, d_bulk, conductivity))
    finally:
        catalog.close()
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=1) + "\n")
        return
    table = Table("section", "quantity", "value", "error", "unit", "T", title=f"{result.campaign_id}: "
                  f"{len(result.runs_analysed)} runs analysed in {result.elapsed_s:.1f} s")
    for row in summary_rows(result):
        value, error = row.shown()
        table.add_row(row.section, row.quantity, value, error, row.unit, row.temperature_c)
    console.print(table)
    for flag in result.quench_flags:
        errors.print(f"[yellow]quench check failed:[/yellow] {flag}", highlight=False, soft_wrap=True)


@app.command()
@reports_errors
def report(
    campaign_id: Annotated[str, typer.Argument(help="the campaign to report on")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="directory to write into (default: "
                                             "<data directory>/reports/<campaign id>)")] = None,
    boundaries: BoundariesOption = None,
    d_bulk: DBulkOption = None,
    conductivity: ConductivityOption = None,
    profile: CatalogProfileOption = None,
    data: DataOption = None,
) -> None:
    """Write a campaign's report: one self-contained HTML page, the figures (PNG, SVG) and the JSON."""
    from simslab.analysis.report import write_campaign_report
    from simslab.profile import data_directory

    catalog = open_catalog(profile, data)
    try:
        directory = out or data_directory(data) / "reports" / campaign_id
        page = write_campaign_report(catalog, campaign_id, directory,
                                     **_analysis_overrides(boundaries, d_bulk, conductivity))
    finally:
        catalog.close()
    console.print(f"report: {page}", highlight=False, soft_wrap=True)


def _analysis_overrides(boundaries: Path | None, d_bulk: float | None, conductivity: float | None) -> dict:
    from simslab.analysis.read_boundary_map import read_boundary_map

    return {"boundary_map": read_boundary_map(boundaries) if boundaries is not None else None,
            "d_bulk_m2_per_s": d_bulk, "conductivity_s_per_m": conductivity}


@app.command(name="replay")
@reports_errors
def replay_command(
    key: Annotated[str, typer.Argument(help="run uid (or its first 8+ characters), or campaign id")],
    profile: ProfileOption = DEFAULT_PROFILE,
    seed: Annotated[int | None, typer.Option(help="replay with this twin seed instead of the recorded one")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
    data: DataOption = None,
) -> None:
    """Re-run a recorded run or campaign on the simulated lab and compare it with the original.

    Exits 1 if a simulated original replayed with its own twin parameters and seed did not
    repeat its readings.
    """
    from simslab.replay import replay

    overrides = _catalog_overrides(data)
    if seed is not None:
        overrides["twin"] = {"seed": seed}
    report = replay(key, profile, overrides)
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=1, default=str) + "\n")
    else:
        table = Table("run", "original", "replay", "exit", "readings")
        for run in report.runs:
            verdict = "identical" if run.identical else f"{len(run.lines())} difference(s)"
            table.add_row(run.label, run.original_uid[:8], (run.replay_uid or "")[:8],
                          f"{run.original_exit} / {run.replay_exit}", verdict)
        console.print(table)
        for run in report.runs:
            for line in run.lines():
                console.print(f"{run.label}: {line}", highlight=False, soft_wrap=True)
        for note in report.notes:
            console.print(f"note: {note}", highlight=False, soft_wrap=True)
        campaign = f" (campaign {report.campaign_id})" if report.campaign_id else ""
        console.print(f"[bold]{report.summary()}[/bold]{campaign}", highlight=False)
    if report.exact_expected and not report.identical_readings:
        raise typer.Exit(1)


def main() -> None:
    """Entry point with logging to a file beside the data."""
    app()


if __name__ == "__main__":
    main()
