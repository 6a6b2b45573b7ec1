//! The rules of the product: identifiers, the subscription lifecycle and the DR quota schema.
//!
//! This module does no I/O: no HTTP, no SQL, no clock reads. The edges (api, store) parse into these
//! types once and then pass them around.

pub mod ids;
pub mod quota;
pub mod subscription;
pub mod usage;

pub use ids::{InvalidId, SubscriptionId};
pub use quota::{DrQuota, QuotaError, QuotaSetting, QuotaSources, SelfService};
pub use subscription::{LifecycleState, Subscription, SubscriptionChanges, SubscriptionState};
pub use usage::{NewUsageRecord, UsageRecord};
