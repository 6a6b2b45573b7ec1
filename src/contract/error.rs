//! The error body an RP returns with a 4xx/5xx status (`ResourceProviderError`, spec §5).

use super::codec::{ContractError, FromWire, Node, Out, ToWire, read_items};

/// A WAP `Error`: a code, a message and optional detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WapError {
    /// A short machine-readable code (`BadRequest`, `NotFound`, ...).
    pub code: String,
    /// The message shown to the admin or tenant.
    pub message: String,
    /// A finer-grained code.
    pub extended_code: Option<String>,
    /// The message with placeholders for `parameters`.
    pub message_template: Option<String>,
    /// The values of the template's placeholders.
    pub parameters: Option<Vec<String>>,
    /// Errors that caused this one.
    pub inner_errors: Option<Vec<WapError>>,
}

impl WapError {
    /// An error with a code and a message and no detail.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            extended_code: None,
            message_template: None,
            parameters: None,
            inner_errors: None,
        }
    }
}

impl FromWire for WapError {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let inner_errors = node
            .get(&["InnerErrors"])
            .map(|list| read_items(list).map_err(|e| e.within("InnerErrors")))
            .transpose()?;
        Ok(Self {
            code: node.str_or_empty(&["Code"])?,
            message: node.str_or_empty(&["Message"])?,
            extended_code: node.optional_str(&["ExtendedCode"])?,
            message_template: node.optional_str(&["MessageTemplate"])?,
            parameters: node.optional_string_list(&["Parameters"])?,
            inner_errors,
        })
    }
}

impl ToWire for WapError {
    const XML_ROOT: &'static str = "Error";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("Code", Out::Str(self.code.clone())),
            ("Message", Out::Str(self.message.clone())),
            ("ExtendedCode", Out::opt_str(&self.extended_code)),
            ("MessageTemplate", Out::opt_str(&self.message_template)),
            (
                "Parameters",
                self.parameters.clone().map_or(Out::Null, Out::StrList),
            ),
            (
                "InnerErrors",
                self.inner_errors
                    .as_ref()
                    .map_or(Out::Null, |errors| Out::List {
                        item: "Error",
                        items: errors.iter().map(ToWire::to_wire).collect(),
                    }),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Format, decode, encode};

    #[test]
    fn an_error_with_parameters_and_inner_errors_survives_both_formats() {
        let mut error = WapError::new("QuotaExceeded", "Too many VMs.");
        error.extended_code = Some("DR-0001".into());
        error.message_template = Some("Too many {0}.".into());
        error.parameters = Some(vec!["VMs".into()]);
        error.inner_errors = Some(vec![WapError::new("Inner", "cause")]);
        for format in [Format::Json, Format::Xml] {
            let body = encode(format, &error);
            assert_eq!(decode::<WapError>(format, &body), Ok(error.clone()));
        }
    }

    #[test]
    fn empty_lists_stay_distinct_from_absent_ones() {
        let mut error = WapError::new("A", "b");
        error.parameters = Some(Vec::new());
        error.inner_errors = Some(Vec::new());
        for format in [Format::Json, Format::Xml] {
            let read = decode::<WapError>(format, &encode(format, &error)).unwrap();
            assert_eq!(read.parameters, Some(Vec::new()));
            assert_eq!(read.inner_errors, Some(Vec::new()));
        }
    }
}
