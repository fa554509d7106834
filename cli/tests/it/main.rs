//! The command line's tests, in one binary (one link instead of one per file): each module is
//! a former `cli/tests/<name>.rs`, run with `cargo test -p esp-imports-cli --test it <name>`.
//! Most spawn the `esp-imports` binary.

mod common;
#[path = "../../../tests/sshd/mod.rs"]
mod sshd;

mod bounded_answers;
mod cli;
mod cli_bad_input;
mod cli_net;
mod cli_sftp;
mod cli_signals;
mod fault_matrix;
mod fields;
mod file_changed;
mod preflight;
mod status;
