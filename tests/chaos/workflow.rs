//! The workflows of the crash and scale-out tests, shared by the test and its worker process.
//!
//! Every step records its effect in `chaos_effects`, keyed by the step's idempotency key, looking
//! before acting exactly as a real step asks an external system "did I already do this?". Steps
//! declared at-least-once just bump a counter (an idempotent effect that may repeat). Every
//! execution is also logged in `chaos_attempts`, so a test can see what ran more than once.

#![allow(dead_code)]

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use wapdr::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};

/// Where effects are recorded: the test's own database.
#[derive(Clone)]
pub enum Effects {
    /// A SQLite file.
    Sqlite(SqlitePool),
    /// A PostgreSQL database.
    Postgres(PgPool),
}

impl Effects {
    /// Connects to the database at `url` and creates the effect tables.
    pub async fn connect(url: &str) -> Self {
        let effects = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .unwrap()
                .busy_timeout(Duration::from_secs(10));
            Self::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await
                    .unwrap(),
            )
        } else {
            Self::Postgres(PgPool::connect(url).await.unwrap())
        };
        effects
            .exec("CREATE TABLE IF NOT EXISTS chaos_effects (key TEXT PRIMARY KEY, step TEXT NOT NULL, applied BIGINT NOT NULL)", &[])
            .await
            .ok();
        effects
            .exec("CREATE TABLE IF NOT EXISTS chaos_attempts (key TEXT NOT NULL, attempt BIGINT NOT NULL, instance TEXT NOT NULL)", &[])
            .await
            .ok();
        effects
    }

    async fn exec(&self, sql: &str, args: &[&str]) -> Result<u64, sqlx::Error> {
        match self {
            Self::Sqlite(pool) => {
                let sql = sql.replace('$', "?");
                let mut query = sqlx::query(&sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                Ok(query.execute(pool).await?.rows_affected())
            }
            Self::Postgres(pool) => {
                let mut query = sqlx::query(sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                Ok(query.execute(pool).await?.rows_affected())
            }
        }
    }

    /// One integer from a query with text arguments.
    pub async fn count(&self, sql: &str, args: &[&str]) -> i64 {
        match self {
            Self::Sqlite(pool) => {
                let sql = sql.replace('$', "?");
                let mut query = sqlx::query_as::<_, (i64,)>(&sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                query.fetch_one(pool).await.unwrap().0
            }
            Self::Postgres(pool) => {
                let mut query = sqlx::query_as::<_, (i64,)>(sql);
                for arg in args {
                    query = query.bind(*arg);
                }
                query.fetch_one(pool).await.unwrap().0
            }
        }
    }

    /// Every recorded effect: (step, key, times applied).
    pub async fn all(&self) -> Vec<(String, String, i64)> {
        let sql = "SELECT step, key, applied FROM chaos_effects ORDER BY key";
        match self {
            Self::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
            Self::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        }
    }
}

/// The crash test's workflow: four stages, parallel steps, a fan-out, some at-least-once steps;
/// each step takes a while so kills land inside steps.
pub struct Chaos {
    /// Where effects go.
    pub effects: Effects,
    /// This process's name, logged with each attempt.
    pub instance: String,
    /// How long each step works before and after acting, at most.
    pub work: Duration,
}

/// The planned stages of a chaos run.
pub fn chaos_stages() -> Vec<Vec<StepSpec>> {
    let once = |n: &str| StepSpec::new(n, "once");
    let many = |n: &str| StepSpec::new(n, "many").at_least_once();
    vec![
        vec![once("prepare")],
        vec![
            once("vm-a"),
            once("vm-b"),
            many("notify-a"),
            many("notify-b"),
        ],
        vec![StepSpec::new("discover", "discover")],
        vec![once("commit"), many("report")],
    ]
}

impl Chaos {
    async fn act(&self, ctx: &StepContext, step: &StepSpec) -> Result<StepOutcome, sqlx::Error> {
        let key = ctx.idempotency_key();
        self.effects
            .exec(
                "INSERT INTO chaos_attempts (key, attempt, instance) VALUES ($1, CAST($2 AS BIGINT), $3)",
                &[&key, &ctx.attempt.to_string(), &self.instance],
            )
            .await?;
        let pause = || Duration::from_millis(fastrand::u64(0..=self.work.as_millis() as u64));
        if step.at_least_once {
            tokio::time::sleep(pause()).await;
            self.effects
                .exec(
                    "INSERT INTO chaos_effects (key, step, applied) VALUES ($1, $2, 1) \
                     ON CONFLICT (key) DO UPDATE SET applied = chaos_effects.applied + 1",
                    &[&key, &step.name],
                )
                .await?;
        } else {
            // Look before acting: the effect may have happened before a crash.
            let done = self
                .effects
                .count("SELECT COUNT(*) FROM chaos_effects WHERE key = $1", &[&key])
                .await;
            if done == 0 {
                tokio::time::sleep(pause()).await;
                self.effects
                    .exec(
                        "INSERT INTO chaos_effects (key, step, applied) VALUES ($1, $2, 1)",
                        &[&key, &step.name],
                    )
                    .await?;
            }
        }
        tokio::time::sleep(pause()).await;
        Ok(if step.kind == "discover" {
            StepOutcome::DoneThen {
                output: json!("found 3"),
                next: vec![
                    (1..=3)
                        .map(|i| StepSpec::new(format!("protect-{i}"), "once"))
                        .collect(),
                ],
            }
        } else {
            StepOutcome::Done(json!({ "step": step.name }))
        })
    }
}

#[async_trait]
impl Workflow for Chaos {
    fn name(&self) -> &'static str {
        "chaos"
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        chaos_stages()
    }

    fn retry_policy(&self, _kind: &str) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 50,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
            jitter: 0.2,
        }
    }

    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        self.act(ctx, step)
            .await
            .unwrap_or_else(|err| StepOutcome::RetryLater {
                reason: err.to_string(),
                after: None,
            })
    }
}

/// The scale-out test's workflow: one exactly-once step per job, no pauses.
pub struct Single(pub Chaos);

/// The planned stage of a single-step job.
pub fn single_stages() -> Vec<Vec<StepSpec>> {
    vec![vec![StepSpec::new("only", "once")]]
}

#[async_trait]
impl Workflow for Single {
    fn name(&self) -> &'static str {
        "single"
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        single_stages()
    }

    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        self.0.run_step(ctx, step).await
    }
}
