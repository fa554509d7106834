//! What runs every vendor's import: [`drive`], the one sequence (checks, submission, polls,
//! finish) that each vendor fills in with its [`Steps`], [`follow`], its polls and finish for
//! an import read later from its id, and the pieces they use: the overall
//! deadline, what exists at the vendor so far (for errors half-way), state tracking for
//! progress events, and the column-map checks.

use std::{
    future::Future,
    pin::Pin,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{
    preflight, Cancel, CsvFile, Error, Expectations, Fields, ImportOptions, ImportReport, Progress,
    Status, StatusOptions, Vendor,
};

/// What an import has left at the vendor so far, so that an error half-way says it: the
/// import's id and state, and the request that may be creating something right now.
pub(crate) struct Ledger {
    vendor: Vendor,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// The vendor's id of what exists, and where it stands.
    state: Option<(String, String)>,
    /// What a request in flight may be creating.
    in_flight: Option<String>,
    /// What to do at the vendor if the import is cancelled now: a request that removes what
    /// is safe to remove, answering the state it leaves.
    cleanup: Option<Cleanup>,
    /// The workflow stops by itself when cancelled, at this step (it is given a moment).
    stops_itself: bool,
}

/// A request that cleans up after a cancelled import, answering what is left at the vendor.
pub(crate) type Cleanup = Pin<Box<dyn Future<Output = Result<String, Error>> + Send>>;

/// How long a cancelled import may take to stop by itself, or to clean up.
const STOPPING: Duration = Duration::from_secs(15);

impl Ledger {
    pub(crate) fn new(vendor: Vendor) -> Self {
        Self {
            vendor,
            inner: Mutex::default(),
        }
    }

    /// Records what exists at the vendor now, replacing the previous record.
    pub(crate) fn record(&self, import_id: impl Into<String>, state: impl Into<String>) {
        let mut inner = self.inner.lock().expect("ledger lock");
        inner.state = Some((import_id.into(), state.into()));
    }

    /// Runs a request that creates `what`, marked as in flight while it runs: if the whole
    /// import's timeout cuts it off, the error says `what` may exist.
    pub(crate) async fn creating<T>(
        &self,
        what: &str,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        self.inner.lock().expect("ledger lock").in_flight = Some(what.to_owned());
        let result = request.await;
        self.inner.lock().expect("ledger lock").in_flight = None;
        result
    }

    /// [`Ledger::creating`] for a create that is sent once (the vendor cannot tell whether it
    /// was processed): an error after which it may have been is [`Error::MaybeCreated`].
    #[cfg(any(feature = "copernica", feature = "mindbaz", feature = "eloqua"))]
    pub(crate) async fn create_once<T>(
        &self,
        operation: &'static str,
        what: String,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        self.creating(&what, request)
            .await
            .map_err(|e| e.or_maybe_created(self.vendor, operation, || what))
    }

    /// What to clean at the vendor if the import is cancelled from now on (`None`: nothing).
    #[cfg(any(feature = "mailperformance", feature = "eloqua"))]
    pub(crate) fn on_cancel(&self, cleanup: Option<Cleanup>) {
        self.inner.lock().expect("ledger lock").cleanup = cleanup;
    }

    /// Whether the workflow, from now on, stops by itself when cancelled.
    #[cfg(feature = "mindbaz")]
    pub(crate) fn stops_itself(&self, yes: bool) {
        self.inner.lock().expect("ledger lock").stops_itself = yes;
    }

    /// After a cancel: runs the cleanup, unless a request that creates something is in flight
    /// (what it creates may need what would be cleaned), and records the state it leaves.
    async fn clean_up(&self) {
        let (cleanup, id) = {
            let mut inner = self.inner.lock().expect("ledger lock");
            if inner.in_flight.is_some() {
                return;
            }
            let id = inner.state.as_ref().map(|(id, _)| id.clone());
            (inner.cleanup.take(), id)
        };
        let (Some(cleanup), Some(id)) = (cleanup, id) else {
            return;
        };
        match tokio::time::timeout(STOPPING, cleanup).await {
            Ok(Ok(state)) => self.record(id, state),
            Ok(Err(e)) => self.amend(&format!("cleaning it up failed: {}", e.report())),
            Err(_) => self.amend("cleaning it up took too long"),
        }
    }

    /// What a workflow that stopped by itself said, added to the state (or as the state, when
    /// nothing was recorded: nothing was created yet).
    fn amend_or_record(&self, stopped: &Error) {
        let mut inner = self.inner.lock().expect("ledger lock");
        let note = stopped.report().to_string();
        match &mut inner.state {
            Some((_, state)) => {
                state.push_str("; ");
                state.push_str(&note);
            }
            None => inner.state = Some((String::new(), format!("no import created: {note}"))),
        }
    }

    fn amend(&self, note: &str) {
        let mut inner = self.inner.lock().expect("ledger lock");
        if let Some((_, state)) = &mut inner.state {
            state.push_str("; ");
            state.push_str(note);
        }
    }

    /// `error`, with what exists at the vendor when anything does.
    fn explain(&self, error: Error, timed_out: bool) -> Error {
        let inner = self.inner.lock().expect("ledger lock");
        if let (true, Some(what)) = (timed_out, &inner.in_flight) {
            return Error::MaybeCreated {
                vendor: self.vendor,
                operation: "import",
                what: what.clone(),
                source: Box::new(error),
            };
        }
        match (&inner.state, &error) {
            (_, Error::Interrupted { .. } | Error::MaybeCreated { .. }) | (None, _) => error,
            (Some((import_id, state)), _) => Error::Interrupted {
                vendor: self.vendor,
                import_id: import_id.clone(),
                state: state.clone(),
                source: Box::new(error),
            },
        }
    }
}

/// Runs a vendor's whole import (or the following of one), `work`, with a new [`Ledger`]
/// within `timeout` (requests in flight included), stopped by `cancel`, and gives any error
/// what the ledger knows of the import's state at the vendor.
async fn bounded(
    vendor: Vendor,
    timeout: Duration,
    cancel: Option<&Cancel>,
    work: impl AsyncFnOnce(&Ledger) -> Result<ImportReport, Error>,
) -> Result<ImportReport, Error> {
    let ledger = Ledger::new(vendor);
    let mut work = std::pin::pin!(tokio::time::timeout(timeout, work(&ledger)));
    let cancelled = async {
        match cancel {
            Some(cancel) => cancel.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let cancelled = std::pin::pin!(cancelled);
    let done = match futures_util::future::select(&mut work, cancelled).await {
        futures_util::future::Either::Left((done, _)) => done,
        futures_util::future::Either::Right(((), _)) => {
            // Stop sending: the workflow is dropped, unless it is at a step that stops by
            // itself (the Mindbaz upload removes its partial file), which is given a moment.
            let stops_itself = ledger.inner.lock().expect("ledger lock").stops_itself;
            if stops_itself {
                match tokio::time::timeout(STOPPING, &mut work).await {
                    // It said where it stopped (a cancel noticed after the last step says
                    // nothing more than the ledger does).
                    Ok(Ok(Err(Error::Cancelled { .. }))) => {}
                    Ok(Ok(Err(e))) => {
                        tracing::info!(error = %e.report(), "the cancelled import stopped");
                        ledger.amend_or_record(&e);
                    }
                    _ => {}
                }
            }
            ledger.clean_up().await;
            return Err(ledger.explain(Error::Cancelled { vendor }, true));
        }
    };
    match done {
        Ok(result) => result
            .map(|mut report| {
                // Every failure says why, even when the vendor does not.
                if report.status == Status::Failed && report.messages.is_empty() {
                    report.messages.push(format!(
                        "{vendor} reported import {} as failed and gave no reason",
                        report.import_id
                    ));
                }
                report
            })
            .map_err(|e| ledger.explain(e, false)),
        Err(_) => Err(ledger.explain(
            Error::Timeout {
                vendor,
                what: "the import".into(),
                after: Some(timeout),
            },
            true,
        )),
    }
}

/// One status request, read: the vendor's state (for the [`Progress`] events), its counts,
/// and, once the import has ended, what the vendor's [`Steps::finish`] needs.
pub(crate) struct Poll<E> {
    pub(crate) state: String,
    pub(crate) processed: Option<u64>,
    pub(crate) total: Option<u64>,
    /// `None` while the import runs.
    pub(crate) ended: Option<E>,
}

impl<E> Poll<E> {
    /// A poll that tells a state and no counts.
    pub(crate) fn state(state: String, ended: Option<E>) -> Self {
        Self {
            state,
            processed: None,
            total: None,
            ended,
        }
    }
}

/// A vendor's part of an import, run by [`drive`].
pub(crate) trait Steps {
    const VENDOR: Vendor;
    /// What the checks found for [`Steps::submit`] (the file's format...).
    type Checked;
    /// What the polls and [`Steps::finish`] need of the import submitted (its id...).
    type Submitted;
    /// What the last poll says of the ended import.
    type Ended;

    /// Checks the options and the file: no request.
    fn check(&self, options: &ImportOptions) -> Result<Self::Checked, Error>;

    /// The file [`Steps::check`] found.
    fn csv(checked: &Self::Checked) -> &CsvFile;

    /// The vendor's contact fields (one GET), for the pre-flight.
    async fn fields(&self) -> Result<Fields, Error>;

    /// What [`Steps::submit`] would create at the vendor, in words, for a dry run.
    fn plan(&self, options: &ImportOptions, checked: &Self::Checked) -> Vec<String>;

    /// Everything up to the import running at the vendor (what it creates goes through the
    /// ledger): the `submitted` report, and what the polls need.
    async fn submit(
        &self,
        options: &ImportOptions,
        checked: Self::Checked,
        ledger: &Ledger,
        deadline: &Deadline,
    ) -> Result<(ImportReport, Self::Submitted), Error>;

    /// What the polls need, rebuilt from the id an import's report gave
    /// ([`ImportReport::import_id`]), and that id as the vendor writes it: no request, an
    /// [`Error::InvalidConfig`] for an id the vendor cannot have given.
    fn resume(&self, import_id: &str) -> Result<(String, Self::Submitted), Error>;

    /// One status request.
    async fn poll(&self, submitted: &Self::Submitted) -> Result<Poll<Self::Ended>, Error>;

    /// What follows the last poll: the report filled in (logs, rejects, cleanup). It may run
    /// again for the same import ([`follow`] of an ended import): what it changes at the
    /// vendor must be harmless to do twice.
    async fn finish(
        &self,
        submitted: Self::Submitted,
        ended: Self::Ended,
        report: ImportReport,
        ledger: &Ledger,
    ) -> Result<ImportReport, Error>;
}

/// Runs a whole import, the same way for every vendor: within [`bounded`], the vendor's checks,
/// its submission, then (unless `no_wait`) its polls every `poll_interval` until the import
/// ends or the timeout passes, with [`Progress`] events, and its finish.
pub(crate) async fn drive<S: Steps>(
    steps: &S,
    options: &ImportOptions,
) -> Result<ImportReport, Error> {
    bounded(
        S::VENDOR,
        options.timeout,
        options.cancel.as_ref(),
        async |ledger| {
            let deadline = Deadline::new(S::VENDOR, options.timeout);
            let checked = steps.check(options)?;
            let plan =
                preflight::plan(S::VENDOR, options, S::csv(&checked), steps.fields()).await?;
            // The copy without the rows left out is what is checked and sent.
            let checked = match plan.copy_options() {
                Some(copy) => steps.check(&copy)?,
                None => checked,
            };
            if options.dry_run {
                return Ok(plan.dry_run(S::VENDOR, steps.plan(&plan.options, &checked)));
            }
            let options = &plan.options;
            let (report, submitted) = steps.submit(options, checked, ledger, &deadline).await?;
            if options.no_wait {
                return Ok(plan.annotate(report));
            }
            let emit = |e| options.emit(e);
            let polled = until_ended(
                steps,
                &submitted,
                &deadline,
                options.poll_interval,
                true,
                emit,
                |_| {},
            )
            .await?;
            match polled {
                Ok(ended) => {
                    Ok(plan.annotate(steps.finish(submitted, ended, report, ledger).await?))
                }
                Err(_) => unreachable!("waited until it ended"),
            }
        },
    )
    .await
}

/// Reads an import's state from its id, the same way for every vendor: within [`bounded`], the
/// vendor's [`Steps::resume`] (no request), then its polls, once or (with `options.wait`)
/// every `poll_interval` until the import ends or the timeout passes, with the same
/// [`Progress`] events as [`drive`]. An ended import is reported by the vendor's
/// [`Steps::finish`], as an import is (with no file here, the counts only the vendor tells);
/// one still running is [`Status::Submitted`], with its state in the messages.
pub(crate) async fn follow<S: Steps>(
    steps: &S,
    import_id: &str,
    options: &StatusOptions,
) -> Result<ImportReport, Error> {
    bounded(
        S::VENDOR,
        options.timeout,
        options.cancel.as_ref(),
        async |ledger| {
            let (import_id, submitted) = steps.resume(import_id)?;
            let deadline = Deadline::new(S::VENDOR, options.timeout);
            // While it is followed, a timeout or a cancel says where it stood.
            let record = |poll: &Poll<S::Ended>| {
                ledger.record(import_id.clone(), running(S::VENDOR, poll));
            };
            let emit = |e| options.emit(e);
            let polled = until_ended(
                steps,
                &submitted,
                &deadline,
                options.poll_interval,
                options.wait,
                emit,
                record,
            )
            .await?;
            let report = ImportReport::read(S::VENDOR, import_id.clone());
            match polled {
                Ok(ended) => steps.finish(submitted, ended, report, ledger).await,
                Err(poll) => Ok(ImportReport {
                    messages: vec![running(S::VENDOR, &poll)],
                    ..report
                }),
            }
        },
    )
    .await
}

/// The number from 1 that `text` is, in the `import_id` given to [`follow`], and that number
/// written as a number; an [`Error::InvalidConfig`] that says `expected` (what the vendor's ids
/// are) otherwise.
pub(crate) fn id_number<T: std::str::FromStr + Default + PartialOrd + std::fmt::Display>(
    import_id: &str,
    text: &str,
    expected: &str,
) -> Result<(String, T), Error> {
    match text.trim().parse::<T>() {
        Ok(id) if id > T::default() => Ok((id.to_string(), id)),
        _ => Err(Error::InvalidConfig {
            setting: "import id",
            reason: format!("`{import_id}`: {expected} (the `import_id` of the import's report)"),
        }),
    }
}

/// What a poll says of an import that still runs.
/// The one status poll loop: polls the import, each poll a progress event, until it ends
/// (pausing `interval` between polls, within the deadline, each running poll told to
/// `running_poll` first), or only once unless `wait`. Gives what the last poll said of the
/// ended import, or (`Err`) the poll of one still running.
async fn until_ended<S: Steps>(
    steps: &S,
    submitted: &S::Submitted,
    deadline: &Deadline,
    interval: Duration,
    wait: bool,
    emit: impl Fn(Progress),
    mut running_poll: impl FnMut(&Poll<S::Ended>),
) -> Result<Result<S::Ended, Poll<S::Ended>>, Error> {
    let mut states = States::default();
    loop {
        let mut poll = steps.poll(submitted).await?;
        states.observe(&emit, poll.state.clone(), poll.processed, poll.total);
        if let Some(ended) = poll.ended.take() {
            return Ok(Ok(ended));
        }
        if !wait {
            return Ok(Err(poll));
        }
        running_poll(&poll);
        deadline.pause(interval).await?;
    }
}

fn running<E>(vendor: Vendor, poll: &Poll<E>) -> String {
    let lines = match (poll.processed, poll.total) {
        (Some(p), Some(t)) => format!(", {p} of {t} lines processed"),
        (Some(p), None) => format!(", {p} lines processed"),
        _ => String::new(),
    };
    format!("still running at {vendor}: state `{}`{lines}", poll.state)
}

/// The overall timeout of one import.
pub(crate) struct Deadline {
    vendor: Vendor,
    started: Instant,
    timeout: Duration,
}

impl Deadline {
    pub(crate) fn new(vendor: Vendor, timeout: Duration) -> Self {
        Self {
            vendor,
            started: Instant::now(),
            timeout,
        }
    }

    /// Fails once the timeout has passed.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.started.elapsed() >= self.timeout {
            return Err(Error::Timeout {
                vendor: self.vendor,
                what: "the import".into(),
                after: Some(self.timeout),
            });
        }
        Ok(())
    }

    /// The instant `margin` before the timeout passes.
    #[cfg(feature = "mindbaz")]
    pub(crate) fn before_end(&self, margin: Duration) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.started + self.timeout.saturating_sub(margin))
    }

    /// Waits `interval` (or what is left of the timeout), then checks the deadline.
    pub(crate) async fn pause(&self, interval: Duration) -> Result<(), Error> {
        let left = self.timeout.saturating_sub(self.started.elapsed());
        tokio::time::sleep(interval.min(left)).await;
        self.check()
    }
}

/// Turns each poll into [`Progress`] events.
#[derive(Default)]
struct States {
    last: Option<String>,
}

impl States {
    fn observe(
        &mut self,
        emit: impl Fn(Progress),
        state: String,
        processed: Option<u64>,
        total: Option<u64>,
    ) {
        if self.last.as_ref() != Some(&state) {
            emit(Progress::StateChanged {
                from: self.last.take(),
                to: state.clone(),
            });
            self.last = Some(state.clone());
        }
        emit(Progress::Polled {
            state,
            processed,
            total,
        });
    }
}

/// A vendor field as the vendor tells fields apart: without case (`C_EmailAddress`,
/// `c_emailaddress`), a number as a number (NP6 `1`, `01`), an Eloqua field statement as its
/// field.
fn normal_field(field: &str) -> String {
    let field = field.trim().to_lowercase();
    if let Ok(number) = field.parse::<i64>() {
        return number.to_string();
    }
    match field
        .strip_prefix("{{contact.field(")
        .and_then(|f| f.strip_suffix(")}}"))
    {
        Some(inner) => inner.trim().to_owned(),
        None => field,
    }
}

/// Checks the options against the file (before any request) and returns the file's format:
/// a map with columns, the key among them, no field mapped twice, then the file.
pub(crate) fn inspect(options: &ImportOptions) -> Result<CsvFile, Error> {
    if options.columns.is_empty() && !options.auto_map {
        return Err(Error::InvalidConfig {
            setting: "column map",
            reason: "map at least one column to a vendor field".into(),
        });
    }
    if !options.auto_map && !options.columns.contains_key(&options.key_column) {
        return Err(Error::InvalidConfig {
            setting: "key column",
            reason: format!(
                "`{}` is not a mapped column: map it to the vendor's key field",
                options.key_column
            ),
        });
    }
    let mut targets: std::collections::HashMap<String, &str> = Default::default();
    for (column, field) in &options.columns {
        if let Some(first) = targets.insert(normal_field(field), column) {
            return Err(Error::InvalidConfig {
                setting: "column map",
                reason: format!(
                    "`{first}` and `{column}` both go to `{field}`: map each field once"
                ),
            });
        }
    }
    CsvFile::inspect(
        &options.file,
        &Expectations {
            columns: options
                .columns
                .keys()
                .chain(options.auto_map.then_some(&options.key_column))
                .map(String::as_str)
                .collect(),
            key: Some(&options.key_column),
            delimiter: options.delimiter,
            max_row_bytes: Some(options.max_row_bytes),
            threads: None,
        },
    )
}
