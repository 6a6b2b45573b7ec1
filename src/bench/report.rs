//! The figures of a bench run: each with its bound or baseline and the ratio, printed as a line
//! when measured; the machine the run was on; the rows for `BENCHMARKS.md` or one JSON document.

use std::fmt::Write as _;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What a figure is compared with: a bound from the goal, or a baseline measured in the same run.
#[derive(Debug, Clone)]
pub struct Reference {
    /// What it is ("bare axum ceiling", "lower bound Σ⌈n/C⌉·L", "goal").
    pub label: String,
    /// Its value, in the figure's unit.
    pub value: f64,
}

/// Whether the goal a figure is held to was met.
#[derive(Debug, Clone)]
pub struct Goal {
    /// The goal in words ("ratio ≥ 0.5").
    pub text: String,
    /// Met in this run.
    pub met: bool,
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// The benchmark (`api`, `protect`, ...).
    pub benchmark: &'static str,
    /// What was measured, with its conditions ("sqlite GET vms c=16 p99").
    pub name: String,
    /// The measurement.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// Its bound or baseline, if it has one.
    pub reference: Option<Reference>,
    /// The goal it is held to, if any.
    pub goal: Option<Goal>,
    /// The command that measures it.
    pub command: String,
}

impl Figure {
    /// A figure with neither reference nor goal.
    pub fn new(
        benchmark: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Self {
        Self {
            benchmark,
            name: name.into(),
            value,
            unit,
            reference: None,
            goal: None,
            command: String::new(),
        }
    }

    /// Compared with `value` (same unit), called `label`.
    pub fn against(mut self, label: impl Into<String>, value: f64) -> Self {
        self.reference = Some(Reference {
            label: label.into(),
            value,
        });
        self
    }

    /// Held to `text`, met or not.
    pub fn goal(mut self, text: impl Into<String>, met: bool) -> Self {
        self.goal = Some(Goal {
            text: text.into(),
            met,
        });
        self
    }

    /// The figure divided by its reference.
    pub fn ratio(&self) -> Option<f64> {
        self.reference
            .as_ref()
            .filter(|r| r.value != 0.0)
            .map(|r| self.value / r.value)
    }

    fn line(&self) -> String {
        let mut line = format!(
            "[{}] {}: {} {}",
            self.benchmark,
            self.name,
            number(self.value),
            self.unit
        );
        if let (Some(reference), Some(ratio)) = (&self.reference, self.ratio()) {
            let _ = write!(
                line,
                " | {} {} {} | ratio {ratio:.3}",
                reference.label,
                number(reference.value),
                self.unit
            );
        }
        if let Some(goal) = &self.goal {
            let _ = write!(
                line,
                " | goal {}: {}",
                goal.text,
                if goal.met { "met" } else { "MISSED" }
            );
        }
        line
    }
}

/// A number as a person reads it: few decimals, more for small values.
fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

/// The figures of one run and the machine it ran on.
pub struct Report {
    figures: Vec<Figure>,
    notes: Vec<String>,
    quick: bool,
    started: OffsetDateTime,
}

impl Report {
    /// An empty report; `quick` marks tiny sizes.
    pub fn new(quick: bool) -> Self {
        Self {
            figures: Vec::new(),
            notes: Vec::new(),
            quick,
            started: OffsetDateTime::now_utc(),
        }
    }

    /// Records a figure measured by `command` and prints its line (to stderr: stdout carries the
    /// rows or the JSON).
    pub fn add(&mut self, command: &str, mut figure: Figure) {
        figure.command = command.to_owned();
        eprintln!("{}", figure.line());
        self.figures.push(figure);
    }

    /// Records a remark about the run (sizes, what a figure includes).
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("note: {note}");
        self.notes.push(note);
    }

    /// The Markdown for `BENCHMARKS.md`: the machine, then one table row per figure.
    pub fn markdown(&self) -> String {
        let machine = Machine::now();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n<!-- wapdr bench output, to paste into BENCHMARKS.md -->"
        );
        let _ = writeln!(
            out,
            "Machine: {} cores ({}), {:.1} GiB RAM; date {}; commit {}{}",
            machine.cores,
            machine.cpu,
            machine.ram_gib,
            self.started.format(&Rfc3339).unwrap_or_default(),
            machine.commit,
            if self.quick { "; --quick sizes" } else { "" }
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| benchmark | figure | value | bound / baseline | ratio | goal | command |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for f in &self.figures {
            let reference = f.reference.as_ref().map_or("—".to_owned(), |r| {
                format!("{} {} {}", r.label, number(r.value), f.unit)
            });
            let ratio = f.ratio().map_or("—".to_owned(), |r| format!("{r:.3}"));
            let goal = f.goal.as_ref().map_or("—".to_owned(), |g| {
                format!("{}: {}", g.text, if g.met { "met" } else { "**missed**" })
            });
            let _ = writeln!(
                out,
                "| {} | {} | {} {} | {reference} | {ratio} | {goal} | `{}` |",
                f.benchmark,
                f.name,
                number(f.value),
                f.unit,
                f.command
            );
        }
        for note in &self.notes {
            let _ = writeln!(out, "\n- {note}");
        }
        out
    }

    /// The run as one JSON document: machine, figures (with ratio and goal), notes.
    pub fn to_json(&self) -> Value {
        let machine = Machine::now();
        json!({
            "machine": {
                "cores": machine.cores,
                "cpu": machine.cpu,
                "ram_gib": machine.ram_gib,
                "commit": machine.commit,
            },
            "date": self.started.format(&Rfc3339).unwrap_or_default(),
            "quick": self.quick,
            "figures": self.figures.iter().map(|f| json!({
                "benchmark": f.benchmark,
                "name": f.name,
                "value": f.value,
                "unit": f.unit,
                "reference": f.reference.as_ref().map(|r| json!({"label": r.label, "value": r.value})),
                "ratio": f.ratio(),
                "goal": f.goal.as_ref().map(|g| json!({"text": g.text, "met": g.met})),
                "command": f.command,
            })).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}

/// The machine a run is on.
struct Machine {
    cores: usize,
    cpu: String,
    ram_gib: f64,
    commit: String,
}

impl Machine {
    fn now() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown CPU".to_owned(), |(_, v)| v.trim().to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib = proc_kib(&meminfo, "MemTotal:").unwrap_or(0);
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map_or("unknown".to_owned(), |o| {
                String::from_utf8_lossy(&o.stdout).trim().to_owned()
            });
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            ram_gib: ram_kib as f64 / (1024.0 * 1024.0),
            commit,
        }
    }
}

/// A `Key:  1234 kB` value of a `/proc` status file, in KiB.
pub fn proc_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l[key.len()..].split_whitespace().next())
        .and_then(|v| v.parse().ok())
}
