//! The `wapdr` binary: one command per job (serve, migrate, config, register, lab, demo, bench), and
//! the admin commands that drive a running wapdr over its admin API ([`cli`]).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod bench;
mod cli;
mod demo;

use wapdr::app;
use wapdr::config::{Config, EXAMPLE, LogFormat, reference};
use wapdr::contract::{self, Format};
use wapdr::lab::{Lab, LabConfig};
use wapdr::store;

/// Disaster recovery as a Windows Azure Pack plan add-on.
#[derive(Parser)]
#[command(name = "wapdr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the resource provider (all endpoints on one listener).
    Serve(ConfigArg),
    /// Apply the store's migrations and exit.
    Migrate(ConfigArg),
    /// Show or check configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print (or post) the ResourceProvider registration body for WAP's admin API.
    Register(RegisterArgs),
    /// Run the lab fabric alone (SPF, WAP admin per stamp, ASR, token); prints one JSON line with
    /// every service's URL and credentials, then runs until ctrl-c.
    Lab(LabArgs),
    /// Run the lab and the resource provider together and play a scripted scenario over HTTP;
    /// exits 0 only if every step succeeded.
    Demo(DemoArgs),
    /// Print the OpenAPI description of the notification, usage, admin and tenant endpoints (what
    /// `GET /openapi.json` serves and `schemas/openapi.json` holds).
    Openapi,
    /// Run a benchmark against the lab and a real wapdr in this process: prints each figure
    /// with its bound or baseline and the ratio, then the rows for BENCHMARKS.md.
    Bench(bench::BenchArgs),
    #[command(flatten)]
    Admin(cli::AdminCommand),
}

#[derive(Args)]
struct LabArgs {
    /// Lab TOML configuration (see lab.example.toml); defaults to the small world on random ports.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Also stop when standard input closes: a process that started the lab with a pipe as its
    /// input (the benchmark harness) takes the lab with it when it ends, however it ends.
    #[arg(long)]
    until_stdin_closes: bool,
}

#[derive(Args)]
struct DemoArgs {
    /// Lab TOML configuration.
    #[arg(long)]
    lab_config: Option<PathBuf>,
    /// wapdr configuration; without it, a fresh SQLite database in a temporary folder.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// End with a one-line JSON summary of the scenario.
    #[arg(long)]
    json: bool,
    /// Keep the lab and wapdr running after the scenario, until ctrl-c.
    #[arg(long)]
    keep_running: bool,
}

#[derive(Args)]
struct ConfigArg {
    /// TOML configuration file; WAPDR_* environment variables override it.
    #[arg(long, short, env = "WAPDR_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print a commented example of every key, with its default.
    Example,
    /// Print the reference of every key (type, default, environment variable) as Markdown.
    Reference,
    /// Load the configuration (file + environment) and print it, secrets redacted.
    Check(ConfigArg),
}

#[derive(Args)]
struct RegisterArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print DataContract XML instead of JSON.
    #[arg(long)]
    xml: bool,
    /// WAP admin API base URL (e.g. https://wapadmin:30004); with it, the body is POSTed to
    /// {admin-api}/resourceproviders instead of printed.
    #[arg(long)]
    admin_api: Option<String>,
    /// Bearer token for the WAP admin API.
    #[arg(long, env = "WAPDR_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The principal to act as (x-ms-principal-id).
    #[arg(long, default_value = "admin")]
    principal: String,
}

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tune_allocator();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(start())
}

/// glibc's malloc with its defaults kept the peak of every busy spell: its mmap threshold only
/// grows (after a 19 MB response is freed, every buffer up to that size comes from an arena that
/// keeps it), and each of up to 16 arenas keeps its own free memory. At 30,000 VMs wapdr sat at
/// 134 MiB idle with these defaults and 92 MiB with the thresholds fixed at 128 KiB and two
/// arenas, onboarding as fast (`wapdr bench enable --scale 0.3`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MALLOC_TUNABLES: &str = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072";

/// glibc reads its tunables only as a process starts, so wapdr starts itself again (same
/// process id, same arguments and descriptors) with [`MALLOC_TUNABLES`] unless `GLIBC_TUNABLES`
/// is set already: by this, or by an operator whose own settings win. If that fails, wapdr goes
/// on with glibc's defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    use std::os::unix::process::CommandExt as _;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", MALLOC_TUNABLES)
        .exec();
    eprintln!("warning: allocator settings not applied, going on without them: {err}");
}

async fn start() -> ExitCode {
    match run(Cli::parse().command).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {err:?}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        // The admin commands report their own errors, with exit codes of their own.
        Command::Admin(command) => return Ok(cli::run(command).await),
        Command::Serve(args) => serve(args).await?,
        Command::Migrate(args) => {
            let config = load(&args)?;
            init_tracing(&config);
            let store = store::open(&config.database.url, 1).await?;
            store.ping().await?;
            println!(
                "migrations applied to {} ({})",
                app::redact_url(&config.database.url),
                store.backend()
            );
        }
        Command::Config { command } => match command {
            ConfigCommand::Example => print!("{EXAMPLE}"),
            ConfigCommand::Reference => print!("{}", reference::markdown()),
            ConfigCommand::Check(args) => {
                let config = load(&args)?;
                println!("{config:#?}");
            }
        },
        Command::Register(args) => register(args).await?,
        Command::Lab(args) => run_lab(args).await?,
        Command::Demo(args) => demo(args).await?,
        Command::Openapi => print!(
            "{}",
            wapdr::api::document_json(&wapdr::api::openapi_document())
        ),
        Command::Bench(args) => bench::run(args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

fn load(args: &ConfigArg) -> anyhow::Result<Config> {
    Ok(Config::load(args.config.as_deref())?)
}

fn init_tracing(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        // Colours only for a terminal: a service's journal or log file would keep the escapes.
        LogFormat::Pretty => builder
            .with_ansi(std::io::stdout().is_terminal())
            .try_init(),
    };
}

async fn serve(args: ConfigArg) -> anyhow::Result<()> {
    let config = load(&args)?;
    init_tracing(&config);
    // Caught from now on: a stop asked for while starting is honoured, gracefully, once served.
    let signals = app::StopSignals::listen().context("listening for stop signals")?;
    let running = app::start(&config).await?;
    let base = config
        .public_url
        .clone()
        .unwrap_or_else(|| running.url())
        .trim_end_matches('/')
        .to_owned();
    if config.log.format == LogFormat::Json {
        // Every line of stdout is a JSON object for the log shipper: the endpoints are one event.
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            store = running.store.backend(),
            notification = format!("{base}/notification"),
            usage = format!("{base}/"),
            admin = format!("{base}/admin"),
            tenant = format!("{base}/tenant/"),
            health = format!("{base}/health"),
            "wapdr is serving"
        );
    } else {
        println!(
            "wapdr {} is serving ({} store)",
            env!("CARGO_PKG_VERSION"),
            running.store.backend()
        );
        println!("  notification endpoint  {base}/notification");
        println!("  usage endpoint         {base}/");
        println!("  admin endpoint         {base}/admin");
        println!("  tenant endpoint        {base}/tenant/");
        println!("  health                 {base}/health  {base}/health/ready");
        println!(
            "Register it in WAP: `wapdr register` prints the body (with the endpoint credentials);"
        );
        println!(
            "`wapdr register --admin-api https://ADMINAPI:30004 --token TOKEN` posts it. `wapdr \
             status` and the other admin commands drive it. Ctrl-C stops."
        );
    }
    running.until_signal(signals).await
}

/// The lab clock's pace in the demo unless `--lab-config` says otherwise.
const DEMO_ACCELERATION: f64 = 600.0;

fn lab_config(path: Option<&std::path::Path>) -> anyhow::Result<LabConfig> {
    match path {
        Some(path) => LabConfig::load(path),
        None => Ok(LabConfig::default()),
    }
}

async fn run_lab(args: LabArgs) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let lab = Lab::start(lab_config(args.config.as_deref())?).await?;
    println!("{}", lab.describe());
    let stdin_closed = async {
        if args.until_stdin_closes {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut tokio::io::sink()).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = app::shutdown_signal() => {}
        () = stdin_closed => {}
    }
    lab.shutdown().await;
    Ok(())
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let given = match &args.config {
        Some(path) => Some(Config::load(Some(path))?),
        None => None,
    };
    let (mut config, scratch) = demo::demo_config(given)?;
    // The scenario's own lines are the output; logs only for warnings unless RUST_LOG says more.
    config.log.level = "warn".into();
    init_tracing(&config);
    let started = std::time::Instant::now();
    println!(
        "wapdr demo: the lab fabric for two stamps, wapdr on {}, a scripted scenario",
        config.database.url
    );
    let mut lab_setup = lab_config(args.lab_config.as_deref())?;
    if args.lab_config.is_none() {
        // The scripted scenario runs the lab clock at 600× (a minute of fabric work in 0.1 s);
        // `--lab-config` sets the pace instead.
        lab_setup.knobs.acceleration = DEMO_ACCELERATION;
    }
    let lab = Lab::start(lab_setup).await?;
    if config.asr.is_none() {
        config.asr = Some(demo::lab_vault(lab.access(), lab.state.knobs().concurrency));
    }
    let running = app::start(&config).await?;
    let mut summary = demo::Summary::new(args.json);
    let outcome = demo::run(lab.access(), &running, &config, &mut summary).await;
    match &outcome {
        Ok(()) => println!("demo succeeded in {:.1}s", started.elapsed().as_secs_f64()),
        Err(err) => eprintln!("demo FAILED: {err:#}"),
    }
    if args.json {
        println!("{}", summary.to_json(outcome.is_ok(), started));
    }
    if args.keep_running && outcome.is_ok() {
        println!(
            "{}",
            serde_json::json!({"lab": lab.describe(), "wapdr": running.url()})
        );
        app::shutdown_signal().await;
    }
    running.stop().await?;
    lab.shutdown().await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    outcome
}

async fn register(args: RegisterArgs) -> anyhow::Result<()> {
    let config = load(&args.config)?;
    let store = store::open(&config.database.url, 1).await?;
    let secrets = app::resolve_secrets(&config, &store).await?;
    let instance_id = app::instance_id(&store).await?;
    let body = app::registration(&config, &secrets, instance_id);
    let format = if args.xml { Format::Xml } else { Format::Json };
    let bytes = contract::encode(format, &body);
    let Some(admin_api) = args.admin_api else {
        println!("{}", String::from_utf8_lossy(&bytes));
        return Ok(());
    };
    let Some(token) = args.token else {
        bail!("--admin-api needs a bearer token: pass --token or set WAPDR_ADMIN_TOKEN");
    };
    let url = format!("{}/resourceproviders", admin_api.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let response = client
        .post(&url)
        .bearer_auth(token)
        .header("x-ms-principal-id", &args.principal)
        .header(reqwest::header::CONTENT_TYPE, format.content_type())
        .header(reqwest::header::ACCEPT, format.content_type())
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("posting the registration to {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        println!(
            "registered '{}' (instance {instance_id}) at {url}: {status}",
            config.rp.name
        );
        Ok(())
    } else if status == reqwest::StatusCode::CONFLICT {
        bail!(
            "WAP already has a resource provider named '{}' ({status}): remove it or update it with \
             PUT /resourceproviders/{}/{instance_id}. WAP said: {text}",
            config.rp.name,
            config.rp.name
        )
    } else {
        bail!("WAP refused the registration with {status}: {text}")
    }
}
