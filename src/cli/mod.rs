//! Command-line interface: clap definitions here, one file per subcommand.
//!
//! Exit codes (terraform's): 0 success / no changes, 1 any error (usage errors too), 2 changes
//! present (only `plan --detailed-exitcode`); and the shell's: 130 / 143 when SIGINT / SIGTERM
//! stopped the command ([`crate::signals`]), 141 when stdout was closed early ([`output`]).

mod apply;
mod confirm;
mod confirm_cmd;
mod diagnostics;
mod docs;
mod events;
mod fleet;
mod graph;
mod lab;
mod output;
mod plan;
mod report;
mod rollback;
mod saved;
mod show;
mod target;
mod try_apply;
mod validate;

use clap::{Args, Parser, Subcommand};
use output::{errln, out};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "netplan-rs",
    version,
    about = "Terraform for container networking: plan and apply VXLAN, bridge and route topologies against the live kernel",
    after_help = EXAMPLES_MAIN
)]
pub struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log lines on stderr as text, or as JSON objects one a line (for log collectors).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a topology file; print a one-line summary or every error.
    #[command(after_help = EXAMPLES_VALIDATE)]
    Validate {
        /// Topology file; `-` reads it from stdin.
        file: PathBuf,
        /// Print the result as JSON (format in docs/diagnostics.md), for editors and CI.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of the topology file.
    Schema,
    /// Show what apply would change on this host (or, with --all-hosts --offline, on every host
    /// of the file against an older version of it).
    #[command(after_help = EXAMPLES_PLAN)]
    Plan(PlanArgs),
    /// Fleet plan from OLD to NEW, offline: short for `plan NEW --all-hosts --offline --base OLD`.
    Diff(DiffArgs),
    /// Change this host's kernel state to match the topology, then verify it.
    #[command(after_help = EXAMPLES_APPLY)]
    Apply(ApplyArgs),
    /// Remove everything netplan-rs owns on this host.
    #[command(after_help = EXAMPLES_DESTROY)]
    Destroy(DestroyArgs),
    /// Put the host back as it was before an apply that did not finish (killed, failed with
    /// --no-rollback, or never confirmed after --confirm-timeout).
    Rollback(RollbackArgs),
    /// Keep the change of an `apply --confirm-timeout` waiting on this host (or a lab host).
    Confirm(ConfirmArgs),
    /// List the live objects netplan-rs owns on this host, per namespace.
    Show(ShowArgs),
    /// Simulated hosts in network namespaces on this machine.
    #[command(subcommand, after_help = EXAMPLES_LAB)]
    Lab(LabCommand),
    /// Print a shell completion script (see docs/cli.md for where to install it).
    #[command(after_help = EXAMPLES_COMPLETIONS)]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout, or write one page per command into --dir.
    #[command(after_help = EXAMPLES_MAN)]
    Man {
        /// Write netplan-rs.1, netplan-rs-plan.1, ... into DIR instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Draw the topology (hosts, networks, containers, tunnels) or, with --plan, a host's plan
    /// DAG, as Graphviz DOT or Mermaid text (`| dot -Tsvg > topology.svg`).
    Graph(GraphArgs),
}

// The `Examples:` under each main command's --help (and in the man pages).
const EXAMPLES_MAIN: &str = "Examples:
  netplan-rs validate fleet.yaml
  netplan-rs plan fleet.yaml --host node-1
  netplan-rs apply fleet.yaml --host node-1
  netplan-rs lab demo topologies/vxlan-bridged.yaml";
const EXAMPLES_VALIDATE: &str = "Examples:
  netplan-rs validate fleet.yaml
  cat fleet.yaml | netplan-rs validate -";
const EXAMPLES_PLAN: &str = "Examples:
  netplan-rs plan fleet.yaml                      # the host is found by its underlay address
  netplan-rs plan fleet.yaml --host node-1 --json
  netplan-rs plan fleet.yaml --detailed-exitcode  # exit 2 when there are changes (drift check)
  netplan-rs plan fleet.yaml --out node-1.plan    # save it for `apply node-1.plan`";
const EXAMPLES_APPLY: &str = "Examples:
  netplan-rs apply fleet.yaml
  netplan-rs apply fleet.yaml --auto-approve --json      # JSON lines, see docs/cli.md
  netplan-rs apply fleet.yaml --confirm-timeout 120      # rolled back unless confirmed
  netplan-rs apply node-1.plan                           # exactly the saved plan
  netplan-rs apply fleet.yaml --lab demo --host node-1   # on a simulated host";
const EXAMPLES_DESTROY: &str = "Examples:
  netplan-rs destroy
  netplan-rs destroy fleet.yaml --lab demo --host node-1 --auto-approve";
const EXAMPLES_LAB: &str = "Examples:
  netplan-rs lab demo topologies/vxlan-bridged.yaml   # up, plans, apply, verify, down
  netplan-rs lab up fleet.yaml --lab try1
  netplan-rs lab verify fleet.yaml --lab try1 --json
  netplan-rs lab down fleet.yaml --lab try1";
const EXAMPLES_COMPLETIONS: &str = "Examples:
  netplan-rs completions bash > /etc/bash_completion.d/netplan-rs
  netplan-rs completions zsh > \"${fpath[1]}/_netplan-rs\"
  netplan-rs completions fish > ~/.config/fish/completions/netplan-rs.fish";
const EXAMPLES_MAN: &str = "Examples:
  netplan-rs man | man -l -
  netplan-rs man --dir /usr/local/share/man/man1";

/// Which host to act on.
#[derive(Debug, Args, Clone, Default)]
struct HostArgs {
    /// Host of the topology to act as; default: the host whose underlay address is on a local interface.
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// Act on a simulated host of this lab (needs --host); a bare `--lab` means the file's stem.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    lab: Option<String>,
}

/// How long to wait for another netplan-rs run on the same host (see `crate::lock`).
#[derive(Debug, Args, Clone, Copy, Default)]
struct LockArgs {
    /// Wait up to SECS for another netplan-rs run on the same host to let go of it (each lock
    /// the command needs is waited for at most SECS); 0 fails at once, naming the holder.
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    lock_timeout: u64,
}

impl LockArgs {
    fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lock_timeout)
    }
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// Topology file; `-` reads it from stdin.
    file: PathBuf,
    #[command(flatten)]
    host: HostArgs,
    #[command(flatten)]
    lock: LockArgs,
    /// Print the plan as JSON (format: docs/commands.md).
    #[arg(long)]
    json: bool,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Also save the plan to PLANFILE (JSON, mode 0600) for `apply PLANFILE`, which runs exactly
    /// these steps or refuses when the kernel changed since; `-out PLANFILE` works too.
    #[arg(long = "out", value_name = "PLANFILE")]
    out: Option<PathBuf>,
    /// Plan every host of the file, not just this one (needs --offline).
    #[arg(long, conflicts_with_all = ["host", "lab", "out"])]
    all_hosts: bool,
    /// Plan from the file alone, without reading any kernel (no root needed): each host's
    /// current state is taken to be what --base wants for it. Only with --all-hosts.
    #[arg(long)]
    offline: bool,
    /// The older version of the file the fleet runs now (default: none, so everything is new).
    #[arg(long, value_name = "OLD_FILE")]
    base: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The topology file the fleet runs now (`-` reads it from stdin).
    old: PathBuf,
    /// The new version of the file (`-` reads it from stdin).
    new: PathBuf,
    /// Print the fleet plan as JSON (format in docs/fleet-plan.md).
    #[arg(long)]
    json: bool,
    /// Exit 0 when no host changes, 2 when some host does, 1 on error.
    #[arg(long)]
    detailed_exitcode: bool,
}

#[derive(Debug, Args)]
struct ApplyArgs {
    /// Topology file, or a plan saved by `plan -out` (told apart by its content); `-` reads a
    /// topology from stdin (then --auto-approve is needed).
    file: PathBuf,
    #[command(flatten)]
    host: HostArgs,
    #[command(flatten)]
    lock: LockArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// When a step fails, the kernel does not converge or SIGINT/SIGTERM arrives, leave the
    /// host as the apply left it instead of rolling back (`netplan-rs rollback` can still
    /// restore it).
    #[arg(long)]
    no_rollback: bool,
    /// Try and revert: after applying and verifying, keep the change only if it is confirmed
    /// within SECS (1-3600) by typing `yes` here or running `netplan-rs confirm` from another
    /// shell; otherwise roll it back.
    #[arg(long, value_name = "SECS", value_parser = crate::confirmation::parse_secs, conflicts_with = "no_rollback")]
    confirm_timeout: Option<u64>,
    /// Print the apply's events as JSON lines on stdout instead of prose (format in
    /// docs/cli.md); needs --auto-approve, since no prompt can share stdout with them.
    #[arg(long, requires = "auto_approve", conflicts_with = "confirm_timeout")]
    json: bool,
}

#[derive(Debug, Args)]
struct ConfirmArgs {
    /// Topology file of the waiting apply (names its scope when several wait on this host).
    file: Option<PathBuf>,
    #[command(flatten)]
    host: HostArgs,
}

#[derive(Debug, Args)]
struct RollbackArgs {
    /// Topology file (used to pick the host, the lab and the scope); optional on a real host.
    file: Option<PathBuf>,
    #[command(flatten)]
    host: HostArgs,
    #[command(flatten)]
    lock: LockArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
}

#[derive(Debug, Args)]
struct DestroyArgs {
    /// Topology file (used to pick the host and the lab name); optional on a real host.
    file: Option<PathBuf>,
    #[command(flatten)]
    host: HostArgs,
    #[command(flatten)]
    lock: LockArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// Topology file (used to pick the host and the lab name); optional on a real host. A plan
    /// saved by `plan -out` is rendered instead (like `plan`; `--json` like `plan --json`).
    file: Option<PathBuf>,
    #[command(flatten)]
    host: HostArgs,
    #[command(flatten)]
    lock: LockArgs,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct GraphArgs {
    /// Topology file; `-` reads it from stdin.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
    /// Without --plan: draw only this host and what it connects to (the far ends of its tunnels
    /// and routes). With --plan: the host whose plan is drawn; default as for `plan`.
    #[arg(long, value_name = "NAME")]
    host: Option<String>,
    /// With --plan: plan simulated host --host of this lab (a bare `--lab` means the file's
    /// stem).
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    lab: Option<String>,
    #[command(flatten)]
    lock: LockArgs,
    /// Draw the ordering DAG of the host's plan (steps and what each waits for) instead of the
    /// topology; reads the kernel like `plan`, unless --offline.
    #[arg(long)]
    plan: bool,
    /// With --plan: plan against an empty host, without reading any kernel (needs --host, no
    /// root).
    #[arg(long, requires = "plan", conflicts_with = "lab")]
    offline: bool,
}

/// `graph --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum GraphFormat {
    /// Graphviz DOT (render with `dot -Tsvg`).
    Dot,
    /// A Mermaid flowchart (GitHub and GitLab render it in Markdown).
    Mermaid,
}

#[derive(Debug, Args)]
struct LabArgs {
    /// Topology file; `-` reads it from stdin (then --lab is needed).
    file: PathBuf,
    /// Lab name; default: the file's stem.
    #[arg(long, value_name = "NAME")]
    lab: Option<String>,
    #[command(flatten)]
    lock: LockArgs,
}

#[derive(Debug, Args)]
struct LabVerifyArgs {
    #[command(flatten)]
    lab: LabArgs,
    /// Print the matrix and every probe as JSON (format in docs/cli.md).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Build the simulated hosts and apply the file to each.
    Up(LabArgs),
    /// Remove every namespace of the lab.
    Down(LabArgs),
    /// Ping every ordered pair of containers and check both reachability and isolation: pairs
    /// the file connects must answer, pairs it keeps apart must not (a reply is a LEAK); print
    /// a matrix. Exit 1 on any FAIL or LEAK.
    Verify(LabVerifyArgs),
    /// up, print each host's plan, apply, verify, down.
    Demo(LabArgs),
}

/// Parse the command line, run, and map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(saved::rewrite_out(std::env::args_os())) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(usage_exit_code(err.kind()));
        }
    };
    init_logging(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("Error: starting the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli.command));
    // A caught signal decides the exit code whatever the command made of it: the caller asked
    // it to stop, and 130/143 tell a script that it did not simply succeed or fail.
    let signalled = crate::signals::arrived().map(|s| ExitCode::from(s.exit_code()));
    match result {
        Ok(code) => signalled.unwrap_or(code),
        Err(e) if output::is_closed(&e) => signalled.unwrap_or(ExitCode::from(output::CLOSED_EXIT)),
        Err(e) => {
            match e.downcast_ref::<diagnostics::Failed>() {
                // A topology that does not load: every problem with its source snippet.
                Some(f) => errln!(
                    "{}",
                    diagnostics::render(&f.error, &f.text, diagnostics::stderr_color()).trim_end()
                ),
                None => errln!("Error: {}", report::render(&e)),
            }
            signalled.unwrap_or(ExitCode::from(1))
        }
    }
}

/// Exit code for what clap stopped at: 0 when help or the version was asked for; 1 for a usage
/// error (clap's own 2 means "changes present" here), including a bare `netplan-rs` with no
/// command, which prints the help but did not do what a command was expected to.
fn usage_exit_code(kind: clap::error::ErrorKind) -> u8 {
    use clap::error::ErrorKind;
    match kind {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
        _ => 1,
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Validate { file, json } => Ok(validate::run(&file, json)),
        Command::Schema => {
            out!("{}", crate::topology::schema_json())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) if args.all_hosts || args.offline || args.base.is_some() => {
            fleet::run_plan(args)
        }
        Command::Plan(args) => plan::run(args).await,
        Command::Diff(args) => fleet::run_diff(args),
        Command::Apply(args) => apply::run_apply(args).await,
        Command::Destroy(args) => apply::run_destroy(args).await,
        Command::Rollback(args) => rollback::run(args).await,
        Command::Confirm(args) => confirm_cmd::run(args).await,
        Command::Show(args) => show::run(args).await,
        Command::Lab(cmd) => lab::run(cmd).await,
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { dir } => docs::man(dir.as_deref()),
        Command::Graph(args) => graph::run(args).await,
    }
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, with the span (phase) it belongs to.
    Json,
}

/// Logs on stderr. `-v` shows netplan-rs's phases (load, compile, observe and one `dump` per
/// namespace, diff, each apply `wave`, verify, rollback) as spans: each prints a `close` line
/// with its duration (`time.busy` + `time.idle`) when it ends.
fn init_logging(verbose: u8, format: LogFormat) {
    use tracing_subscriber::fmt::format::FmtSpan;
    let default = match verbose {
        0 => "warn",
        1 => "warn,netplan_rs=info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal who did not ask for none.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .with_span_events(FmtSpan::CLOSE);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

/// The lab name a file implies (its stem); a topology read from stdin has none.
fn default_lab_name(file: &std::path::Path) -> anyhow::Result<String> {
    if crate::topology::source::is_stdin(file) {
        anyhow::bail!("the topology comes from stdin, so it cannot name the lab; pass --lab NAME");
    }
    Ok(crate::lab::default_name(file))
}

/// Load and validate a topology file; a failure keeps the text for its snippets.
fn load(file: &std::path::Path) -> anyhow::Result<crate::topology::Topology> {
    tracing::info_span!("load", file = %file.display())
        .in_scope(|| diagnostics::load(file))
        .map(|(topo, _)| topo)
}

/// Print what observing skipped (see `Kernel::take_warnings`), one `warning:` line each.
fn print_warnings(kernel: &mut crate::kernel::Kernel) {
    for warning in kernel.take_warnings() {
        errln!("warning: {warning}");
    }
}
