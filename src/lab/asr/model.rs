//! The vault's model.

use time::OffsetDateTime;

use crate::lab::world::World;

/// The vault.
#[derive(Debug, Default)]
pub struct Vault {}

/// Reacts to a stamp going down or coming back.
pub fn stamp_outage_changed(world: &mut World, stamp: usize, down: bool, now: OffsetDateTime) {
    world.stamps[stamp].down_since = down.then_some(now);
}

impl Vault {
    /// Counts for the control API's summary.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}
