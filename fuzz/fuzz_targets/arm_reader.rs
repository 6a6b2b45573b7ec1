//! ASR's ARM answers on arbitrary bytes: a replication-protected item read into a protection
//! status, a job into an operation status, and error bodies. Each gives a value or an error,
//! never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wapdr::fabric::asr::{read_job, read_protection_status};
use wapdr::fabric::odata::read_error;

fuzz_target!(|body: &[u8]| {
    let _ = read_protection_status(body);
    let _ = read_job(body);
    let _ = read_error(body);
});
