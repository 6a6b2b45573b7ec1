//! Placeholder: configuration arrives in this same change.
