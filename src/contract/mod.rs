//! The WAP wire contract: the types WAP and wapdr exchange, and ONE codec for JSON (Json.NET style)
//! and .NET DataContract XML (namespace `http://schemas.microsoft.com/windowsazure`).
//!
//! Tolerant reader, strict writer (see `../shared/spec/wap-contract.md` §2.2, §2.3, §5):
//! - member names match without regard to case, in JSON and XML, with the documented aliases
//!   (`LifecycleState`/`LifeCycleState`, `CoAdminIds`/`CoAdmins`);
//! - enums are read from their name (any case) or their integer value;
//! - a list may arrive as a single string (`CoAdminIds`), `null`, `i:nil="true"` or be missing;
//! - unknown members are ignored;
//! - the XML reader refuses DTDs and entity declarations and bounds nesting depth.
//!
//! The writer emits DataContract member order, integers for enums in JSON and names in XML.
//!
//! This module never does I/O; the api layer hands it bytes and a [`Format`].

mod codec;
mod error;
mod quota;
mod registration;
mod subscription;
mod usage;

pub use codec::{
    ContractError, Format, FromWire, Node, Out, ToWire, WireEnum, decode, encode, parse,
    parse_time, read_items,
};
pub use error::WapError;
pub use quota::{QuotaUpdateBatch, QuotaUpdateResultBatch, ServiceQuotaSettingList};
pub use registration::{
    AuthenticationMode, AzureProvisioningInfo, ResourceProvider, ResourceProviderEndpoint,
    ResourceProviderType, ServiceSetting, TenantEndpoint,
};
pub use subscription::{SubscriptionList, WireSubscription};
pub use usage::{ServiceUsageSummary, Usage, UsageRecordList};

/// The DataContract namespace of every WAP management contract.
pub const WAP_NAMESPACE: &str = "http://schemas.microsoft.com/windowsazure";
