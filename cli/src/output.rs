//! What the CLI prints: progress bars on stderr, the report (readable or JSON) on stdout.

use std::{
    io::IsTerminal as _,
    sync::{Arc, Mutex},
    time::Duration,
};

use esp_imports::{Error, ImportReport, Progress, ProgressFn};
use indicatif::{ProgressBar, ProgressStyle};

/// Progress bars for an import, drawn on stderr when it is a terminal and `--json` is off.
pub fn progress(enabled: bool) -> Option<ProgressFn> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let upload = ProgressBar::hidden();
    upload.set_style(
        ProgressStyle::with_template("{msg:12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    upload.set_message("upload");
    let follow = ProgressBar::new_spinner();
    follow.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
    let shown = Arc::new(Mutex::new(false));
    Some(Arc::new(move |event: &Progress| match event {
        Progress::Uploaded { bytes, total } => {
            let mut shown = shown.lock().expect("lock");
            if !*shown {
                upload.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                upload.set_length(*total);
                *shown = true;
            }
            upload.set_position(*bytes);
            if bytes >= total {
                upload.finish();
            }
        }
        Progress::Step(step) => follow.set_message(step.to_string()),
        Progress::Polled {
            state,
            processed,
            total,
        } => {
            let lines = match (processed, total) {
                (Some(p), Some(t)) => format!(" ({p}/{t} lines)"),
                (Some(p), None) => format!(" ({p} lines)"),
                _ => String::new(),
            };
            follow.set_message(format!("vendor state: {state}{lines}"));
            follow.enable_steady_tick(Duration::from_millis(120));
        }
        Progress::StateChanged { .. } => {}
        _ => {}
    }))
}

fn count(n: Option<u64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| "n/a".into())
}

/// A readable summary of one report: its figures, the column map, the pre-flight's findings
/// (the first 20), the rejected rows (the first 20) and the messages.
pub fn summary(report: &ImportReport) -> String {
    let id = if report.import_id.is_empty() {
        String::new()
    } else {
        format!(" {}", report.import_id)
    };
    let mut out = format!(
        "{}: import{id} {}\n  rows: {} in the file, {} imported, {} rejected",
        report.vendor,
        report.status,
        count(report.rows_total),
        count(report.rows_imported),
        count(report.rows_rejected),
    );
    if report.rows_not_sent > 0 {
        out.push_str(&format!(", {} not sent", report.rows_not_sent));
    }
    out.push('\n');
    if !report.mapping.is_empty() {
        let map: Vec<String> = report
            .mapping
            .iter()
            .map(|m| match m.name.as_str() {
                "" => format!("{} → {}", m.column, m.field),
                name if name == m.field => format!("{} → {}", m.column, m.field),
                name => format!("{} → {name} ({})", m.column, m.field),
            })
            .collect();
        out.push_str(&format!("  map: {}\n", map.join(", ")));
    }
    list(
        &mut out,
        report.warnings.iter().map(|w| format!("warning: {w}")),
        report.warnings_total,
        "warnings",
    );
    list(
        &mut out,
        report.rejects.iter().map(|reject| {
            let row = reject
                .row
                .map(|r| format!("line {r}"))
                .unwrap_or_else(|| "a row".into());
            format!("rejected {row}: {}", reject.reason)
        }),
        report.rows_not_sent
            + report
                .rows_rejected
                .unwrap_or((report.rejects.len() as u64).saturating_sub(report.rows_not_sent)),
        "rejected rows",
    );
    for message in &report.messages {
        out.push_str(&format!("  {message}\n"));
    }
    out
}

/// The first 20 `lines`, then how many more of the `total` there are.
fn list(out: &mut String, lines: impl Iterator<Item = String>, total: u64, what: &str) {
    let mut shown = 0;
    for line in lines.take(20) {
        out.push_str(&format!("  {line}\n"));
        shown += 1;
    }
    if total > shown {
        out.push_str(&format!("  … and {} more {what}\n", total - shown));
    }
}

/// One line on why an import failed, for stderr.
pub fn failure_line(report: &ImportReport) -> String {
    format!(
        "error: {} import {} failed: {}",
        report.vendor,
        report.import_id,
        report.messages.join("; ")
    )
}

/// The four reports of the demo as one table (`warnings`: the pre-flight's findings).
pub fn table(reports: &[ImportReport]) -> String {
    let header = [
        "vendor",
        "import id",
        "status",
        "rows",
        "imported",
        "rejected",
        "warnings",
    ];
    let rows: Vec<[String; 7]> = reports
        .iter()
        .map(|r| {
            [
                r.vendor.to_string(),
                r.import_id.clone(),
                r.status.to_string(),
                count(r.rows_total),
                count(r.rows_imported),
                count(r.rows_rejected),
                r.warnings_total.to_string(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
            + "\n"
    };
    let mut out = line(&header);
    out.push_str(&line(
        &widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    for row in &rows {
        out.push_str(&line(&row.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out
}

/// The error as one JSON object, for `--json`; with the import's id and state at the vendor
/// when it stopped half-way.
pub fn error_json(e: &str, code: u8, state: Option<(&str, &str)>) -> String {
    let mut json = serde_json::json!({ "error": e, "exit_code": code });
    if let Some((import_id, state)) = state {
        if !import_id.is_empty() {
            json["import_id"] = import_id.into();
        }
        json["import_state"] = state.into();
    }
    json.to_string()
}

/// The flag or environment variable behind a library setting, for a message that names what
/// to change on the command line.
fn flag(setting: &str) -> Option<&'static str> {
    Some(match setting {
        "column map" => "--map",
        "key column" => "--key",
        "mode" => "--mode",
        "chunk size" => "--chunk-size",
        "e-mail notification" => "--notify",
        "database" => "--database",
        "SFTP key file" => "--sftp-key",
        "SFTP" => "--remote-file/--sftp-host",
        "file" => "--file",
        "base URL" => "--base-url",
        "X-Key" => "MAILPERFORMANCE_XKEY",
        "Mindbaz token" => "MINDBAZ_TOKEN",
        "Eloqua credentials" => "ELOQUA_COMPANY, ELOQUA_USERNAME or ELOQUA_PASSWORD",
        _ => return None,
    })
}

/// The state of an import the vendor refused, or did not answer, before creating it.
pub const NOTHING_CREATED: &str = "no import created: no row imported";

/// A person-readable line for an error: a setting is named by its flag, and `state` is added
/// when the error does not tell it.
pub fn error_line(e: &Error, state: Option<(&str, &str)>) -> String {
    let line = match e {
        Error::InvalidConfig { setting, reason } => match flag(setting) {
            Some(flag) => format!("error: {flag}: {reason}"),
            None => format!("error: {}", e.report()),
        },
        e => format!("error: {}", e.report()),
    };
    match state {
        Some(("", state)) => format!("{line}; {state}"),
        _ => line,
    }
}
