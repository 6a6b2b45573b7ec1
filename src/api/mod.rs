//! Placeholder: the RP endpoints arrive in this same change.
