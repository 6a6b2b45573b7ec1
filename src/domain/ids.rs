//! Identifiers parsed once at the edge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A WAP subscription id: a GUID, shared by WAP, VMM/SPF (the tenant user role id) and wapdr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SubscriptionId(Uuid);

/// A text that is not a GUID where one was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Subscription id '{0}' is not a valid GUID.")]
pub struct InvalidId(pub String);

impl SubscriptionId {
    /// Parses a GUID in any of the .NET text forms (hyphenated, braced, plain hex; any case).
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        let trimmed = text.trim();
        Uuid::parse_str(trimmed)
            .map(Self)
            .map_err(|_| InvalidId(text.to_owned()))
    }

    /// A fresh random id (tests, the lab).
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for SubscriptionId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl fmt::Display for SubscriptionId {
    /// Lower-case hyphenated, the form WAP itself writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl FromStr for SubscriptionId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for SubscriptionId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<SubscriptionId> for String {
    fn from(value: SubscriptionId) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_dotnet_guid_form_and_prints_one() {
        let forms = [
            "ec66ec96-8edd-4916-be45-607959155c2a",
            "EC66EC96-8EDD-4916-BE45-607959155C2A",
            "{ec66ec96-8edd-4916-be45-607959155c2a}",
            "ec66ec968edd4916be45607959155c2a",
            " ec66ec96-8edd-4916-be45-607959155c2a ",
        ];
        for form in forms {
            let id = SubscriptionId::parse(form).expect(form);
            assert_eq!(id.to_string(), "ec66ec96-8edd-4916-be45-607959155c2a");
        }
    }

    #[test]
    fn rejects_non_guids_with_the_offending_text() {
        let err = SubscriptionId::parse("abc").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Subscription id 'abc' is not a valid GUID."
        );
        assert!(SubscriptionId::parse("").is_err());
        assert!(SubscriptionId::parse("ec66ec96-8edd-4916-be45-607959155c2").is_err());
    }
}
