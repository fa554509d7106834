//! An import's pre-flight, between the file's checks and the first request that creates
//! anything: the vendor's field list (one GET), the column map resolved against it (names,
//! [`ImportOptions::auto_map`]), then every value checked against its field, and what
//! [`ImportOptions::preflight`] says to do with the rows that do not fit: report them, leave
//! them out of a copy of the file, or refuse the file. [`Plan::annotate`] then accounts for
//! every row in the report.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    io::{Read, Seek, SeekFrom, Write},
    ops::Range,
    path::{Path, PathBuf},
};

use crate::{
    scan::{self, Stop},
    CsvFile, Error, Field, FieldKind, Fields, Finding, ImportOptions, ImportReport, InputError,
    Mapped, Preflight, Reject, Vendor,
};

/// The most findings, and rows left out, a report lists one by one (all are counted).
pub const MAX_DETAILS: usize = 1000;

/// What the pre-flight decided: the options to send with (columns by field id, the file or
/// its copy without the rows left out), and what the report must say.
pub(crate) struct Plan {
    pub(crate) options: ImportOptions,
    /// The copy without the rows left out, removed when the plan is dropped.
    copy: Option<FileCopy>,
    /// Where the rows left out were, as lines of the copy: each run's line in the copy, and
    /// the lines left out up to it, that one included.
    left_out: Vec<(u64, u64)>,
    rows_total: u64,
    rows_not_sent: u64,
    not_sent: Vec<Reject>,
    mapping: Vec<Mapped>,
    findings: Vec<Finding>,
    findings_total: u64,
    notes: Vec<String>,
}

/// Rows of the file, one after the other, that do not fit.
#[derive(Debug, Clone, PartialEq)]
struct Run {
    bytes: Range<u64>,
    first_line: u64,
    lines: u64,
}

/// A copy of the file in a directory of its own under the system's temporary directory, with
/// the file's name (Mindbaz's SFTP upload keeps the name).
struct FileCopy {
    dir: PathBuf,
    file: PathBuf,
}

impl Drop for FileCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Plan {
    /// The options to check the file sent with, when it is the copy without the rows left
    /// out (the vendor's checks must read it again; the options keep the file given, which
    /// messages name).
    pub(crate) fn copy_options(&self) -> Option<ImportOptions> {
        self.copy.as_ref().map(|copy| ImportOptions {
            file: copy.file.clone(),
            ..self.options.clone()
        })
    }

    /// The report with what the pre-flight knows: every row of the file counted (imported,
    /// rejected by the vendor, or left out), the vendor's reject lines read as lines of the
    /// file (not of the copy), the map, the findings and notes.
    pub(crate) fn annotate(&self, mut report: ImportReport) -> ImportReport {
        if report.rows_total.is_some() {
            report.rows_total = Some(self.rows_total);
        }
        for reject in &mut report.rejects {
            reject.row = reject.row.map(|line| self.original_line(line));
        }
        report.rows_not_sent = self.rows_not_sent;
        report.rejects.splice(0..0, self.not_sent.iter().cloned());
        report.mapping.clone_from(&self.mapping);
        report.warnings.clone_from(&self.findings);
        report.warnings_total = self.findings_total;
        report.messages.splice(0..0, self.notes.iter().cloned());
        report
    }

    /// The report of a dry run: the plan's lines (`creates`: what the vendor's import would
    /// create), and what [`Plan::annotate`] adds.
    pub(crate) fn dry_run(&self, vendor: Vendor, creates: Vec<String>) -> ImportReport {
        let mut report = ImportReport::submitted(vendor, "", self.rows_total);
        report.status = crate::Status::DryRun;
        let sent = self.rows_total - self.rows_not_sent;
        report.messages = creates;
        report.messages.push(format!(
            "{sent} rows would be sent, {} left out; nothing was created (dry run)",
            self.rows_not_sent
        ));
        self.annotate(report)
    }

    /// The line of the file that line `line` of the copy sent is.
    fn original_line(&self, line: u64) -> u64 {
        let before = self.left_out.partition_point(|&(at, _)| at <= line);
        line + before.checked_sub(1).map_or(0, |i| self.left_out[i].1)
    }
}

/// Whether an error of the field list's GET says only that this list cannot be read, not that
/// every request would fail: an error answer (a 403 too: a key without the right to read
/// fields may still import), or an answer of a shape never seen.
fn list_unreadable(e: &Error) -> bool {
    match e {
        Error::Api(_) | Error::Decode { .. } => true,
        Error::AuthRejected(answer) => answer.status == 403,
        _ => false,
    }
}

/// Reads the fields when the import needs them (`fields`: the vendor's GET), resolves the map,
/// checks the values of `csv` (the file as the vendor's checks found it), and applies
/// `options.preflight`.
pub(crate) async fn plan(
    vendor: Vendor,
    options: &ImportOptions,
    csv: &CsvFile,
    fields: impl std::future::Future<Output = Result<Fields, Error>>,
) -> Result<Plan, Error> {
    let names: Vec<String> = options
        .columns
        .iter()
        .filter(|(_, field)| vendor.check_field(field.trim()).is_err())
        .map(|(column, field)| format!("`{column}={field}`"))
        .collect();
    let needed = !names.is_empty() || options.auto_map;
    let mut plan = Plan {
        options: options.clone(),
        copy: None,
        left_out: Vec::new(),
        rows_total: csv.rows,
        rows_not_sent: 0,
        not_sent: Vec::new(),
        mapping: Vec::new(),
        findings: Vec::new(),
        findings_total: 0,
        notes: Vec::new(),
    };
    if options.preflight == Preflight::Off && !needed {
        check_syntax(vendor, &options.columns)?;
        return Ok(plan);
    }
    let fields = match fields.await {
        Ok(fields) => fields,
        // A vendor may answer the list with an error or a shape never seen (an account
        // without the right, an API that lacks it): without names to resolve, the import goes
        // on, unchecked. What would fail every request (credentials, network, TLS) stops it.
        Err(e) if list_unreadable(&e) && !needed && options.preflight != Preflight::Strict => {
            check_syntax(vendor, &options.columns)?;
            plan.findings.push(Finding::new(
                None,
                None,
                format!(
                    "the values were not checked: {vendor}'s field list could not be read ({})",
                    e.report()
                ),
            ));
            plan.findings_total = 1;
            return Ok(plan);
        }
        Err(e) if list_unreadable(&e) => {
            let what = match (names.is_empty(), options.auto_map) {
                (false, _) => format!("{} (a field name, not an id)", names.join(", ")),
                (true, true) => "the columns to map by their headers".to_owned(),
                (true, false) => "the values, which strict checking requires,".to_owned(),
            };
            return Err(Error::InvalidConfig {
                setting: "column map",
                reason: format!(
                    "{what} cannot be checked: {vendor}'s field list could not be read ({})",
                    e.report()
                ),
            });
        }
        Err(e) => return Err(e),
    };
    let columns = resolve(vendor, options, csv, &fields, &mut plan.notes)?;
    plan.mapping = columns
        .iter()
        .map(|(column, id)| Mapped {
            column: column.clone(),
            field: id.clone(),
            name: fields
                .by_id(id)
                .map_or_else(String::new, |f| f.name.clone()),
        })
        .collect();
    let mut findings = Findings::default();
    file_findings(vendor, options, &columns, &fields, &mut findings);
    let checks: Vec<(usize, String, Field)> = csv
        .header
        .iter()
        .enumerate()
        .filter_map(|(i, column)| {
            let field = fields.by_id(columns.get(column)?)?;
            Some((i, column.clone(), field.clone()))
        })
        .collect();
    plan.options.columns = columns;
    if options.preflight != Preflight::Off {
        // The file is read (and copied) off the async threads: a timeout or a cancel is not
        // held up by it.
        let (csv, skip) = (csv.clone(), options.preflight == Preflight::SkipInvalid);
        let checked = tokio::task::spawn_blocking(move || {
            let checks: Vec<(usize, &str, &Field)> =
                checks.iter().map(|(i, c, f)| (*i, c.as_str(), f)).collect();
            let runs = check_values(vendor, &csv, &checks, &mut findings, skip)?;
            // What was read is what is sent, or copied.
            csv.unchanged()?;
            let copy = match skip && !runs.is_empty() && findings.bad_rows < csv.rows {
                true => Some(copy_without(&csv, &runs)?),
                false => None,
            };
            Ok::<_, Error>((findings, runs, copy))
        })
        .await
        .expect("the value checks do not panic")?;
        let runs;
        (findings, runs, plan.copy) = checked;
        if plan.copy.is_some() {
            plan.left_out = shifts(&runs);
        }
    }
    plan.findings_total = findings.total;
    plan.findings = findings.listed;
    match options.preflight {
        Preflight::Strict if plan.findings_total > 0 => {
            let first = &plan.findings[0];
            return Err(Error::InvalidInput(InputError {
                file: csv.path.clone(),
                row: first.row,
                column: first.column.clone(),
                reason: format!(
                    "{} (and {} more finding(s) of the pre-flight); nothing was sent \
                     (strict)",
                    first.reason,
                    plan.findings_total - 1
                ),
            }));
        }
        Preflight::SkipInvalid if findings.bad_rows > 0 => {
            if findings.bad_rows == csv.rows {
                return Err(Error::InvalidInput(InputError {
                    file: csv.path.clone(),
                    row: None,
                    column: None,
                    reason: format!(
                        "none of its {} rows fits {vendor}'s fields: nothing to send",
                        csv.rows
                    ),
                }));
            }
            plan.rows_not_sent = findings.bad_rows;
            plan.not_sent = findings.rejects;
            // The rows left out are rejects now, not warnings.
            plan.findings.retain(|f| f.row.is_none());
            plan.findings_total = plan.findings.len() as u64;
        }
        _ => {}
    }
    Ok(plan)
}

/// Each field written as the vendor names fields (no field list to resolve names with).
fn check_syntax(vendor: Vendor, columns: &BTreeMap<String, String>) -> Result<(), Error> {
    for (column, field) in columns {
        vendor
            .check_field(field.trim())
            .map_err(|why| Error::InvalidConfig {
                setting: "column map",
                reason: format!("`{column}={field}`: {why}"),
            })?;
    }
    Ok(())
}

/// The column map by field id: each field of `options.columns` found by id or name, then
/// (with `auto_map`) every other header that names one field; each field mapped once, the key
/// column among them.
fn resolve(
    vendor: Vendor,
    options: &ImportOptions,
    csv: &CsvFile,
    fields: &Fields,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, String>, Error> {
    let invalid = |reason: String| Error::InvalidConfig {
        setting: "column map",
        reason,
    };
    let mut columns = fields.resolve(&options.columns)?;
    if options.auto_map {
        let rest = csv
            .header
            .iter()
            .map(String::as_str)
            .filter(|h| !options.columns.contains_key(*h));
        let auto = fields.auto_map(rest);
        if !auto.ambiguous.is_empty() {
            let which: Vec<String> = auto
                .ambiguous
                .iter()
                .map(|(column, candidates)| format!("`{column}` ({})", candidates.join(", ")))
                .collect();
            return Err(invalid(format!(
                "auto-mapping does not guess: several {vendor} fields have the name of {}; \
                 map these columns to a field id",
                which.join("; ")
            )));
        }
        if !auto.unmatched.is_empty() {
            notes.push(format!(
                "not imported (no {vendor} field has their name): {}",
                auto.unmatched
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        columns.extend(auto.columns);
    }
    if !columns.contains_key(&options.key_column) {
        return Err(Error::InvalidConfig {
            setting: "key column",
            reason: format!(
                "`{}` is not mapped, and no {vendor} field has its name: map it to the field \
                 that identifies contacts",
                options.key_column
            ),
        });
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (column, id) in &columns {
        if let Some(first) = seen.insert(id, column) {
            return Err(invalid(format!(
                "`{first}` and `{column}` both go to {vendor}'s field `{id}`: map each field once"
            )));
        }
    }
    Ok(columns)
}

/// What the pre-flight found, the first [`MAX_DETAILS`] listed, and the rows left out if
/// they are to be.
#[derive(Default)]
struct Findings {
    listed: Vec<Finding>,
    total: u64,
    bad_rows: u64,
    rejects: Vec<Reject>,
}

impl Findings {
    fn push(&mut self, finding: Finding) {
        self.total += 1;
        if self.listed.len() < MAX_DETAILS {
            self.listed.push(finding);
        }
    }

    /// Adds the findings of a range of the file, whose lines follow `lines_before` lines.
    fn absorb(&mut self, range: Findings, lines_before: u64) {
        let room = MAX_DETAILS.saturating_sub(self.listed.len());
        self.listed
            .extend(range.listed.into_iter().take(room).map(|mut finding| {
                finding.row = finding.row.map(|line| line + lines_before);
                finding
            }));
        let room = MAX_DETAILS.saturating_sub(self.rejects.len());
        self.rejects
            .extend(range.rejects.into_iter().take(room).map(|mut reject| {
                reject.row = reject.row.map(|line| line + lines_before);
                reject
            }));
        self.total += range.total;
        self.bad_rows += range.bad_rows;
    }
}

/// The findings on the file as a whole: the key column's field and the read-only fields.
fn file_findings(
    vendor: Vendor,
    options: &ImportOptions,
    columns: &BTreeMap<String, String>,
    fields: &Fields,
    findings: &mut Findings,
) {
    let unique: Vec<&Field> = fields.fields.iter().filter(|f| f.unique).collect();
    let key = fields.by_id(&columns[&options.key_column]);
    if let Some(key) = key.filter(|k| !k.unique && !unique.is_empty()) {
        let names: Vec<String> = unique.iter().map(|f| f.label()).collect();
        findings.push(Finding::new(
            None,
            Some(options.key_column.clone()),
            format!(
                "the key column goes to {}, which is not a field {vendor} identifies contacts \
                 by: {}",
                key.label(),
                names.join(", ")
            ),
        ));
    }
    for (column, id) in columns {
        if let Some(field) = fields.by_id(id).filter(|f| f.read_only) {
            findings.push(Finding::new(
                None,
                Some(column.clone()),
                format!(
                    "{} is read-only at {vendor}: its values will not be written",
                    field.label()
                ),
            ));
        }
    }
}

/// Reads every data row of `csv` and checks the value of each column of `checks` against its
/// field, unless the file check saw every value of the column fit it ([`Values`]); returns the
/// runs of rows with a value that does not fit (with `runs_wanted`: they are only needed to
/// leave the rows out, and at most [`MAX_RUNS`] are kept). The file is cut into row-aligned
/// ranges read at the same time, by the fast reader when the file has the shape it takes
/// (`CsvFile::plain`), otherwise by the csv crate (then only if no line break is inside quotes:
/// every line a row); the lines of each range are counted to number the next one's.
fn check_values(
    vendor: Vendor,
    csv: &CsvFile,
    checks: &[(usize, &str, &Field)],
    findings: &mut Findings,
    runs_wanted: bool,
) -> Result<Vec<Run>, Error> {
    // The columns whose every value the file check saw fit are not read again.
    let unproven: Vec<(usize, &str, &Field)>;
    let checks = match &csv.values {
        Some(values) => {
            unproven = (checks.iter().copied())
                .filter(|&(i, _, field)| !values[i].all_fit(vendor, field))
                .collect();
            &unproven[..]
        }
        None => checks,
    };
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    let check = || RangeCheck::new(vendor, csv, checks, runs_wanted);
    let mut parts = None;
    if csv.plain() {
        let format = csv.format();
        let data = csv.data_start..csv.size;
        let each = |check: &mut RangeCheck<'_>, record: &scan::Record<'_>| {
            let value = |i| record.text(i);
            check
                .row(record.start, record.line, value)
                .map_err(Stop::from)
        };
        let threads = scan::threads();
        let read = scan::scan_all(&csv.path, data, &format, threads, (check, || {}), each);
        match read {
            Ok(read) => {
                let finish =
                    |(part, check): (scan::Part, RangeCheck)| check.finish(part.end, part.lines);
                parts = Some(read.into_iter().map(finish).map(Ok).collect());
            }
            Err(Stop::Failed(e)) => return Err(*e),
            // Not as the file check found it: the csv crate reads it.
            Err(Stop::Unusual(what)) => tracing::debug!(what, "values read with the csv crate"),
        }
    }
    let parts: Vec<Result<Part, Error>> = match parts {
        Some(parts) => parts,
        None => {
            // The csv crate's reader cannot tell a line break inside quotes from a row's end.
            let threads = scan::threads();
            let cuts = match csv.quoted_line_break {
                Some(_) => vec![csv.data_start, csv.size],
                None => scan::cuts(&csv.path, csv.data_start..csv.size, threads)
                    .map_err(|e| Error::io(&csv.path, e))?,
            };
            scan::each_range(&cuts, threads, |range| check_range(check(), range))
        }
    };
    let mut runs: Vec<Run> = Vec::new();
    // The header is line 1.
    let mut lines_before = 1;
    for part in parts {
        let part = part?;
        findings.absorb(part.findings, lines_before);
        for mut run in part.runs {
            run.first_line += lines_before;
            extend(&mut runs, run);
        }
        lines_before += part.lines;
    }
    // Each range keeps at most MAX_RUNS: so does the file, however it was cut.
    if let Some(run) = runs.get(MAX_RUNS) {
        return Err(too_many_runs(vendor, csv, run.first_line));
    }
    Ok(runs)
}

/// The refusal of a file with more than [`MAX_RUNS`] runs of rows to leave out, at `line`.
fn too_many_runs(vendor: Vendor, csv: &CsvFile, line: u64) -> Error {
    Error::InvalidInput(InputError {
        file: csv.path.clone(),
        row: Some(line),
        column: None,
        reason: format!(
            "more than {MAX_RUNS} separate runs of rows do not fit {vendor}'s fields: they are \
             not left out one by one (check the column map)"
        ),
    })
}

/// What one range of the file holds that does not fit, its lines numbered from 1.
struct Part {
    findings: Findings,
    runs: Vec<Run>,
    /// The line breaks read.
    lines: u64,
}

/// Adds `run` to `runs`, as part of the last run when it follows it.
fn extend(runs: &mut Vec<Run>, run: Run) {
    match runs.last_mut() {
        Some(last) if last.bytes.end == run.bytes.start => {
            last.bytes.end = run.bytes.end;
            last.lines += run.lines;
        }
        _ => runs.push(run),
    }
}

/// The most runs of rows left out (about 32 MiB of them): leaving out more separate rows is
/// refused, as a map or a file gone wrong.
const MAX_RUNS: usize = 1 << 20;

/// The checks of the rows of one range, whichever reader reads them; lines are numbered from 1
/// at the range's start.
struct RangeCheck<'c> {
    vendor: Vendor,
    csv: &'c CsvFile,
    checks: &'c [(usize, &'c str, &'c Field)],
    runs_wanted: bool,
    part: Part,
    reasons: Vec<String>,
    /// The bad row just read: its first byte and line (it ends where the next row starts).
    open: Option<(u64, u64)>,
}

impl<'c> RangeCheck<'c> {
    fn new(
        vendor: Vendor,
        csv: &'c CsvFile,
        checks: &'c [(usize, &'c str, &'c Field)],
        runs_wanted: bool,
    ) -> Self {
        Self {
            vendor,
            csv,
            checks,
            runs_wanted,
            part: Part {
                findings: Findings::default(),
                runs: Vec::new(),
                lines: 0,
            },
            reasons: Vec::new(),
            open: None,
        }
    }

    /// Checks the row that starts at `byte` on `line`, whose column `i` holds `value(i)`.
    fn row<'v>(
        &mut self,
        byte: u64,
        line: u64,
        value: impl Fn(usize) -> Cow<'v, str>,
    ) -> Result<(), Error> {
        let part = &mut self.part;
        if let Some((first_byte, first_line)) = self.open.take() {
            extend(
                &mut part.runs,
                Run {
                    bytes: first_byte..byte,
                    first_line,
                    lines: line - first_line,
                },
            );
        }
        self.reasons.clear();
        for &(i, column, field) in self.checks {
            if let Some(why) = misfit(self.vendor, field, value(i).trim()) {
                self.reasons.push(format!("`{column}`: {why}"));
                part.findings
                    .push(Finding::new(Some(line), Some(column.to_owned()), why));
            }
        }
        if self.reasons.is_empty() {
            return Ok(());
        }
        part.findings.bad_rows += 1;
        if part.findings.rejects.len() < MAX_DETAILS {
            let why = format!("not sent: {}", self.reasons.join("; "));
            let mut reject = Reject::new(Some(line), why);
            reject.before_sending = true;
            part.findings.rejects.push(reject);
        }
        if self.runs_wanted {
            if part.runs.len() >= MAX_RUNS {
                return Err(too_many_runs(self.vendor, self.csv, line));
            }
            self.open = Some((byte, line));
        }
        Ok(())
    }

    /// The range, read up to `end` (its last row's line ending included), with `lines` line
    /// breaks.
    fn finish(mut self, end: u64, lines: u64) -> Part {
        self.part.lines = lines;
        if let Some((first_byte, first_line)) = self.open {
            extend(
                &mut self.part.runs,
                Run {
                    bytes: first_byte..end,
                    first_line,
                    lines: (lines + 1).saturating_sub(first_line).max(1),
                },
            );
        }
        self.part
    }
}

/// Checks the rows of one range with the csv crate.
fn check_range(mut check: RangeCheck<'_>, range: Range<u64>) -> Result<Part, Error> {
    let csv = check.csv;
    let mut file = std::fs::File::open(&csv.path).map_err(|e| Error::io(&csv.path, e))?;
    file.seek(SeekFrom::Start(range.start))
        .map_err(|e| Error::io(&csv.path, e))?;
    // Rows end at `\n` (`CsvFile` refuses lone CRs): with csv's default terminator, a CRLF's
    // `\n` would be read as the next row's first byte, and its line and offset one short. A
    // CRLF row's `\r` stays on its last value, which is trimmed.
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(csv.delimiter)
        .quote(csv.quote)
        .terminator(csv::Terminator::Any(b'\n'))
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::with_capacity(
            1 << 16,
            file.take(range.end - range.start),
        ));
    let mut record = csv::ByteRecord::new();
    loop {
        let read = reader.read_byte_record(&mut record).map_err(|e| {
            Error::InvalidInput(InputError {
                file: csv.path.clone(),
                row: None,
                column: None,
                reason: format!("cannot be read: {e}"),
            })
        })?;
        if !read {
            break;
        }
        let start = record.position().expect("a record read has a position");
        check.row(range.start + start.byte(), start.line(), |i| {
            String::from_utf8_lossy(record.get(i).unwrap_or_default())
        })?;
    }
    // Every byte of the range is read: its line breaks are counted.
    Ok(check.finish(range.end, reader.position().line() - 1))
}

/// What every value of a column is, learnt by the file check's own reading of a file of the
/// plain shape (the fast reader's values, as [`check_values`] reads them): when it shows that
/// every value fits a field, that column is not read again. Kinds are only tested while every
/// value so far has them, so a column of names costs a test of each kind once.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Values {
    /// The longest value in bytes, its quotes removed (`""` counted as two): at least the
    /// longest trimmed value's length in characters.
    longest: usize,
    /// Whether a value is empty once trimmed.
    empty: bool,
    /// The kinds every non-empty value (trimmed) has, as bits of [`Values::kind_bit`].
    all: u8,
}

impl Default for Values {
    fn default() -> Self {
        Self {
            longest: 0,
            empty: false,
            all: u8::MAX,
        }
    }
}

impl Values {
    const EMAIL: u8 = 1;
    const INTEGER: u8 = 1 << 1;
    const NUMBER: u8 = 1 << 2;
    const BOOLEAN: u8 = 1 << 3;

    /// The bit of a date as `vendor` reads them.
    fn date_bit(vendor: Vendor) -> u8 {
        let i = Vendor::ALL.iter().position(|&v| v == vendor).unwrap_or(0);
        1 << (4 + i)
    }

    /// The bit of the test `field` makes of a value beyond its length, if any.
    fn kind_bit(vendor: Vendor, field: &Field) -> Option<u8> {
        match field.kind {
            FieldKind::Email => Some(Self::EMAIL),
            FieldKind::Integer => Some(Self::INTEGER),
            FieldKind::Number => Some(Self::NUMBER),
            FieldKind::Date | FieldKind::DateTime => Some(Self::date_bit(vendor)),
            FieldKind::Boolean => Some(Self::BOOLEAN),
            // A list's values are not known when the file is checked.
            FieldKind::List if !field.values.is_empty() => Some(0),
            _ => None,
        }
    }

    /// Adds a value, whose field's bytes between its quotes are `raw` (`""` as written):
    /// `value` gives it, when there is something to learn from it.
    ///
    /// Inlined: most columns have nothing left to learn after their first rows, and their
    /// values cost a compare or two here instead of a call (a 100 MiB check: 35 instructions a
    /// row fewer, callgrind).
    #[inline(always)]
    pub(crate) fn add<'v>(&mut self, raw: &[u8], value: impl FnOnce() -> Cow<'v, [u8]>) {
        self.longest = self.longest.max(raw.len());
        // A first byte that is ASCII and not white space (above the space, below DEL): neither
        // empty nor trimmed at the start, and nothing left to learn when no kind is left.
        let plain_start = matches!(raw.first(), Some(&(b'!'..=b'~')));
        if !(plain_start && self.all == 0) {
            self.learn(&value());
        }
    }

    /// [`Values::add`] of the key's column, and whether its value is a key as compared, as it
    /// is written ([`is_lower_email`]): told by the e-mail test itself while every value of
    /// the column has been an address (a 100 MiB check: 160 instructions a row fewer, of about
    /// 1,160, than the test and then the key made apart). `false` says nothing of the key.
    #[inline(always)]
    pub(crate) fn add_key(&mut self, raw: &[u8], value: &[u8]) -> bool {
        if self.all == Self::EMAIL && is_lower_email(value) {
            self.longest = self.longest.max(raw.len());
            return true;
        }
        self.add(raw, || value.into());
        false
    }

    /// What `value` teaches (see [`Values::add`]).
    fn learn(&mut self, value: &[u8]) {
        // The most common case, a column whose values have all been e-mails so far (the key,
        // most often), and an ASCII value: trimmed as `str::trim` does and tested as bytes,
        // without a UTF-8 check.
        if self.all == Self::EMAIL && value.is_ascii() {
            let white = |b: &u8| (*b as char).is_whitespace();
            match (
                value.iter().position(|b| !white(b)),
                value.iter().rposition(|b| !white(b)),
            ) {
                (Some(start), Some(end)) if is_ascii_email(&value[start..=end]) => {}
                (Some(_), _) => self.all = 0,
                (None, _) => self.empty = true,
            }
            return;
        }
        let text = std::str::from_utf8(value).expect("the reader's buffers are UTF-8");
        let value = text.trim();
        if value.is_empty() {
            self.empty = true;
            return;
        }
        // Clears `bit` from `all` unless `test` holds (tested only while the bit is set).
        fn keep(all: &mut u8, bit: u8, test: impl FnOnce() -> bool) {
            if *all & bit != 0 && !test() {
                *all &= !bit;
            }
        }
        let all = &mut self.all;
        keep(all, Self::EMAIL, || is_email(value));
        keep(all, Self::INTEGER, || value.parse::<i64>().is_ok());
        keep(all, Self::NUMBER, || is_number(value));
        keep(all, Self::BOOLEAN, || {
            BOOLEANS.iter().any(|b| b.eq_ignore_ascii_case(value))
        });
        // A date as Copernica reads them is one as every vendor does: one test most often.
        let copernica = Self::date_bit(Vendor::Copernica);
        if *all & copernica == 0 || !is_date(Vendor::Copernica, value) {
            *all &= !copernica;
            for vendor in Vendor::ALL {
                keep(all, Self::date_bit(vendor), || is_date(vendor, value));
            }
        }
    }

    /// Adds what `other` learnt of the same column.
    pub(crate) fn merge(&mut self, other: &Values) {
        self.longest = self.longest.max(other.longest);
        self.empty |= other.empty;
        self.all &= other.all;
    }

    /// Whether every value fits `field`: [`misfit`] finds nothing in this column.
    fn all_fit(&self, vendor: Vendor, field: &Field) -> bool {
        !(self.empty && field.mandatory)
            && field
                .max_length
                .is_none_or(|max| self.longest <= max as usize)
            && Self::kind_bit(vendor, field).is_none_or(|bit| bit != 0 && self.all & bit == bit)
    }
}

/// Why `value` does not fit `field` (`None`: it fits, or it is not checked). An empty value
/// fits but in a mandatory field.
fn misfit(vendor: Vendor, field: &Field, value: &str) -> Option<String> {
    let name = || field.label();
    if value.is_empty() {
        return field
            .mandatory
            .then(|| format!("empty, and {} is mandatory", name()));
    }
    // A value has at most as many characters as bytes: most are counted without reading them.
    if let Some(max) = field.max_length.filter(|&max| value.len() > max as usize) {
        let length = value.chars().count();
        if length > max as usize {
            return Some(format!(
                "{length} characters, longer than the {max} of {}",
                name()
            ));
        }
    }
    let fits = match field.kind {
        FieldKind::Email => is_email(value),
        FieldKind::Integer => value.parse::<i64>().is_ok(),
        FieldKind::Number => is_number(value),
        FieldKind::Date | FieldKind::DateTime => is_date(vendor, value),
        FieldKind::Boolean => BOOLEANS.iter().any(|b| b.eq_ignore_ascii_case(value)),
        FieldKind::List if !field.values.is_empty() => {
            let folded = crate::fields::fold(value);
            field.values.iter().any(|v| crate::fields::fold(v) == folded)
                // Mindbaz reads a list value as its label or its key (the mapping's `format`
                // "VALUE" or "ID"); the keys are not kept here.
                || vendor == Vendor::Mindbaz && value.parse::<i64>().is_ok()
        }
        _ => true,
    };
    if fits {
        return None;
    }
    Some(match field.kind {
        FieldKind::Email => format!("`{value}` is not an e-mail address ({})", name()),
        FieldKind::Integer => format!("`{value}` is not a whole number ({})", name()),
        FieldKind::Number => format!("`{value}` is not a number ({})", name()),
        FieldKind::Date | FieldKind::DateTime => format!(
            "`{value}` is not a date as {vendor} reads them ({}; {})",
            date_formats(vendor)
                .iter()
                .map(|f| f
                    .replace("%Y", "YYYY")
                    .replace("%m", "MM")
                    .replace("%d", "DD"))
                .collect::<Vec<_>>()
                .join(", "),
            name()
        ),
        FieldKind::Boolean => format!("`{value}` is not true or false ({})", name()),
        _ => format!(
            "`{value}` is not one of the values of {}: {}",
            name(),
            field.values.join(", ")
        ),
    })
}

const BOOLEANS: &[&str] = &[
    "true", "false", "1", "0", "yes", "no", "y", "n", "oui", "non",
];

/// One `@`, a local part of at most 64 characters, a domain with a dot, no space: what every
/// vendor's own check refuses at the least (RFC 5321's lengths).
fn is_email(value: &str) -> bool {
    match value.is_ascii() {
        true => is_ascii_email(value.as_bytes()),
        false => is_any_email(value),
    }
}

/// [`is_email`] of an ASCII value, the check of most files' key. An address of at most 64
/// bytes is read 16 bytes at a time ([`crate::simd`]) into one bit mask a kind of byte, a bit a
/// byte, and every rule is a few operations on the masks: no search for the `@`, no loop a
/// part. For a 29-byte address: 215 instructions, against 310 for each part eight bytes at a
/// time and the `@` searched for first (405 and more before that, with one loop over a table
/// of byte classes); a 100 MiB check 2 % faster, 1 GiB 3 %. A longer one, rare, is checked as
/// text.
fn is_ascii_email(value: &[u8]) -> bool {
    ascii_email::<false>(value)
}

/// Whether `value` is an e-mail address ([`is_email`]) without a capital or a byte past ASCII:
/// a key as the vendors compare them, as it is written (`csv_input::normal_key`), and the
/// e-mail test of the key's column, in one reading of the most common key.
pub(crate) fn is_lower_email(value: &[u8]) -> bool {
    ascii_email::<true>(value)
}

/// [`is_ascii_email`], or [`is_lower_email`] when `LOWER`: two more masks.
#[inline(always)]
fn ascii_email<const LOWER: bool>(value: &[u8]) -> bool {
    use crate::simd::{all_chunks, bits, capital_or_not_ascii, capitals_or_high, within};
    use wide::u8x16;
    let len = value.len();
    if len > 64 {
        let lower = !LOWER || !capital_or_not_ascii(value);
        return lower && std::str::from_utf8(value).is_ok_and(is_any_email);
    }
    // The bytes of each kind, bit i for byte i (the zeros after a short value are of none).
    let (mut at, mut dot, mut hyphen, mut local_bad, mut domain_good) = (0, 0, 0, 0, 0);
    // A capital, or a byte past ASCII.
    let mut not_lower = 0;
    all_chunks(value, |start, v| {
        if LOWER {
            not_lower |= bits(capitals_or_high(v), start);
        }
        let (is_dot, is_hyphen) = (v.cmp_eq(u8x16::splat(b'.')), v.cmp_eq(u8x16::splat(b'-')));
        at |= bits(v.cmp_eq(u8x16::splat(b'@')), start);
        dot |= bits(is_dot, start);
        hyphen |= bits(is_hyphen, start);
        // A control, white space or a comma: not in a local part.
        let bad = within(v, 0, b' ') | v.cmp_eq(u8x16::splat(b',')) | v.cmp_eq(u8x16::splat(0x7F));
        local_bad |= bits(bad, start);
        // A letter, a digit, a hyphen or a dot: in a domain.
        let letter = within(v | u8x16::splat(0x20), b'a', b'z');
        let good = letter | within(v, b'0', b'9') | is_dot | is_hyphen;
        domain_good |= bits(good, start);
        true
    });
    let Some(p) = (at != 0).then(|| at.trailing_zeros() as usize) else {
        return false;
    };
    // The local part is bytes 0..p, the domain p + 1..len: neither empty.
    if p == 0 || p + 1 >= len {
        return false;
    }
    let all = u64::MAX >> (64 - len);
    let local = (1u64 << p) - 1;
    let domain = all & !local & !(1u64 << p);
    let bit = |mask: u64, i: usize| (mask >> i) & 1 != 0;
    let ends_ok = !bit(dot, 0)
        && !bit(dot, p - 1)
        && !bit(dot | hyphen, p + 1)
        && !bit(dot | hyphen, len - 1);
    // A byte's next neighbour is the bit above it, shifted down by one to meet it: `..` in the
    // local part; `..`, `.-` and `-.` in the domain.
    let local_ok = local_bad & local == 0 && dot & (dot >> 1) & local == 0;
    let domain_ok = !domain_good & domain == 0
        && ((dot & ((dot | hyphen) >> 1)) | (hyphen & (dot >> 1))) & domain == 0
        && dot & domain != 0;
    ends_ok && local_ok && domain_ok && not_lower == 0
}

/// [`is_email`] of any value.
fn is_any_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    !local.is_empty()
        && local.len() <= 64
        && value.len() <= 254
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !value.contains(|c: char| c.is_whitespace() || c.is_control() || c == ',')
        && domain.contains('.')
        && domain.split('.').all(label_ok)
}

/// A decimal number, with `.` or (without a `.`) `,` as the decimal separator.
fn is_number(value: &str) -> bool {
    let value = if value.contains('.') {
        value.to_owned()
    } else {
        value.replacen(',', ".", 1)
    };
    value.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The date formats each vendor is taken to read (strftime), each also with a time of day
/// (` HH:MM[:SS]`). Inferred: NP6 and Eloqua do not document the formats of an import file;
/// Copernica stores dates as `YYYY-MM-DD`; Mindbaz's mapping examples are `dd/MM/yyyy` and
/// `yyyy-MM-dd`. ISO 8601 with a `T` is read for every vendor.
fn date_formats(vendor: Vendor) -> &'static [&'static str] {
    match vendor {
        Vendor::Mailperformance | Vendor::Mindbaz => &["%Y-%m-%d", "%d/%m/%Y"],
        Vendor::Eloqua => &["%Y-%m-%d", "%m/%d/%Y"],
        _ => &["%Y-%m-%d"],
    }
}

fn is_date(vendor: Vendor, value: &str) -> bool {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if DateTime::parse_from_rfc3339(value).is_ok()
        || NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
    {
        return true;
    }
    date_formats(vendor).iter().any(|format| {
        NaiveDate::parse_from_str(value, format).is_ok()
            || [" %H:%M:%S", " %H:%M"].iter().any(|time| {
                NaiveDateTime::parse_from_str(value, &format!("{format}{time}")).is_ok()
            })
    })
}

/// `runs` (in the file's lines) as [`Plan::left_out`] keeps them.
fn shifts(runs: &[Run]) -> Vec<(u64, u64)> {
    let mut left_out = 0;
    runs.iter()
        .map(|run| {
            let at = run.first_line - left_out;
            left_out += run.lines;
            (at, left_out)
        })
        .collect()
}

/// A copy of `csv` without the bytes of `runs`, in a new directory under the system's
/// temporary directory, with the file's name.
fn copy_without(csv: &CsvFile, runs: &[Run]) -> Result<FileCopy, Error> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("esp-imports-{}-{stamp}", std::process::id()));
    let mut builder = std::fs::DirBuilder::new();
    // The contacts are personal data: the copy is the user's alone.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = csv
        .path
        .file_name()
        .map_or_else(|| "contacts.csv".into(), |n| n.to_os_string());
    let copy = FileCopy {
        file: dir.join(name),
        dir,
    };
    write_without(&csv.path, &copy.file, csv.size, runs).map_err(|e| Error::io(&copy.file, e))?;
    Ok(copy)
}

fn write_without(from: &Path, to: &Path, size: u64, runs: &[Run]) -> std::io::Result<()> {
    let mut input = std::fs::File::open(from)?;
    let mut output = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(to)?,
    );
    let mut at = 0;
    for run in runs.iter().chain(std::iter::once(&Run {
        bytes: size..size,
        first_line: 0,
        lines: 0,
    })) {
        input.seek(SeekFrom::Start(at))?;
        std::io::copy(&mut (&mut input).take(run.bytes.start - at), &mut output)?;
        at = run.bytes.end;
    }
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_as_the_vendor_reads_them() {
        assert!(is_email("ada@example.com"));
        assert!(is_email("ada.lovelace+news@mail.example.co.uk"));
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada @example.com",
            "ada@@example.com",
            "ada@ex_ample.com",
            ".ada@example.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
        assert!(is_date(Vendor::Mindbaz, "24/12/1990"));
        assert!(is_date(Vendor::Mindbaz, "1990-12-24 10:30:00"));
        assert!(!is_date(Vendor::Mindbaz, "12/24/1990"));
        assert!(is_date(Vendor::Eloqua, "12/24/1990"));
        assert!(is_date(Vendor::Copernica, "1990-12-24T10:30:00Z"));
        assert!(!is_date(Vendor::Copernica, "31/02/1990"));
        assert!(!is_date(Vendor::Copernica, "1990-02-31"));
        assert!(is_number("3,5") && is_number("-2") && !is_number("1,5.2") && !is_number("NaN"));
    }

    #[test]
    fn misfits_say_why() {
        let mut city = Field::new("1235", "City", FieldKind::Text, "textField");
        city.max_length = Some(5);
        assert_eq!(misfit(Vendor::Mailperformance, &city, "Lille"), None);
        assert_eq!(
            misfit(Vendor::Mailperformance, &city, "Roubaix").as_deref(),
            Some("7 characters, longer than the 5 of City (1235)")
        );
        let mut civility = Field::new("fld16", "Civilité", FieldKind::List, "4");
        civility.values = vec!["M.".into(), "Mme".into()];
        assert_eq!(misfit(Vendor::Mindbaz, &civility, "mme"), None);
        assert_eq!(misfit(Vendor::Mindbaz, &civility, "2"), None);
        assert!(misfit(Vendor::Mindbaz, &civility, "Dr").is_some());
        let mut email = Field::new("1234", "Email", FieldKind::Email, "email");
        email.mandatory = true;
        assert!(misfit(Vendor::Mailperformance, &email, "").is_some());
        assert_eq!(misfit(Vendor::Mailperformance, &email, "a@b.fr"), None);
    }

    /// ASCII without a capital.
    fn lower(value: &str) -> bool {
        value.is_ascii() && !value.bytes().any(|b| b.is_ascii_uppercase())
    }

    /// The check of ASCII addresses byte by byte says what the check of any text says.
    #[test]
    fn ascii_addresses_are_checked_as_any_text() {
        // Letters and digits weigh more, so that some values are addresses; the second
        // alphabet has the bytes at the ends of the ranges the rules are tested by.
        let alphabets: [&[u8]; 2] = [
            b"aaaaaZZZ000.-@ ,\t_\x7f",
            b"aaaaaaaaaaaazzzzAAZZ0099..--@ !,/:`[{\x1f\x7e\x7f",
        ];
        let mut rng = fastrand::Rng::with_seed(14);
        let mut valid = [0; 2];
        for i in 0..400_000 {
            let alphabet = alphabets[i % 2];
            // Parts of up to 5 or up to 23 bytes: one word, or several.
            let long = if i % 4 < 2 { 1 } else { 4 };
            let part = |rng: &mut fastrand::Rng, n: usize| -> String {
                (0..rng.usize(0..n * long))
                    .map(|_| alphabet[rng.usize(..alphabet.len())] as char)
                    .collect()
            };
            // Half of them shaped as addresses.
            let value = match rng.bool() {
                true => part(&mut rng, 12),
                false => {
                    let (local, host) = (part(&mut rng, 6), part(&mut rng, 6));
                    format!("{local}@{host}.{}", part(&mut rng, 4))
                }
            };
            let any = is_any_email(&value);
            assert_eq!(is_ascii_email(value.as_bytes()), any, "{value:?}");
            assert_eq!(
                is_lower_email(value.as_bytes()),
                any && lower(&value),
                "{value:?}"
            );
            valid[0] += u32::from(any);
        }
        // Long addresses of several words, each with one byte changed or none.
        for i in 0..100_000 {
            let alphabet = alphabets[i % 2];
            // Up to 80 bytes: both sides of the 64 that [`is_ascii_email`] takes as masks.
            let mut value: Vec<u8> = (0..rng.usize(8..80))
                .map(|_| *rng.choice(b"abcxyzABXYZ0189.-").expect("bytes"))
                .collect();
            let at = rng.usize(1..value.len() - 3);
            value[at] = b'@';
            for b in &mut value[..at] {
                *b = if *b == b'-' { b'_' } else { *b };
            }
            if rng.bool() {
                let changed = rng.usize(..value.len());
                value[changed] = alphabet[rng.usize(..alphabet.len())];
            }
            let value = String::from_utf8(value).expect("ASCII");
            let any = is_any_email(&value);
            assert_eq!(is_ascii_email(value.as_bytes()), any, "{value:?}");
            assert_eq!(
                is_lower_email(value.as_bytes()),
                any && lower(&value),
                "{value:?}"
            );
            valid[1] += u32::from(any);
        }
        for long in [64, 65] {
            for local in ["a", "A", "é"] {
                let value = format!("{}@example.com", local.repeat(long));
                let any = is_any_email(&value);
                assert_eq!(
                    is_lower_email(value.as_bytes()),
                    any && lower(&value),
                    "{value}"
                );
                if value.is_ascii() {
                    assert_eq!(is_ascii_email(value.as_bytes()), any);
                }
            }
        }
        // Past ASCII, wherever it is: an address (`is_email`), not a key as written.
        for value in [
            "é@example.com",
            "ada@exé.com",
            "adaé@example.com",
            "ada@example.cé",
        ] {
            assert!(
                is_email(value) && !is_lower_email(value.as_bytes()),
                "{value}"
            );
        }
        // Valid addresses of 62 to 66 bytes, and the same ending in a dot: the last byte of
        // the masks, and the first one past them.
        for len in 62..=66 {
            let value = format!("{}@example.com", "a".repeat(len - 12));
            assert!(is_ascii_email(value.as_bytes()), "{value}");
            assert!(!is_ascii_email(format!("{value}.").as_bytes()), "{value}.");
            assert!(!is_ascii_email(
                format!("{}.@example.co", &value[..len - 12]).as_bytes()
            ));
        }
        let value = format!("a@{}.com", "b".repeat(250));
        assert_eq!(is_ascii_email(value.as_bytes()), is_any_email(&value));
        assert!(valid[0] > 2_000 && valid[1] > 5_000, "{valid:?}");
    }

    /// The key's column learns what any column does, and its value is taken for the key as
    /// written only when it is one: an address without a capital or surrounding space.
    #[test]
    fn the_key_column_learns_as_any_and_tells_the_keys_written_as_compared() {
        let pool = [
            "ada@example.com",
            "Ada@example.com",
            " ada@example.com",
            "ada@example.com\t",
            "ada@example",
            "élodie@example.com",
            "",
            "42",
            "ab\"\"c@example.com",
        ];
        let mut rng = fastrand::Rng::with_seed(15);
        for _ in 0..5_000 {
            let (mut key, mut any) = (Values::default(), Values::default());
            for _ in 0..rng.usize(1..6) {
                let value = pool[rng.usize(..pool.len())];
                let raw = format!("{value}{}", if rng.bool() { "" } else { "\"\"" });
                let written = key.add_key(raw.as_bytes(), value.as_bytes());
                any.add(raw.as_bytes(), || value.as_bytes().into());
                assert_eq!(key, any, "{value:?}");
                if written {
                    assert!(is_email(value), "{value:?}");
                    assert_eq!(value, value.trim().to_lowercase(), "{value:?}");
                }
            }
        }
        // While the column is all addresses, the common key is told so.
        let mut key = Values::default();
        key.add("ada@example.com".as_bytes(), || b"ada@example.com".into());
        assert!(key.add_key(b"bob@example.com", b"bob@example.com"));
        assert!(!key.add_key(b"Bob@example.com", b"Bob@example.com"));
    }

    /// What the file check learns of a column lets the value checks skip it only when every
    /// value fits; a column of values that all fit, written plainly, is skipped.
    #[test]
    fn a_column_is_skipped_only_when_every_value_fits() {
        let pool = [
            "ada@example.com",
            "ada@example",
            "Ada",
            " ada@example.com ",
            "\u{b}ada@example.com\t",
            "",
            "  ",
            "42",
            "-7",
            "3,5",
            "1e3",
            "NaN",
            "yes",
            "Non",
            "1990-12-24",
            "24/12/1990",
            "12/24/1990",
            "1990-12-24T10:30:00Z",
            "1990-12-24 10:30",
            "31/02/1990",
            "Élodie",
            "\u{a0}x",
            "ab\"\"c",
            "M.",
            "Mme",
        ];
        let kinds = [
            FieldKind::Text,
            FieldKind::Email,
            FieldKind::Integer,
            FieldKind::Number,
            FieldKind::Date,
            FieldKind::DateTime,
            FieldKind::Boolean,
            FieldKind::List,
            FieldKind::Other,
        ];
        let mut rng = fastrand::Rng::with_seed(14);
        let mut skipped = 0;
        for case in 0..20_000 {
            let column: Vec<&str> = (0..rng.usize(1..5))
                .map(|_| pool[rng.usize(..pool.len())])
                .collect();
            let mut values = Values::default();
            for value in &column {
                values.add(value.as_bytes(), || value.as_bytes().into());
            }
            let mut field = Field::new("1", "F", kinds[rng.usize(..kinds.len())], "t");
            field.mandatory = rng.bool();
            field.max_length = rng.bool().then(|| rng.u32(1..12));
            if rng.bool() {
                field.values = vec!["M.".into(), "Mme".into()];
            }
            let vendor = Vendor::ALL[rng.usize(..4)];
            let fit = column
                .iter()
                .all(|v| misfit(vendor, &field, v.trim()).is_none());
            if values.all_fit(vendor, &field) {
                assert!(fit, "case {case}: {column:?} {field:?} {vendor}");
                skipped += 1;
            }
            // Plain values that all fit (no padding, ASCII) are always seen to.
            let plain = |v: &&str| v.is_ascii() && v.trim() == *v && !v.contains('"');
            if fit && column.iter().all(plain) && field.values.is_empty() {
                assert!(
                    values.all_fit(vendor, &field),
                    "case {case}: {column:?} {field:?} {vendor}"
                );
            }
        }
        assert!(skipped > 2_000, "{skipped}");
    }

    /// A file cut into ranges read at the same time gives the lines, counts and runs one
    /// reader gives, however the bad rows fall around the cuts.
    #[test]
    fn ranges_read_at_once_number_lines_as_one_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        let rows = 300_000u64;
        let bad = |i: u64| i.is_multiple_of(49_999) || i == rows - 1;
        let mut text = String::from("email,city\r\n");
        for i in 0..rows {
            let email = if bad(i) {
                format!("nope{i}")
            } else {
                format!("c{i}@example.com")
            };
            text.push_str(&format!("{email},City {i}\r\n"));
        }
        std::fs::write(&path, &text).unwrap();
        let csv = CsvFile::inspect(
            &path,
            &crate::Expectations {
                columns: vec!["email", "city"],
                key: Some("email"),
                delimiter: None,
                max_row_bytes: None,
                threads: None,
            },
        )
        .unwrap();
        // Cut into several ranges (a size check alone always holds: MIN_RANGE is 16 under test).
        let cuts = scan::cuts(&csv.path, csv.data_start..csv.size, 2).unwrap();
        assert!(cuts.len() > 2, "{cuts:?}");
        let email = Field::new("1234", "Email", FieldKind::Email, "email");
        let checks = [(0, "email", &email)];
        let mut findings = Findings::default();
        let runs =
            check_values(Vendor::Mailperformance, &csv, &checks, &mut findings, true).unwrap();
        assert!(csv.plain());
        // The fast reader's ranges against the csv crate's reader on the whole file.
        let one = check_range(
            RangeCheck::new(Vendor::Mailperformance, &csv, &checks, true),
            csv.data_start..csv.size,
        )
        .unwrap();
        let expected: Vec<u64> = (0..rows).filter(|&i| bad(i)).map(|i| i + 2).collect();
        let lines: Vec<u64> = findings.listed.iter().filter_map(|f| f.row).collect();
        assert_eq!(lines, expected);
        let one_lines: Vec<u64> = one
            .findings
            .listed
            .iter()
            .map(|f| f.row.unwrap() + 1)
            .collect();
        assert_eq!(one_lines, expected);
        assert_eq!(findings.bad_rows, expected.len() as u64);
        let starts: Vec<u64> = runs.iter().map(|r| r.first_line).collect();
        assert_eq!(starts, expected);
        // Each run is its row's bytes, line break included.
        for run in &runs {
            let row = &text.as_bytes()[run.bytes.start as usize..run.bytes.end as usize];
            assert!(
                row.starts_with(b"nope") && row.ends_with(b"\r\n"),
                "{run:?}"
            );
        }
        assert_eq!(runs.last().unwrap().bytes.end, csv.size);
    }

    #[test]
    fn lines_of_the_copy_are_read_as_lines_of_the_file() {
        let plan = |runs: Vec<Run>| Plan {
            options: ImportOptions::new("x.csv", [("a", "b")], "a"),
            copy: None,
            left_out: shifts(&runs),
            rows_total: 10,
            rows_not_sent: 0,
            not_sent: vec![],
            mapping: vec![],
            findings: vec![],
            findings_total: 0,
            notes: vec![],
        };
        let run = |first_line, lines| Run {
            bytes: 0..0,
            first_line,
            lines,
        };
        // Lines 3 and 6-7 (one row on two lines) left out: the copy's line 3 is line 4...
        let two = plan(vec![run(3, 1), run(6, 2)]);
        let lines: Vec<u64> = (1..=6).map(|l| two.original_line(l)).collect();
        assert_eq!(lines, [1, 2, 4, 5, 8, 9]);
        // Runs next to each other, and the first data line.
        let three = plan(vec![run(2, 1), run(4, 1), run(5, 3)]);
        let lines: Vec<u64> = (1..=4).map(|l| three.original_line(l)).collect();
        assert_eq!(lines, [1, 3, 8, 9]);
        assert_eq!(plan(vec![]).original_line(7), 7);
    }
}
