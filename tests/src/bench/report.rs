//! The run's figures as markdown tables (printed, and with `--write-docs` put into
//! docs/benchmarks.md between its `make bench` markers).

use super::load::{percentile, Kind, Stats};
use super::pgbench::Measured;
use super::procs::NAMES;
use anyhow::{bail, Context};
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// One request type at full concurrency: ours, and pgbench on the floor and the as-issued SQL.
pub struct Throughput {
    /// Request type.
    pub kind: Kind,
    /// Through the router.
    pub ours: Stats,
    /// pgbench, the SQL the contract needs.
    pub floor: Measured,
    /// pgbench, the data plane's SQL as it sends it.
    pub issued: Measured,
}

/// The list request on the bigger table.
pub struct Growth {
    /// Rows.
    pub rows: i64,
    /// Through the router.
    pub ours: Stats,
    /// pgbench, floor.
    pub floor: Measured,
    /// pgbench, as issued.
    pub issued: Measured,
    /// The list without its total, through the router.
    pub ours_no_total: Stats,
    /// pgbench, the page query alone.
    pub floor_no_total: Measured,
}

/// Everything one run measured.
pub struct Report {
    /// `git rev-parse --short HEAD`.
    pub commit: String,
    /// Warm-up and measured seconds.
    pub times: (Duration, Duration),
    /// Connections of the throughput table.
    pub connections: usize,
    /// Rows of the main figures.
    pub rows: i64,
    /// At `connections`.
    pub throughput: Vec<Throughput>,
    /// At one connection.
    pub latency: Vec<(Kind, Stats)>,
    /// The list request on the bigger table.
    pub growth: Growth,
    /// App-user logins per second and the connections used (argon2id bounds them).
    pub logins: Option<(f64, usize)>,
    /// `get` by caller kind, measured back to back: `(caller, stats)`, the admin first.
    pub callers: Vec<(&'static str, Stats)>,
    /// `get` and `list` without policies, then under owner policies: `(caller, request, stats)`.
    pub policies: Vec<(&'static str, Kind, Stats)>,
    /// Peak memory (KiB) per process, in [`NAMES`] order.
    pub peak_kib: [Option<u64>; 6],
    /// Resident memory (KiB) at the end of the run, in [`NAMES`] order.
    pub end_kib: [Option<u64>; 6],
    /// CPU seconds during our measurements, in [`NAMES`] order.
    pub cpu_ours: [f64; 6],
    /// CPU seconds during the pgbench runs, in [`NAMES`] order.
    pub cpu_pgbench: [f64; 6],
    /// Lines printed under the tables.
    pub notes: Vec<String>,
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `12345.6` → `12,346`.
fn count(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn pg_lat(m: &Measured) -> String {
    let (p50, p99) = (
        percentile(&m.latencies_us, 0.5),
        percentile(&m.latencies_us, 0.99),
    );
    format!("{} / {}", ms(p50), ms(p99))
}

impl Report {
    /// The tables and notes.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let (warmup, measured) = self.times;
        let _ = writeln!(
            s,
            "Measured on commit `{}` (release build): {} rows, one worker, {} s warm-up then {} s \
             per request type.\n",
            self.commit,
            count(self.rows as f64),
            warmup.as_secs(),
            measured.as_secs()
        );
        self.throughput_table(&mut s);
        self.latency_table(&mut s);
        self.growth_table(&mut s);
        self.callers_table(&mut s);
        self.policies_table(&mut s);
        self.resource_table(&mut s);
        for note in &self.notes {
            let _ = writeln!(s, "- {note}");
        }
        s
    }

    fn throughput_table(&self, s: &mut String) {
        let _ = writeln!(s, "Throughput, {} connections:\n", self.connections);
        let _ = writeln!(
            s,
            "| request | ours req/s | p50 | p99 | non-2xx | pgbench tps | pgbench p50 / p99 | \
             ours / pgbench | pgbench tps, data-plane SQL |"
        );
        let _ = writeln!(
            s,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        for t in &self.throughput {
            let o = &t.ours;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {:.2} | {} |",
                t.kind.name(),
                count(o.rps()),
                ms(o.percentile(0.5)),
                ms(o.percentile(0.99)),
                o.non_2xx + o.errors,
                count(t.floor.tps),
                pg_lat(&t.floor),
                o.rps() / t.floor.tps,
                count(t.issued.tps),
            );
        }
        s.push('\n');
    }

    fn latency_table(&self, s: &mut String) {
        let _ = writeln!(s, "Latency, 1 connection:\n");
        let _ = writeln!(s, "| request | req/s | p50 | p99 | non-2xx |");
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: |");
        for (kind, o) in &self.latency {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                kind.name(),
                count(o.rps()),
                ms(o.percentile(0.5)),
                ms(o.percentile(0.99)),
                o.non_2xx + o.errors
            );
        }
        s.push('\n');
    }

    fn callers_table(&self, s: &mut String) {
        let Some((_, admin)) = self.callers.first() else {
            return;
        };
        let _ = writeln!(
            s,
            "`get` by caller, {} connections, measured back to back:\n",
            self.connections
        );
        let _ = writeln!(s, "| caller | req/s | p50 | p99 | non-2xx | vs admin |");
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: |");
        for (name, st) in &self.callers {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {:.2} |",
                count(st.rps()),
                ms(st.percentile(0.5)),
                ms(st.percentile(0.99)),
                st.non_2xx,
                st.rps() / admin.rps()
            );
        }
        let _ = writeln!(s);
        if let Some((rate, conns)) = self.logins {
            let (m, t, p) = model::secret::ARGON2_PARAMS;
            let _ = writeln!(
                s,
                "App-user login (`POST …/auth/login`), {conns} connections: {:.1} logins/s. \
                 Passwords are argon2id with m = {m} KiB, t = {t}, p = {p} (the OWASP minimum), \
                 one hash per core at a time.\n",
                rate
            );
        }
    }

    fn policies_table(&self, s: &mut String) {
        push_policies(s, self.connections, &self.policies);
    }

    fn growth_table(&self, s: &mut String) {
        let g = &self.growth;
        let Some(small) = self.throughput.iter().find(|t| t.kind == Kind::List) else {
            return;
        };
        let _ = writeln!(
            s,
            "List at {} rows vs {} rows, {} connections:\n",
            count(g.rows as f64),
            count(self.rows as f64),
            self.connections
        );
        let _ = writeln!(
            s,
            "| list | {} rows | {} rows | ratio |",
            count(self.rows as f64),
            count(g.rows as f64)
        );
        let _ = writeln!(s, "| --- | ---: | ---: | ---: |");
        let rows: [(&str, f64, f64); 3] = [
            ("ours req/s", small.ours.rps(), g.ours.rps()),
            ("pgbench tps", small.floor.tps, g.floor.tps),
            (
                "pgbench tps, data-plane SQL",
                small.issued.tps,
                g.issued.tps,
            ),
        ];
        for (name, a, b) in rows {
            let _ = writeln!(s, "| {name} | {} | {} | {:.2} |", count(a), count(b), b / a);
        }
        let p99 = |s: &mut String, name: &str, a: Duration, b: Duration| {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {:.2} |",
                ms(a),
                ms(b),
                b.as_secs_f64() / a.as_secs_f64()
            );
        };
        p99(
            s,
            "ours p99",
            small.ours.percentile(0.99),
            g.ours.percentile(0.99),
        );
        let failed = |o: &Stats| o.non_2xx + o.errors;
        let mut non_2xx = failed(&small.ours) + failed(&g.ours);
        if let Some(nt) = self.throughput.iter().find(|t| t.kind == Kind::ListNoTotal) {
            for (name, a, b) in [
                ("ours req/s, no total", nt.ours.rps(), g.ours_no_total.rps()),
                (
                    "pgbench tps, page query alone",
                    nt.floor.tps,
                    g.floor_no_total.tps,
                ),
            ] {
                let _ = writeln!(s, "| {name} | {} | {} | {:.2} |", count(a), count(b), b / a);
            }
            p99(
                s,
                "ours p99, no total",
                nt.ours.percentile(0.99),
                g.ours_no_total.percentile(0.99),
            );
            non_2xx += failed(&nt.ours) + failed(&g.ours_no_total);
        }
        let _ = writeln!(s, "| ours non-2xx, all of the above | {non_2xx} | | |\n");
    }

    fn resource_table(&self, s: &mut String) {
        let _ = writeln!(s, "Resources over the run:\n");
        let _ = writeln!(
            s,
            "| process | peak memory | memory at the end | CPU s during our load | CPU s during pgbench |"
        );
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: |");
        for (i, name) in NAMES.iter().enumerate() {
            let mem = match (self.peak_kib[i], *name) {
                (None, _) => "–".to_owned(),
                (Some(k), "postgres") => {
                    format!("{:.1} MiB (Pss, all processes)", k as f64 / 1024.0)
                }
                (Some(k), _) => format!("{:.1} MiB", k as f64 / 1024.0),
            };
            let end = self.end_kib[i].map_or("–".to_owned(), |k| {
                format!("{:.1} MiB", k as f64 / 1024.0)
            });
            let _ = writeln!(
                s,
                "| {name} | {mem} | {end} | {:.1} | {:.1} |",
                self.cpu_ours[i], self.cpu_pgbench[i]
            );
        }
        let [router, worker] = [self.end_kib[0], self.end_kib[1]];
        if let (Some(r), Some(w)) = (router, worker) {
            let _ = writeln!(
                s,
                "\nRouter and worker at the end of the run: {:.1} MiB together (peak memory is \
                 each process's own high-water mark, `VmHWM`; memory at the end is `VmRSS`).",
                (r + w) as f64 / 1024.0
            );
        }
        s.push('\n');
    }
}

const BEGIN: &str = "<!-- make bench: begin -->";
const END: &str = "<!-- make bench: end -->";

/// Replaces what stands between the `make bench` markers of `docs/benchmarks.md`.
pub fn write_docs(path: &Path, markdown: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
        bail!("{} has no `{BEGIN}` … `{END}` markers", path.display());
    };
    if b < a {
        bail!("{}: the markers are out of order", path.display());
    }
    let new = format!(
        "{}{BEGIN}\n\n{}\n{}",
        &text[..a],
        markdown.trim_end(),
        &text[b..]
    );
    std::fs::write(path, new).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// The access-policy table: `(caller, request, stats)`, each request's first row the base.
pub fn push_policies(s: &mut String, connections: usize, policies: &[(&str, Kind, Stats)]) {
    if policies.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "Access policies, {} connections: an API key on `posts` without policies, then an app \
         user whose policies let them read and list only their own rows (all rows are theirs):\n",
        connections
    );
    let _ = writeln!(
        s,
        "| caller | request | req/s | p50 | p99 | non-2xx | vs no policies |"
    );
    let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (caller, kind, st) in policies {
        let base = policies
            .iter()
            .find(|(_, k, _)| k == kind)
            .map_or(f64::NAN, |(_, _, b)| b.rps());
        let _ = writeln!(
            s,
            "| {caller} | {} | {} | {} | {} | {} | {:.2} |",
            kind.name(),
            count(st.rps()),
            ms(st.percentile(0.5)),
            ms(st.percentile(0.99)),
            st.non_2xx + st.errors,
            st.rps() / base
        );
    }
    s.push('\n');
}
