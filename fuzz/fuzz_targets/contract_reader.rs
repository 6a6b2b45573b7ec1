//! The WAP contract reader on arbitrary bytes, read as JSON and as DataContract XML: every body
//! decodes to a value or a `ContractError`, never a panic; what decodes also encodes again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wapdr::contract::{
    Format, QuotaUpdateBatch, QuotaUpdateResultBatch, ResourceProvider, ServiceUsageSummary,
    SubscriptionList, UsageRecordList, WapError, WireSubscription, decode, encode, parse,
};

fuzz_target!(|body: &[u8]| {
    for format in [Format::Json, Format::Xml] {
        read(format, body);
    }
});

fn read(format: Format, body: &[u8]) {
    let _ = parse(format, body);
    if let Ok(subscription) = decode::<WireSubscription>(format, body) {
        let _ = encode(format, &subscription);
    }
    if let Ok(batch) = decode::<QuotaUpdateBatch>(format, body) {
        let _ = encode(format, &batch);
    }
    let _ = decode::<SubscriptionList>(format, body);
    let _ = decode::<QuotaUpdateResultBatch>(format, body);
    if let Ok(registration) = decode::<ResourceProvider>(format, body) {
        let _ = encode(format, &registration);
    }
    let _ = decode::<UsageRecordList>(format, body);
    let _ = decode::<ServiceUsageSummary>(format, body);
    let _ = decode::<WapError>(format, body);
}
