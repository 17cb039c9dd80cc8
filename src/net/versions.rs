//! API versions: the ranges a broker advertises in ApiVersions, the ones
//! this client uses, and the version both sides support.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::protocol::Request;

/// The API version ranges a broker advertised in ApiVersions.
#[derive(Clone, Debug, Default)]
pub struct ApiVersionRanges {
    ranges: HashMap<i16, (i16, i16)>,
}

impl ApiVersionRanges {
    /// Builds the table from `(api_key, min, max)` triples.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        ApiVersionRanges {
            ranges: ranges
                .into_iter()
                .map(|(k, lo, hi)| (k, (lo, hi)))
                .collect(),
        }
    }

    /// The broker's range for an API key.
    pub fn get(&self, api_key: i16) -> Option<(i16, i16)> {
        self.ranges.get(&api_key).copied()
    }

    /// The highest version of `R` both sides support: min(ours, theirs), or an
    /// error naming the API, the broker's range and ours.
    pub fn pick<R: Request>(&self, broker: &str) -> Result<i16> {
        let (our_lo, our_hi) = client_range::<R>();
        let unsupported = |theirs| Error::UnsupportedVersion {
            api: R::NAME,
            broker: broker.to_string(),
            broker_range: theirs,
            client_range: (our_lo, our_hi),
        };
        let (lo, hi) = self.get(R::API_KEY).ok_or_else(|| unsupported(None))?;
        let v = our_hi.min(hi);
        if v < our_lo.max(lo) {
            return Err(unsupported(Some((lo, hi))));
        }
        Ok(v)
    }
}

/// The versions of `R` this client uses. Produce needs v3+ because record
/// batches (message format v2) start there; everything else uses the whole
/// generated range.
pub fn client_range<R: Request>() -> (i16, i16) {
    match R::API_KEY {
        0 => (3.max(R::MIN_VERSION), R::MAX_VERSION),
        _ => (R::MIN_VERSION, R::MAX_VERSION),
    }
}
