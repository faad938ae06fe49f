//! Where the ledger's database is: `DATABASE_URL` when set, else a private
//! PostgreSQL cluster the service runs itself in its data directory, and
//! `ledger db status|stop`, the operator's view of that cluster.
//!
//! Every ledger process using the embedded cluster registers as one of its
//! users (`pg_embedded::Cluster::start`); the last one to exit stops it,
//! whoever started it, and a killed process does not count.

use std::path::{Path, PathBuf};

use anyhow::Context;
use pg_embedded::{Cluster, ClusterOptions, ClusterUser, Durability, StopOutcome};

/// The database the ledger keeps its books in, on the embedded cluster.
const EMBEDDED_DATABASE_NAME: &str = "ledger";

/// A connection configuration, and the embedded cluster behind it if this
/// process uses one (released when closed or dropped: stopped if no other
/// live ledger process uses it).
#[derive(Debug)]
pub struct Database {
    pub config: tokio_postgres::Config,
    pub cluster: Option<Cluster>,
    /// Where the data lives, for messages: the URL's host or the data directory.
    pub description: String,
}

impl Database {
    /// `database_url` if given; else the embedded cluster in `data_dir`,
    /// started (and initialised) if needed, with its `ledger` database created.
    pub async fn open(database_url: Option<&str>, data_dir: PathBuf) -> anyhow::Result<Database> {
        if let Some(url) = database_url.filter(|url| !url.is_empty()) {
            let config: tokio_postgres::Config = url
                .parse()
                .context("DATABASE_URL is not a PostgreSQL connection URL")?;
            return Ok(Database {
                description: url_description(&config),
                config,
                cluster: None,
            });
        }
        let postgres_dir = data_dir.join("postgres");
        let options = ClusterOptions {
            data_dir: postgres_dir.clone(),
            durability: Durability::Durable,
        };
        let cluster = tokio::task::spawn_blocking(move || Cluster::start(options))
            .await
            .context("the cluster start task panicked")?
            .with_context(|| {
                format!(
                    "cannot start the embedded PostgreSQL in {} (set DATABASE_URL to use another server)",
                    postgres_dir.display()
                )
            })?;
        let admin: tokio_postgres::Config = cluster.connection_string("postgres").parse()?;
        create_database_if_missing(&admin, EMBEDDED_DATABASE_NAME).await?;
        let config = cluster.connection_string(EMBEDDED_DATABASE_NAME).parse()?;
        Ok(Database {
            description: format!("embedded PostgreSQL in {}", cluster.data_dir().display()),
            config,
            cluster: Some(cluster),
        })
    }

    /// Ends this process's use of the embedded cluster: stops it if no other
    /// live ledger process uses it, whoever started it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.release().await.map(|_| ())
    }

    /// [`Database::close`], telling what became of the embedded cluster
    /// (`None` without one).
    pub async fn release(self) -> anyhow::Result<Option<pg_embedded::Released>> {
        let Some(mut cluster) = self.cluster else {
            return Ok(None);
        };
        let released = tokio::task::spawn_blocking(move || cluster.release())
            .await
            .context("the cluster release task panicked")??;
        if let pg_embedded::Released::StillUsed { users } = &released {
            tracing::info!(
                users = users.len(),
                "the embedded PostgreSQL keeps running for other ledger processes"
            );
        }
        Ok(Some(released))
    }
}

/// Exit code of `ledger db`: done (the status was printed; the cluster was
/// stopped, or was not running).
pub const EXIT_DB_DONE: i32 = 0;
/// Exit code of `ledger db stop`: refused, live ledger processes use the
/// cluster (and `--force` was not given); it keeps running.
pub const EXIT_DB_IN_USE: i32 = 1;
/// Exit code of `ledger db`: could not run (DATABASE_URL is set, so there is
/// no embedded cluster to manage; or the cluster could not be looked at or
/// stopped).
pub const EXIT_DB_FAILED: i32 = 2;

/// The options of `ledger db`.
#[derive(Debug, clap::Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

/// `ledger db status|stop`.
#[derive(Debug, clap::Subcommand)]
pub enum DbCommand {
    /// Print the data directory, whether PostgreSQL runs there (pid, socket
    /// directory) and how many live ledger processes use it.
    ///
    /// Example: `ledger db status`
    Status,
    /// Stop the embedded PostgreSQL (`pg_ctl stop -m fast`). Refused, with
    /// exit code 1, while live ledger processes use it, unless --force.
    ///
    /// Examples: `ledger db stop`, `ledger --data-dir /var/lib/ledger db stop --force`
    Stop {
        /// Stop it even though live ledger processes use it: their
        /// connections are closed and their requests fail.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `ledger db`; returns the exit code.
pub fn db_main(database_url: Option<&str>, data_dir: &Path, args: &DbArgs) -> i32 {
    let postgres_dir = data_dir.join("postgres");
    let postgres_dir = std::path::absolute(&postgres_dir).unwrap_or(postgres_dir);
    if database_url.is_some_and(|url| !url.is_empty()) {
        eprintln!(
            "error: ledger db manages only the embedded PostgreSQL cluster (in {}), but DATABASE_URL is \
             set: manage that server with its own tools, or unset DATABASE_URL",
            postgres_dir.display()
        );
        return EXIT_DB_FAILED;
    }
    let result = match &args.command {
        DbCommand::Status => db_status(&postgres_dir),
        DbCommand::Stop { force } => db_stop(&postgres_dir, *force),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            EXIT_DB_FAILED
        }
    }
}

fn db_status(postgres_dir: &Path) -> anyhow::Result<i32> {
    let status = pg_embedded::status(postgres_dir)
        .with_context(|| format!("cannot look at the cluster in {}", postgres_dir.display()))?;
    println!("data directory: {}", status.data_dir.display());
    match &status.server {
        Some(server) => println!(
            "server: running, pid {}, socket directory {} (port {})",
            server.pid,
            server.socket_dir.display(),
            server.port
        ),
        None if status.initialized => println!("server: not running"),
        None => println!(
            "server: not running, no cluster yet (the first command that needs the database creates it)"
        ),
    }
    println!("users: {}", describe_users(&status.users));
    Ok(EXIT_DB_DONE)
}

fn db_stop(postgres_dir: &Path, force: bool) -> anyhow::Result<i32> {
    let outcome = pg_embedded::stop_unused(postgres_dir, force)
        .with_context(|| format!("cannot stop the cluster in {}", postgres_dir.display()))?;
    match outcome {
        StopOutcome::NotRunning => {
            println!(
                "PostgreSQL is not running in {}: nothing to stop",
                postgres_dir.display()
            );
            Ok(EXIT_DB_DONE)
        }
        StopOutcome::Stopped { server, users } if users.is_empty() => {
            println!(
                "stopped PostgreSQL (pid {}) in {}",
                server.pid,
                postgres_dir.display()
            );
            Ok(EXIT_DB_DONE)
        }
        StopOutcome::Stopped { server, users } => {
            println!(
                "stopped PostgreSQL (pid {}) in {} although {} {} it (--force): their requests fail",
                server.pid,
                postgres_dir.display(),
                describe_users(&users),
                if users.len() == 1 { "uses" } else { "use" },
            );
            Ok(EXIT_DB_DONE)
        }
        StopOutcome::InUse { server, users } => {
            let (uses, them) = if users.len() == 1 {
                ("uses", "it")
            } else {
                ("use", "them")
            };
            eprintln!(
                "error: refusing to stop PostgreSQL (pid {}) in {}: {} {uses} it; stop {them} first, or use --force",
                server.pid,
                postgres_dir.display(),
                describe_users(&users)
            );
            Ok(EXIT_DB_IN_USE)
        }
    }
}

/// `none`, `1 live ledger process (pid 42)`, `2 live ledger processes (pids 42, 43)`.
pub fn describe_users(users: &[ClusterUser]) -> String {
    let pids: Vec<String> = users.iter().map(|user| user.pid.to_string()).collect();
    match users.len() {
        0 => "no live ledger process".to_owned(),
        1 => format!("1 live ledger process (pid {})", pids[0]),
        count => format!("{count} live ledger processes (pids {})", pids.join(", ")),
    }
}

async fn create_database_if_missing(
    admin: &tokio_postgres::Config,
    name: &str,
) -> anyhow::Result<()> {
    let (client, connection) = admin.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        // The name is a constant of ours, not input: safe to splice.
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// A DATABASE_URL's server in words, for the `database:` line:
/// `PostgreSQL at db.example:5432, database ledger, user app (DATABASE_URL)`.
fn url_description(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let port = ports.get(index).or(ports.first()).copied().unwrap_or(5432);
            match host {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                tokio_postgres::config::Host::Unix(path) => {
                    format!("the socket in {} (port {port})", path.display())
                }
            }
        })
        .collect();
    let mut text = if hosts.is_empty() {
        "PostgreSQL at the default host".to_owned()
    } else {
        format!("PostgreSQL at {}", hosts.join(" or "))
    };
    if let Some(name) = config.get_dbname() {
        text.push_str(&format!(", database {name}"));
    }
    if let Some(user) = config.get_user() {
        text.push_str(&format!(", user {user}"));
    }
    text.push_str(" (DATABASE_URL)");
    text
}
