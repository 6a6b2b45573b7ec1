//! SPF's OData answers on arbitrary bytes: collection pages and single entities of every entity
//! type wapdr reads, and error bodies. Each gives a value or an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wapdr::fabric::odata::{read_entities, read_entity, read_error};
use wapdr::fabric::spf::{Cloud, Stamp, UserRole, Vm, VmNetwork, VmSubnet};

fuzz_target!(|body: &[u8]| {
    let _ = read_entities::<Vm>(body);
    let _ = read_entities::<VmNetwork>(body);
    let _ = read_entities::<VmSubnet>(body);
    let _ = read_entities::<Cloud>(body);
    let _ = read_entities::<UserRole>(body);
    let _ = read_entities::<Stamp>(body);
    let _ = read_entity::<Vm>(body);
    let _ = read_entity::<VmNetwork>(body);
    let _ = read_entity::<UserRole>(body);
    let _ = read_error(body);
});
